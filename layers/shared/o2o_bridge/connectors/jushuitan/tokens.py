"""The tenant's JST access token: where the current one lives and how it is renewed (§2).

Every Lambda reads the current token from StateTable (``TOKEN#<ent_id>`` / ``CURRENT``),
falling back to the tokens in the tenant file. Renewal is guarded twice, because JST may
invalidate a token when another refresh is made (§8: unknown):
- a lease (``TOKEN#<ent_id>`` / ``LEASE``) longer than the refresh call can take: one container
  refreshes, the others wait for the stored token to change and use it, and give up
  transiently rather than refresh beside a slow holder; a lease left by a vanished holder is
  claimed (conditionally: by one waiter) once it ran out;
- a version condition on the write: if two refreshes still happen (a lease expired), the
  first write wins and the other adopts the stored token instead of overwriting it.

The access and refresh tokens are stored encrypted with the stack's KMS key (``TokenKey``),
bound to their tenant by the encryption context: StateTable never holds them in clear, and a
ciphertext copied to another tenant's item does not decrypt.
"""

from __future__ import annotations

import secrets as _random
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class TokenRecord:
    access_token: str
    refresh_token: str | None
    expires_at: float | None  # epoch seconds; None when unknown (a token from the tenant file)
    obtained_at: float
    version: int = 0  # 0 = not stored yet


class TokenStore(Protocol):
    def load(self, ent_id: str) -> TokenRecord | None: ...

    def claim_refresh(self, ent_id: str, holder: str, now: float, seconds: float) -> bool:
        """Take the refresh lease unless another holder's lease is still running."""

    def save(self, ent_id: str, record: TokenRecord, expected_version: int) -> bool:
        """Store ``record`` as version expected_version + 1 if the stored one is still
        ``expected_version`` (0 = none stored); False when someone else wrote first."""


class InMemoryTokenStore:
    def __init__(self) -> None:
        self.records: dict[str, TokenRecord] = {}
        self.leases: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def claim_refresh(self, ent_id: str, holder: str, now: float, seconds: float) -> bool:
        with self._lock:
            current = self.leases.get(ent_id)
            if current and current[0] != holder and current[1] > now:
                return False
            self.leases[ent_id] = (holder, now + seconds)
            return True

    def load(self, ent_id: str) -> TokenRecord | None:
        return self.records.get(ent_id)

    def save(self, ent_id: str, record: TokenRecord, expected_version: int) -> bool:
        with self._lock:
            current = self.records.get(ent_id)
            if (current.version if current else 0) != expected_version:
                return False
            self.records[ent_id] = replace(record, version=expected_version + 1)
            return True


class TokenCipher(Protocol):
    def encrypt(self, plaintext: str, ent_id: str) -> bytes: ...
    def decrypt(self, ciphertext: bytes, ent_id: str) -> str: ...


class KmsTokenCipher:
    """KMS Encrypt / Decrypt under one key, the tenant in the encryption context; a decrypted
    value is cached by its ciphertext so a warm container asks KMS once per token."""

    def __init__(self, client: Any, key_id: str) -> None:
        self.client = client
        self.key_id = key_id
        self._plain: dict[bytes, str] = {}

    @staticmethod
    def _context(ent_id: str) -> dict[str, str]:
        return {"o2o:purpose": "jst-token", "o2o:ent_id": ent_id}

    def encrypt(self, plaintext: str, ent_id: str) -> bytes:
        blob = self.client.encrypt(KeyId=self.key_id, Plaintext=plaintext.encode("utf-8"),
                                   EncryptionContext=self._context(ent_id))["CiphertextBlob"]
        self._plain[blob] = plaintext
        return blob

    def decrypt(self, ciphertext: bytes, ent_id: str) -> str:
        if ciphertext not in self._plain:
            self._plain[ciphertext] = self.client.decrypt(
                CiphertextBlob=ciphertext, EncryptionContext=self._context(ent_id))["Plaintext"].decode("utf-8")
        return self._plain[ciphertext]


class DynamoTokenStore:
    """TOKEN#<ent_id> / CURRENT in StateTable, the tokens encrypted by ``cipher`` (KMS)."""

    def __init__(self, client: Any, table: str, cipher: TokenCipher) -> None:
        self.client = client
        self.table = table
        self.cipher = cipher

    @staticmethod
    def _key(ent_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"TOKEN#{ent_id}"}, "sk": {"S": "CURRENT"}}

    def forget(self, ent_id: str) -> bool:
        """Drop the stored token (and any refresh lease), so the tenant file's tokens are used
        again: after the merchant re-authorised the app. True if there was one."""
        answer = self.client.delete_item(TableName=self.table, Key=self._key(ent_id), ReturnValues="ALL_OLD")
        self.client.delete_item(TableName=self.table, Key={"pk": {"S": f"TOKEN#{ent_id}"}, "sk": {"S": "LEASE"}})
        return bool(answer.get("Attributes"))

    def load(self, ent_id: str) -> TokenRecord | None:
        item = self.client.get_item(TableName=self.table, Key=self._key(ent_id), ConsistentRead=True).get("Item")
        if not item:
            return None
        if "access_token_enc" not in item:  # stored in clear before tokens were encrypted
            return self._encrypt_legacy(ent_id, item)
        refresh = item.get("refresh_token_enc", {}).get("B")
        return TokenRecord(
            access_token=self.cipher.decrypt(item["access_token_enc"]["B"], ent_id),
            refresh_token=self.cipher.decrypt(refresh, ent_id) if refresh else None,
            expires_at=float(item["expires_at_epoch"]["N"]) if "expires_at_epoch" in item else None,
            obtained_at=float(item["obtained_at"]["N"]),
            version=int(item["version"]["N"]),
        )

    def _encrypt_legacy(self, ent_id: str, item: dict[str, Any]) -> TokenRecord:
        record = TokenRecord(
            access_token=item["access_token"]["S"],
            refresh_token=item.get("refresh_token", {}).get("S"),
            expires_at=float(item["expires_at_epoch"]["N"]) if "expires_at_epoch" in item else None,
            obtained_at=float(item["obtained_at"]["N"]),
        )
        version = int(item["version"]["N"])
        # Rewritten encrypted at once (same tokens, next version); if another container wins, reread.
        if self.save(ent_id, record, version):
            return replace(record, version=version + 1)
        return self.load(ent_id) or replace(record, version=version)

    def claim_refresh(self, ent_id: str, holder: str, now: float, seconds: float) -> bool:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={"pk": {"S": f"TOKEN#{ent_id}"}, "sk": {"S": "LEASE"}, "holder": {"S": holder},
                      "lease_until": {"N": repr(now + seconds)}, "expires_at": {"N": str(int(now + seconds) + 3600)}},
                ConditionExpression="attribute_not_exists(pk) OR lease_until < :now OR holder = :me",
                ExpressionAttributeValues={":now": {"N": repr(now)}, ":me": {"S": holder}},
            )
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise

    def save(self, ent_id: str, record: TokenRecord, expected_version: int) -> bool:
        item: dict[str, Any] = {
            **self._key(ent_id),
            "access_token_enc": {"B": self.cipher.encrypt(record.access_token, ent_id)},
            "obtained_at": {"N": repr(record.obtained_at)},
            "version": {"N": str(expected_version + 1)},
        }
        if record.refresh_token:
            item["refresh_token_enc"] = {"B": self.cipher.encrypt(record.refresh_token, ent_id)}
        if record.expires_at is not None:
            item["expires_at_epoch"] = {"N": repr(record.expires_at)}
        condition = "attribute_not_exists(pk)" if expected_version == 0 else "version = :v"
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": item, "ConditionExpression": condition}
        if expected_version:
            kwargs["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        try:
            self.client.put_item(**kwargs)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise


@dataclass(frozen=True)
class TokenPolicy:
    """When to renew. IEU renews 24 h before ``expires_in`` runs out; a short-lived token is
    renewed at half its life instead so it is not refreshed on every call."""

    refresh_ahead_seconds: float = 24 * 3600
    # How long one container holds the refresh lease. It must outlast the refresh itself, or a
    # second container refreshes too (and JST may then invalidate the first new token): the
    # refresh is one HTTP call, which JstClient gives up after 5 s to connect and 15 s per read
    # or write, after its rate limiter lets it go; 60 s covers that with room to spare.
    lease_seconds: float = 60.0
    # How long a caller waits for another container's refresh before it gives up transiently
    # (its step is retried) — it never refreshes while that lease runs.
    wait_for_other_refresh_seconds: float = 20.0
    # §1/§8: dev-api may want /openWebIsv; production uses /openWeb.
    auth_path_prefix: str = "/openWeb"
    init_grant_type: str = "authorization_code"  # KOCO sends refresh_token; IEU/JSTAN/ZMOYI this

    def renew_at(self, record: TokenRecord) -> float | None:
        if record.expires_at is None:
            return None
        lifetime = max(record.expires_at - record.obtained_at, 0)
        return record.expires_at - min(self.refresh_ahead_seconds, lifetime / 2)


class TokenIssuer(Protocol):
    """The HTTP side of tokens (JstClient implements it): returns (access, refresh, expires_in)."""

    def fetch_init_token(self, code: str) -> tuple[str, str | None, float | None]: ...
    def fetch_refreshed_token(self, refresh_token: str) -> tuple[str, str | None, float | None]: ...


TOKEN_REREAD_SECONDS = 300.0


class TokenManager:
    """The current token for one tenant, renewed ahead of expiry or when JST says code 100."""

    def __init__(self, ent_id: str, store: TokenStore, issuer: TokenIssuer, *, seed_access_token: str | None,
                 seed_refresh_token: str | None, policy: TokenPolicy = TokenPolicy(),
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self.ent_id = ent_id
        self.sleep = sleep
        self.holder = _random.token_hex(8)  # this container
        self.store = store
        self.issuer = issuer
        self.seed_access_token = seed_access_token
        self.seed_refresh_token = seed_refresh_token
        self.policy = policy
        self.clock = clock
        self._lock = threading.Lock()
        # The stored token as this container last read or wrote it, and when. A token lives for
        # days and is renewed a day ahead, so it is read again only every few minutes, not per
        # call: a token another container renewed meanwhile is caught by JST's code 100, after
        # which ``after_token_rejected`` reads the store again.
        self._known: tuple[float, TokenRecord] | None = None

    def _current(self, *, cached: bool = False) -> TokenRecord | None:
        if cached and self._known is not None and self.clock() - self._known[0] < TOKEN_REREAD_SECONDS:
            return self._known[1]
        stored = self.store.load(self.ent_id)
        if stored is None and self.seed_access_token:  # none stored yet: the tenant file's
            stored = TokenRecord(self.seed_access_token, self.seed_refresh_token, None, 0.0, version=0)
        self._known = (self.clock(), stored) if stored is not None else None
        return stored

    def access_token(self) -> str:
        """A token to call with: the stored one, renewed first if it is near its expiry."""
        with self._lock:
            record = self._current(cached=True)
            if record is None:
                return self._install(None, *self.issuer.fetch_init_token(_six_random_chars())).access_token
            renew_at = self.policy.renew_at(record)
            if renew_at is not None and self.clock() >= renew_at and record.refresh_token:
                renewed = self._renew(record)
                self._known = (self.clock(), renewed)
                return renewed.access_token
            return record.access_token

    def after_token_rejected(self, rejected_token: str) -> str:
        """JST said code 100 for ``rejected_token``: the token to retry with (raises if none)."""
        with self._lock:
            record = self._current()
            if record is not None and record.access_token != rejected_token:
                return record.access_token  # another container already renewed it
            if record is None or not record.refresh_token:
                return self._install(record, *self.issuer.fetch_init_token(_six_random_chars())).access_token
            renewed = self._renew(record)
            self._known = (self.clock(), renewed)
            return renewed.access_token

    def _renew(self, record: TokenRecord) -> TokenRecord:
        """Refresh under the lease; while another container holds it, wait for its new token.

        Only the lease holder refreshes. A caller that cannot get the lease polls the stored token
        and the lease: the holder's new token is adopted; a lease that ran out (its holder is gone)
        is claimed, conditionally, so one waiter refreshes; after ``wait_for_other_refresh_seconds``
        the caller gives up with a transient error instead of refreshing beside a slow holder."""
        from .errors import JstTransientError

        assert record.refresh_token
        deadline = self.clock() + self.policy.wait_for_other_refresh_seconds
        while True:
            if self.store.claim_refresh(self.ent_id, self.holder, self.clock(), self.policy.lease_seconds):
                # The previous holder may have stored its token just before its lease ended.
                current = self.store.load(self.ent_id)
                if current is not None and current.access_token != record.access_token:
                    return current
                return self._install(record, *self.issuer.fetch_refreshed_token(record.refresh_token))
            newer = self._wait_for_newer(record, until=min(deadline, self.clock() + 1.0))
            if newer is not None:
                return newer
            if self.clock() >= deadline:
                raise JstTransientError(f"another container is renewing tenant {self.ent_id}'s JST token; "
                                        "try again shortly", retry_after_seconds=self.policy.lease_seconds)

    def _wait_for_newer(self, record: TokenRecord, *, until: float) -> TokenRecord | None:
        while self.clock() < until:
            self.sleep(0.2)
            current = self.store.load(self.ent_id)
            if current is not None and current.access_token != record.access_token:
                return current
        return None

    def _install(self, previous: TokenRecord | None, access: str, refresh: str | None,
                 expires_in: float | None) -> TokenRecord:
        now = self.clock()
        fresh = TokenRecord(
            access_token=access,
            refresh_token=refresh or (previous.refresh_token if previous else None),
            expires_at=now + expires_in if expires_in else None,
            obtained_at=now,
        )
        expected = previous.version if previous else 0
        if self.store.save(self.ent_id, fresh, expected):
            installed = replace(fresh, version=expected + 1)
        else:
            winner = self.store.load(self.ent_id)
            installed = winner if winner is not None else fresh
        self._known = (self.clock(), installed)
        return installed


def _six_random_chars() -> str:
    # A self-built (商家自研) app sends any random 6-character code to getInitToken (§2).
    return _random.token_hex(3)
