"""The tenant: one 店+ merchant (entId) with its JST app, store system and mappings.

This is the tenant file of operations-contract.md as a pydantic v2 model. Secrets are
given inline (local use) or as a Secrets Manager reference in the sibling ``*_ref`` key;
unknown keys are refused so a typo in a tenant file is reported, not ignored.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .stock_formula import FormulaError, StockFormula

if TYPE_CHECKING:
    from .ports import SecretResolver

SecretRef = Annotated[
    str,
    Field(
        pattern=r"^secretsmanager:[A-Za-z0-9/_+=.@-]+(#[A-Za-z0-9_.-]+)?$",
        description="secretsmanager:NAME, or secretsmanager:NAME#json_key for one key of a JSON secret",
    ),
]
def _http_url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


Url = Annotated[str, AfterValidator(_http_url)]
PositiveInt = Annotated[int, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def _validate_with(handler, data: Any, problems: list[tuple[tuple[str, ...], str]]):
    """Run pydantic's own validation and report ``problems`` together with its errors.

    An "after" model validator never runs when a field already failed, so a tenant file
    with a typo would hide its other mistakes; checks on the raw document run first and
    are merged here so ``tenant put`` lists every error at once.
    """
    extra = [
        {"type": PydanticCustomError("tenant_rule", message), "loc": loc, "input": data} for loc, message in problems
    ]
    try:
        model = handler(data)
    except ValidationError as exc:
        raise ValidationError.from_exception_data(
            exc.title,
            [{"type": PydanticCustomError(e["type"], e["msg"]), "loc": e["loc"], "input": e["input"]}
             for e in exc.errors(include_url=False)] + extra,
        ) from None
    if extra:
        raise ValidationError.from_exception_data(type(model).__name__, extra)
    return model


class _WithSecrets(_Strict):
    """A section whose secrets come inline or as ``<name>_ref``; ``_required_secrets`` must have one."""

    _required_secrets: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="wrap")
    @classmethod
    def _one_source_per_secret(cls, data: Any, handler):
        problems = []
        if isinstance(data, dict):
            for name in cls.model_fields:
                if name.endswith("_ref") or f"{name}_ref" not in cls.model_fields:
                    continue
                inline, ref = data.get(name), data.get(f"{name}_ref")
                if inline is not None and ref is not None:
                    problems.append(((name,), f"give {name} or {name}_ref, not both"))
                elif inline is None and ref is None and name in cls._required_secrets:
                    problems.append(((name,), f"required: give {name} inline or {name}_ref: secretsmanager:NAME"))
        return _validate_with(handler, data, problems)

    def secret_source(self, name: str) -> SecretStr | str | None:
        """The inline SecretStr, the reference string, or None when the secret is not set."""
        inline = getattr(self, name)
        return inline if inline is not None else getattr(self, f"{name}_ref")

    def reveal(self, name: str, resolver: "SecretResolver") -> str | None:
        """The secret's value: inline, or read through ``resolver`` from its reference."""
        source = self.secret_source(name)
        if isinstance(source, SecretStr):
            return source.get_secret_value()
        return resolver.resolve(source) if source else None


class CallbackAuth(_WithSecrets):
    """How JST pushes to our callback URLs are authenticated (pos-contract.md)."""

    partner_key: SecretStr | None = None
    partner_key_ref: SecretRef | None = None
    token: SecretStr | None = None
    token_ref: SecretRef | None = None
    # Only an explicit opt-in accepts unauthenticated pushes.
    allow_unsigned: bool = False

    @model_validator(mode="after")
    def _some_authentication(self):
        if not (self.secret_source("partner_key") or self.secret_source("token") or self.allow_unsigned):
            raise ValueError("set partner_key or token (inline or *_ref), or opt out explicitly with allow_unsigned: true")
        return self


class RateLimit(_Strict):
    per_second: PositiveInt = 5
    per_minute: PositiveInt = 100
    # JST does not document how it counts: "sliding" never exceeds the limit in any 1 s / 60 s
    # interval; "fixed" counts calendar seconds and minutes (cheaper, but up to 2x per_second
    # in a sliding second across a boundary). See docs/jst-rate-limits.md.
    counting: Literal["sliding", "fixed"] = "sliding"
    # Sliding only: each window is counted this much longer, to absorb latency differences
    # between grant and call and clock skew between Lambdas. 500 ms already costs a third of
    # the per-second rate.
    margin_ms: Annotated[int, Field(ge=0, le=500)] = 50


class JushuitanConfig(_WithSecrets):
    _required_secrets: ClassVar[tuple[str, ...]] = ("app_secret",)

    base_url: Url = "https://openapi.jushuitan.com"
    app_key: Annotated[str, Field(min_length=1)]
    app_secret: SecretStr | None = None
    app_secret_ref: SecretRef | None = None
    access_token: SecretStr | None = None
    access_token_ref: SecretRef | None = None
    refresh_token: SecretStr | None = None
    refresh_token_ref: SecretRef | None = None
    callback: CallbackAuth
    offline_wms_co_id: PositiveInt
    main_wms_co_id: PositiveInt
    return_wms_co_id: PositiveInt | None = None
    self_mall_shop_id: PositiveInt
    rate_limit: RateLimit = RateLimit()


class PosConfig(_WithSecrets):
    _required_secrets: ClassVar[tuple[str, ...]] = ("api_key", "webhook_secret")

    base_url: Url
    api_key: SecretStr | None = None
    api_key_ref: SecretRef | None = None
    webhook_secret: SecretStr | None = None
    webhook_secret_ref: SecretRef | None = None


class Store(_Strict):
    code: Annotated[str, Field(min_length=1)]
    name: str
    regions: list[str] = []
    priority: int = 100
    daily_capacity: PositiveInt | None = None
    ship: bool = True
    pickup: bool = False
    safety_stock: Annotated[int, Field(ge=0)] | None = None
    # S4: this store's stock counts into the JST 店加线下仓 (offline_wms_co_id).
    feeds_offline: bool = True


class RoutingOptions(_Strict):
    """How S1 picks a store for an online order (route_outbound in flows/routing.py)."""

    # JST logistics code confirmed for a store pickup (门店自提): no tracking number is sent.
    pickup_lc_id: str | None = None
    # An outbound carrying this JST label is a pickup order; only pickup stores serve it.
    pickup_label: str = "门店自提"
    # 指定下单店仓: the store that takes an order no store passes the filters for.
    fallback_store: str | None = None
    # Candidates are ranked by these keys in turn: priority (lower first), stock (more
    # left after the order first).
    order_by: list[Literal["priority", "stock"]] = ["priority", "stock"]
    # Read each candidate's stock (P7) before routing to it.
    check_stock: bool = True
    # An order still being routed or dispatched after this long (its retries gave up or keep
    # failing) is listed by `o2o exceptions list` so an operator can re-route it.
    stuck_after_minutes: PositiveInt = 30


class WarehouseMapping(_Strict):
    jst_wms_co_id: PositiveInt
    pos_warehouse_code: Annotated[str, Field(min_length=1)]

    @field_validator("pos_warehouse_code", mode="before")
    @classmethod
    def _code_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class LogisticsMapping(_Strict):
    jst_lc_id: Annotated[str, Field(min_length=1)]
    pos_code: Annotated[str, Field(min_length=1)]
    name: str


class StockOptions(_Strict):
    master: Literal["pos", "erp"] = "pos"
    formula: str = "qty"
    safety_stock: Annotated[int, Field(ge=0)] = 0
    # S4: store events within this many seconds go to JST as one upload (SQS delay, ≤ 900).
    coalesce_seconds: Annotated[int, Field(ge=0, le=900)] = 30

    @field_validator("formula")
    @classmethod
    def _formula_parses(cls, text: str) -> str:
        try:
            StockFormula(text)
        except FormulaError as exc:
            raise ValueError(str(exc)) from None
        return text


class ProductOptions(_Strict):
    auto_create: bool = True
    pull_spu: bool = False
    sync_sale_price: bool = True
    only_label: str | None = None
    category_once: bool = False
    mount_category: str | None = None
    spec_template: str | None = None
    attribute_fields: dict[str, Annotated[str, Field(pattern=r"^other_([1-9]|10)$")]] = {}


class Tenant(_Strict):
    ent_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    name: Annotated[str, Field(min_length=1)]
    # Which connectors serve the tenant (o2o_bridge/wiring.py): its ERP, and who ships its
    # store orders, 配货 and 退仓 and holds the warehouse stock (``erp``: the ERP's own warehouse).
    erp: Literal["jushuitan", "wangdiantong"] = "jushuitan"
    warehouse: Literal["erp", "qimen"] = "erp"
    jushuitan: JushuitanConfig
    pos: PosConfig
    stores: list[Store] = []
    warehouses: list[WarehouseMapping] = []
    logistics: list[LogisticsMapping] = []
    stock: StockOptions = StockOptions()
    products: ProductOptions = ProductOptions()
    routing: RoutingOptions = RoutingOptions()

    @field_validator("ent_id", mode="before")
    @classmethod
    def _ent_id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="wrap")
    @classmethod
    def _unique_keys(cls, data: Any, handler):
        problems = []
        if isinstance(data, dict):
            for section, key in (
                ("stores", "code"),
                ("warehouses", "jst_wms_co_id"),
                ("warehouses", "pos_warehouse_code"),
                ("logistics", "jst_lc_id"),
            ):
                rows = data.get(section)
                keys = [str(row.get(key)) for row in rows if isinstance(row, dict) and row.get(key) is not None] if isinstance(rows, list) else []
                repeated = sorted({k for k in keys if keys.count(k) > 1})
                if repeated:
                    problems.append(((section,), f"{key} must be unique; repeated: {', '.join(repeated)}"))
            routing, stores = data.get("routing"), data.get("stores")
            fallback = routing.get("fallback_store") if isinstance(routing, dict) else None
            codes = {str(s.get("code")) for s in stores if isinstance(s, dict)} if isinstance(stores, list) else set()
            # A tenant still without stores routes nothing; `tenant doctor` reports that on its own.
            if fallback is not None and codes and str(fallback) not in codes:
                problems.append((("routing", "fallback_store"), f"{fallback} is not one of the tenant's stores"))
        return _validate_with(handler, data, problems)

    # Storage keeps the real secret values (the table is encrypted); display masks them.
    def to_storage(self) -> dict[str, Any]:
        return _reveal(self.model_dump(mode="python", exclude_none=True))

    def to_display(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def inline_secrets(self) -> list[str]:
        """Every inline secret value, so error text can be scrubbed of them."""
        found: list[str] = []
        _collect_secrets(self, found)
        return found


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def _collect_secrets(model: BaseModel, found: list[str]) -> None:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            _collect_secrets(value, found)


def validation_messages(error: ValidationError) -> list[str]:
    """One ``key.path[0].name: message`` line per problem in a tenant file."""
    lines = []
    for item in error.errors(include_url=False):
        path = ""
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (typo?)"
        lines.append(f"{path or '(top level)'}: {message}")
    return lines


def parse_tenant(data: Any) -> Tenant:
    """Validate a tenant document; raises ValidationError (see ``validation_messages``)."""
    return Tenant.model_validate(data)


class TenantRepository(Protocol):
    """Where tenants are kept (connectors/aws: StateTable; tests: in memory)."""

    def get(self, ent_id: str) -> Tenant | None: ...
    def put(self, tenant: Tenant) -> None: ...
    def list_ids(self) -> list[str]: ...
