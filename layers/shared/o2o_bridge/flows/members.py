"""Member merge, phase 1: one profile per person across the store system and the online shops.

Sources: the store system's members (``member.updated``) and the online buyers of the orders
the bridge dispatches to stores (S1). The cleaning rules, in order:

1. A mobile number is normalised (``+86`` / ``0086`` / ``86`` prefixes, spaces and dashes
   dropped) and must then be 11 digits starting with 1. A record without one (a landline, a
   masked number such as ``138****8000``) is not merged: it stays the member it is.
2. The same normalised mobile number is the same person: its store members and its online
   buyer records become one profile (key: the tenant's keyed hash of the number).
3. The profile's member id is the first store member seen for the number; the other store
   members of the number are listed in ``merged_from`` (the store system merges them).
4. The name is the most recently updated store member's; an online receiver's name is never
   used (it is often someone receiving a gift).
5. A store member whose number changes leaves the old number's profile (which is sent again
   without it) and joins the new one.
6. Channels: ``store`` with each store member id, and ``online:<shop_id>`` for each online shop
   the person bought from (its external id is the hashed identity; the bridge keeps no buyer
   account). Points stay per channel: the profile carries no points.

A profile with at least one store member is sent to the store system (P14), once per change of
what it says. A person known only online is kept (their spending shows in the report) but not
sent: phase 1 creates no store members.

Personal data: the profile record (encrypted at rest in the state table) holds the mobile number
and name because P14 needs them; timelines, logs and the ledger hold only the hashed identity.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from ..errors import PermanentError, TransientError
from ..ledger import Fact, hash_identity, mobile_hash, normalise_mobile
from . import kit

if TYPE_CHECKING:
    from .kit import FlowContext

PROFILE_KIND = "member.profile"  # key: the mobile hash
MEMBER_KIND = "member.id"        # key: a store member id -> {"person": mobile hash, "sent": profile version}
# In a profile: until when the worker that wrote this version is sending it (P14), so no other does.
SENDING = "sending_until"


def person_of_member(ctx: "FlowContext", member_id: str) -> str | None:
    record = ctx.records.get(ctx.ent_id, MEMBER_KIND, member_id)
    return record.data.get("person") if record else None


def member_identity(ctx: "FlowContext", member_id: str | None, mobile: str | None) -> str | None:
    """The hashed identity a sale's member is counted under (its mobile, else its merged
    profile, else the member id itself)."""
    by_mobile = mobile_hash(ctx.ent_id, mobile)
    if by_mobile:
        return by_mobile
    if member_id:
        return person_of_member(ctx, member_id) or hash_identity(ctx.ent_id, "member", member_id)
    return None


def _change(ctx: "FlowContext", person: str, change) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    for _ in range(20):
        current = ctx.records.get(ctx.ent_id, PROFILE_KIND, person)
        before = _readable(person, current.data) if current else None
        # A version's "being sent" is its own: a change makes a version that nobody is sending yet.
        base = {k: v for k, v in before.items() if k != SENDING} if before else None
        after = change(dict(base) if base else None)
        if after is None or after == base:
            return before, before
        if ctx.records.put(ctx.ent_id, PROFILE_KIND, person, after,
                           expected_version=current.version if current else None):
            return before, after
    raise kit.EffectInProgress(f"member profile {person[:8]}… kept changing; try again")


PROFILE_FIELDS = {"mobile": str, "store_members": dict, "member_order": list, "online": dict}


def _readable(person: str, data: dict[str, Any]) -> dict[str, Any]:
    """The profile record as the merge reads it; PermanentError when it lacks what the merge
    needs (a record of an older shape, or written by a bug): it is never guessed at."""
    wrong = [name for name, kind in PROFILE_FIELDS.items() if not isinstance(data.get(name), kind)]
    if wrong:
        raise PermanentError(f"member profile {person[:12]}… cannot be read: {', '.join(wrong)} missing or malformed")
    return dict(data)


def _empty(mobile: str) -> dict[str, Any]:
    return {"mobile": mobile, "name": None, "name_at": None, "store_members": {}, "member_order": [],
            "online": {}}


def on_member_updated(event, ctx: "FlowContext") -> None:
    """``member.updated``: merge the store member into its person's profile and send it (P14).
    A member whose profile cannot be read, or whose profile the store refuses, is set aside
    (parked with the reason: `o2o dlq list`, `o2o dlq replay`) and the event is taken."""
    data = event.data
    member_id = str(data.member_id)
    mobile = normalise_mobile(data.mobile)
    person = mobile_hash(ctx.ent_id, mobile) if mobile else None
    if person is not None and _merged_and_sent(ctx, member_id, person, data.updated_at.isoformat()):
        return  # a repeat of an update already merged and sent: nothing written (its fact was before)
    ctx.ledger.append(Fact(ctx.ent_id, "member.updated", f"member:{member_id}:{data.updated_at.isoformat()}",
                           data.updated_at, store_code=data.store_code, doc_no=member_id,
                           member_hash=person or hash_identity(ctx.ent_id, "member", member_id)))
    if person is None:
        ctx.timeline.record(f"member:{member_id}", ctx.ent_id, "member.not_merged",
                            {"why": "no usable mobile number (rule 1)"}, level="warning")
        return
    payload = {"member_id": member_id, "mobile": mobile, "name": data.name, "store_code": data.store_code,
               "updated_at": data.updated_at.isoformat()}
    try:
        merge_member(ctx, payload)
    except PermanentError as exc:  # e.g. a profile record that cannot be read: this member waits aside
        kit.set_aside(ctx, merge_member, payload, trace_key=f"member:{member_id}", error=exc)


def _merged_and_sent(ctx: "FlowContext", member_id: str, person: str, updated_at: str) -> bool:
    """Whether this member's update (or a later one) is in the person's profile and the version it
    made was sent: the member's pointer says so (written with that P14's "done"). Later versions
    (other members merged since) are their writers' to send, or their events' reruns'. Read with the
    profile in one request, the one merge_member makes anyway."""
    ctx.records.prefetch(ctx.ent_id, [(MEMBER_KIND, member_id), (PROFILE_KIND, person)])
    known = ctx.records.get(ctx.ent_id, MEMBER_KIND, member_id)
    profile = ctx.records.get(ctx.ent_id, PROFILE_KIND, person)
    if known is None or profile is None or known.data.get("person") != person or "sent" not in known.data:
        return False
    merged = (profile.data.get("store_members") or {}).get(member_id)
    return isinstance(merged, dict) and str(merged.get("updated_at", "")) >= updated_at


@kit.flow_command("members.merge_member")
def merge_member(ctx: "FlowContext", payload: dict[str, Any]) -> None:
    """A store member merged into the profile of its (normalised) mobile number, and sent."""
    member_id, mobile, updated_at = payload["member_id"], payload["mobile"], payload["updated_at"]
    name, store_code = payload.get("name"), payload.get("store_code")
    person = mobile_hash(ctx.ent_id, mobile)
    # The member's link and its person's profile, both read below, in one request.
    ctx.records.prefetch(ctx.ent_id, [(MEMBER_KIND, member_id), (PROFILE_KIND, person)])
    previous = person_of_member(ctx, member_id)
    lease_until = (ctx.now() + timedelta(seconds=kit.lease_seconds_for(ctx))).isoformat()

    def merge(profile):
        profile = profile or _empty(mobile)
        members = dict(profile["store_members"])
        known = members.get(member_id)
        if known and known["updated_at"] >= updated_at:
            return None  # an older or repeated update
        members[member_id] = {"store_code": store_code, "name": name, "updated_at": updated_at}
        order = list(profile["member_order"]) + ([member_id] if member_id not in profile["member_order"] else [])
        changed = {**profile, "store_members": members, "member_order": order}
        if profile.get("name_at") is None or updated_at >= profile["name_at"]:
            changed.update(name=name, name_at=updated_at)
        # This worker sends the version it writes (P14): until then no other sends it (put_profile).
        changed[SENDING] = lease_until
        return changed

    before, after = _change(ctx, person, merge)
    if after is before and _merged_and_sent(ctx, member_id, person, updated_at):
        return  # an older or repeated update, sent already (a retry of this step)
    if previous and previous != person:  # rule 5: the member changed its number
        def leave(profile):
            if profile is None or member_id not in profile["store_members"]:
                return None
            members = {k: v for k, v in profile["store_members"].items() if k != member_id}
            return {**profile, "store_members": members,
                    "member_order": [m for m in profile["member_order"] if m != member_id]}

        _, left = _change(ctx, previous, leave)
        if left:
            send_profile(ctx, previous)
    # The member's pointer moves last: until it does, a repeat of this update (after a crash) still
    # finds the old number's profile and takes the member out of it.
    known = ctx.records.get(ctx.ent_id, MEMBER_KIND, member_id)
    if after is before:
        if known is None or known.data.get("person") != person:
            ctx.records.put(ctx.ent_id, MEMBER_KIND, member_id, {"person": person},
                            expected_version=known.version if known else None)
        send_profile(ctx, person)
        return
    written = ctx.records.get(ctx.ent_id, PROFILE_KIND, person)  # the version just written (no request)

    def book(sent: bool) -> None:
        # With the "done": the pointer, which also says which version of the profile it was sent in
        # (a repeat of the event then reads that, with the profile, and stops), and the steps.
        ctx.records.put(ctx.ent_id, MEMBER_KIND, member_id,
                        {"person": person, **({"sent": written.version} if sent else {})},
                        expected_version=known.version if known else None)
        ctx.timeline.record(f"member:{member_id}", ctx.ent_id, "member.merged",
                            {"person": person, "members": after["member_order"], "channels": len(_channels(after))})

    _send_written(ctx, person, written, book)


def note_online_buyer(ctx: "FlowContext", order: dict[str, Any]) -> None:
    """An online order's buyer (receiver mobile, shop) joins their person's profile (rule 6)."""
    mobile = normalise_mobile((order.get("receiver") or {}).get("mobile"))
    if not mobile:
        return
    person = mobile_hash(ctx.ent_id, mobile)
    channel = f"online:{order.get('shop_id') or 'unknown'}"

    def join(profile):
        profile = profile or _empty(mobile)
        if channel in profile["online"]:
            return None
        return {**profile, "online": {**profile["online"], channel: person}}

    try:
        before, after = _change(ctx, person, join)
    except PermanentError as exc:  # the person's profile cannot be read: the order goes on without it
        ctx.timeline.record(str(order.get("io_id")), ctx.ent_id, "member.not_merged", {"why": str(exc)},
                            level="warning")
        return
    # Sent when this changed it, or when an earlier run changed it and died before sending it.
    if after and after.get("store_members") and (after is not before or not _sent(ctx, person)):
        send_profile(ctx, person)


def _p14_key(person: str, version: int) -> str:
    return f"members.p14:{person}:{version}"


def _sent(ctx: "FlowContext", person: str) -> bool:
    """Was the person's current profile sent (P14)? Reads only."""
    record = ctx.records.get(ctx.ent_id, PROFILE_KIND, person)
    return record is None or kit.effect_done(ctx, _p14_key(person, record.version))


def _channels(profile: dict[str, Any]) -> list[dict[str, str]]:
    channels = [{"channel": "store", "external_id": member_id} for member_id in profile["member_order"]]
    channels += [{"channel": channel, "external_id": external} for channel, external in sorted(profile["online"].items())]
    return channels


def _send_written(ctx: "FlowContext", person: str, written: Any, book: Callable[[bool], None]) -> Any:
    """P14 of the version this worker just wrote, claimed by that write (its ``SENDING`` lease): no
    claim of its own, and its "done" written with ``book``'s records and the steps in one request.
    Should it fail, its effect record says "released" (a retry of ``put_profile`` takes it over at
    once) and it is queued or parked as ``send_profile`` does."""
    key = _p14_key(person, written.version)
    payload = {"person": person}
    try:
        result = _p14(ctx, person, written)
    except (TransientError, PermanentError) as exc:
        ctx.records.put_or_current(ctx.ent_id, kit.EFFECT_KIND, key, {"state": "released", "error": type(exc).__name__},
                                   ttl_days=400)
        book(False)
        return {"outcome": kit.set_aside(ctx, put_profile, payload, trace_key=f"person:{person}", error=exc)}

    def booked() -> None:
        book(True)
        _record_sent(ctx, person, written, result)

    done, _ = ctx.records.put_joined(ctx.ent_id, kit.EFFECT_KIND, key,
                                     {"state": "done", "result": result, "done_at": ctx.now().isoformat()},
                                     expected_version=None, ttl_days=400, writes=booked)
    if done is None:  # its lease ran out meanwhile and a retry claimed it: that one's "done" counts
        ctx.metric("EffectLeaseLost", 1)
    else:
        ctx.metric("MemberProfilesSent", 1)
    return result


def send_profile(ctx: "FlowContext", person: str) -> Any:
    """P14 now (queued when the store is busy); a profile the store refuses, or that cannot be read,
    is parked with the reason and replayed by `o2o dlq replay`: the member event or the order that
    changed it goes on."""
    payload = {"person": person}
    try:
        return kit.attempt(ctx, put_profile, payload, trace_key=f"person:{person}")
    except PermanentError as exc:
        return {"outcome": kit.set_aside(ctx, put_profile, payload, trace_key=f"person:{person}", error=exc)}


@kit.flow_command("members.put_profile")
def put_profile(ctx: "FlowContext", payload: dict[str, Any]) -> Any:
    """P14 for the person's current profile, once per version of it (the payload names only
    the hashed person: the profile is read when the step runs, so a retry sends the latest)."""
    from ..connectors.store import models as pos

    person = payload["person"]
    record = ctx.records.get(ctx.ent_id, PROFILE_KIND, person)
    profile = _readable(person, record.data) if record else None
    if not profile or not profile["member_order"]:
        return None  # known only online (phase 1 creates no store members)
    # Once per version of the profile: a profile that returns to an earlier content (a member
    # left) is a new version and is sent again.
    key = _p14_key(person, record.version)
    sending = profile.get(SENDING)
    if sending and datetime.fromisoformat(sending) > ctx.now() and not ctx.records.get(ctx.ent_id, kit.EFFECT_KIND, key):
        # The worker that wrote this version is sending it (merge_member): not a second time meanwhile.
        raise kit.EffectInProgress(f"member profile {person[:8]}… is being sent by the worker that merged it",
                                   retry_after_seconds=int((datetime.fromisoformat(sending) - ctx.now()).total_seconds()) + 1)
    outcome = kit.effect_once(ctx, key, lambda: _p14(ctx, person, record),
                              book=lambda result: _record_sent(ctx, person, record, result))
    if not outcome.repeated:
        ctx.metric("MemberProfilesSent", 1)
    return outcome.result


def _p14(ctx: "FlowContext", person: str, record: Any) -> Any:
    from ..connectors.store import models as pos

    profile = _readable(person, record.data)
    member_id = profile["member_order"][0]
    body = pos.MemberProfile(mobile=profile["mobile"], name=profile.get("name") or member_id,
                             channels=[pos.MemberChannel(**c) for c in _channels(profile)],
                             merged_from=profile["member_order"][1:])
    key = _p14_key(person, record.version)
    return ctx.store.put_member(member_id, body, business_key=key).status


def _record_sent(ctx: "FlowContext", person: str, record: Any, status: Any) -> None:
    profile = record.data
    ctx.timeline.record(f"person:{person}", ctx.ent_id, "member.sent",
                        {"member_id": profile["member_order"][0], "merged_from": profile["member_order"][1:],
                         "channels": [c["channel"] for c in _channels(profile)], "status": status})


def profiles(ctx: "FlowContext") -> list[dict[str, Any]]:
    """Every profile, for an operator: hashed person, member ids, channels (no mobile, no name)."""
    return [{"person": r.key, "member_id": (r.data["member_order"] or [None])[0],
             "merged_from": r.data["member_order"][1:], "channels": _channels(r.data)}
            for r in ctx.records.list(ctx.ent_id, PROFILE_KIND)]
