"""Member merge phase 1: store members and online buyers merged by normalised mobile, one
profile per person sent to the store system (P14), hashed identities everywhere else."""

from __future__ import annotations

from o2o_bridge.flows import members
from o2o_bridge.flows import store_fulfilment as s1
from o2o_bridge.ledger import mobile_hash


def with_p14(world):
    sent = []

    def put_member(member_id, profile, *, business_key=None):
        from o2o_bridge.connectors.store.models import MemberSaved

        sent.append((member_id, profile.body()))
        return MemberSaved(member_id=member_id, status="saved", merged_from=profile.merged_from)

    world.store.put_member = put_member
    return sent


def member_updated(world, member_id, mobile, name, at="2026-11-30T10:00:00+08:00", store="S001"):
    event = world.event("member.updated", member_id=member_id, mobile=mobile, name=name, store_code=store,
                        updated_at=at)
    members.on_member_updated(event, world.ctx)


def test_two_store_members_with_one_number_become_one_profile_sent_once_per_change(world):
    sent = with_p14(world)
    member_updated(world, "M001", "138 0013 8000", "王芳", at="2026-11-01T10:00:00+08:00")
    member_updated(world, "M002", "+86-13800138000", "王芳芳", at="2026-11-20T10:00:00+08:00", store="S002")
    member_updated(world, "M002", "+86-13800138000", "王芳芳", at="2026-11-20T10:00:00+08:00", store="S002")
    assert [s[0] for s in sent] == ["M001", "M001"]  # the repeat changed nothing, so nothing was sent
    member_id, body = sent[-1]
    assert body == {"mobile": "13800138000", "name": "王芳芳", "merged_from": ["M002"],
                    "channels": [{"channel": "store", "external_id": "M001"},
                                 {"channel": "store", "external_id": "M002"}]}


def test_an_online_buyer_joins_the_profile_and_a_person_only_online_is_not_sent(world):
    sent = with_p14(world)
    member_updated(world, "M001", "13800000000", "王小姐")
    world.jst.add(700001)  # receiver mobile 13800000000, shop 1
    s1.poll_jst_outbound(world.ctx)
    assert sent[-1][1]["channels"][-1] == {"channel": "online:1",
                                          "external_id": mobile_hash(world.ctx.ent_id, "13800000000")}
    assert sent[-1][1]["name"] == "王小姐"  # rule 4: never the receiver's name
    row = world.jst.add(700002)
    row["receiver_mobile"] = "13911112222"
    s1.poll_jst_outbound(world.ctx)
    assert len(sent) == 2
    only_online = [p for p in members.profiles(world.ctx) if p["member_id"] is None]
    assert [p["channels"][0]["channel"] for p in only_online] == ["online:1"]


def test_a_member_without_a_usable_number_is_not_merged(world):
    sent = with_p14(world)
    member_updated(world, "M009", "138****8000", "隐藏")
    assert sent == [] and members.profiles(world.ctx) == []
    assert "member.not_merged" in world.ctx.timeline.steps("member:M009")


def test_a_member_who_changes_number_leaves_the_old_profile(world):
    sent = with_p14(world)
    member_updated(world, "M001", "13800138000", "王芳", at="2026-11-01T10:00:00+08:00")
    member_updated(world, "M002", "13800138000", "王芳", at="2026-11-02T10:00:00+08:00")
    member_updated(world, "M002", "13900139000", "王芳", at="2026-11-03T10:00:00+08:00")
    by_member = {p["member_id"]: p for p in members.profiles(world.ctx)}
    assert by_member["M001"]["merged_from"] == [] and by_member["M002"]["merged_from"] == []
    assert sent[-2][0] == "M001" and sent[-2][1]["merged_from"] == []


def test_no_raw_number_or_name_in_the_ledger_or_the_timeline(world):
    with_p14(world)
    member_updated(world, "M001", "13800138000", "王芳")
    world.jst.add(700001)
    s1.poll_jst_outbound(world.ctx)
    text = repr(world.ctx.ledger.facts) + repr(world.ctx.timeline.items)
    assert "13800138000" not in text and "王芳" not in text and "13800000000" not in text


def test_cross_channel_spending_joins_store_sales_and_online_orders_of_one_person(world, tmp_path):
    from o2o_bridge.cli.order_centre.engines import DuckDbEngine, run_report
    from o2o_bridge.cli.order_centre.reports import REPORTS
    from o2o_bridge.connectors.files.ledger import FileLedger
    from o2o_bridge.events.dispatch import RECORDED_ONCE_HANDLED
    from o2o_bridge.flows import retail_facts

    world.ctx.ledger = FileLedger(tmp_path)
    with_p14(world)
    member_updated(world, "M001", "13800000000", "王小姐")
    world.jst.add(700001)  # the same person buys online (receiver 13800000000)
    s1.poll_jst_outbound(world.ctx)
    shipped = world.shipped(700001)
    world.mark(shipped)
    s1.on_fulfilment_shipped(shipped, world.ctx)
    world.confirm()  # the next poll confirms it in JST
    assert "sale.completed" in RECORDED_ONCE_HANDLED
    for sale_no, member in (("X1", {"member_id": "M001"}), ("X2", {"member_mobile": "13911112222"})):
        retail_facts.record(world.event("sale.completed", sale_no=sale_no, store_code="S002",
                                        sold_at="2026-11-30T12:00:00+08:00", payment="cash", total_amount="80.00",
                                        items=[{"line_no": "1", "sku_id": "SKU-RED-M", "qty": 1, "price": "80.00",
                                                "amount": "80.00"}], **member), world.ctx)
    names, rows = run_report(DuckDbEngine(tmp_path), REPORTS["member-spending"], world.ctx.ent_id,
                             "2026-11-30", "2026-11-30")
    found = {row[0]: dict(zip(names, row)) for row in rows}
    person = mobile_hash(world.ctx.ent_id, "13800000000")[:12]
    assert found[person]["channels"] == "both" and found[person]["store_sales"] == 1
    assert found[person]["online_orders"] == 1 and found[person]["stores"] == 2
    assert found[mobile_hash(world.ctx.ent_id, "13911112222")[:12]]["channels"] == "one"
