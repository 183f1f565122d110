"""The harness's crash points include a document claim's completions, before and after the
write (``records.complete``, ``records.complete_together``): the scenarios that complete claims
are killed there too, so a flow that loses or doubles an effect when it dies with its work done
and its "done" unwritten (or written and unanswered) fails its crash test."""

from __future__ import annotations

from .harness import run
from .test_crash_qimen import STEPS as QIMEN_STEPS
from .test_crash_qimen import World as QimenWorld
from .test_crash_qimen import check
from .test_crash_qimen import wms  # noqa: F401  (fixture)


def test_a_claims_completions_are_crash_points_before_and_after_the_write(wms, monkeypatch):  # noqa: F811
    _, clean = run(lambda: QimenWorld(wms, monkeypatch), QIMEN_STEPS)
    for write in ("records.complete", "records.complete_together"):
        assert clean.log.count(f"{write} (before)") == clean.log.count(write) > 0, write
    first = clean.log.index("records.complete (before)")
    assert clean.log[first + 1] == "records.complete"  # nothing between: the write itself is what is cut


def test_a_kill_right_before_a_completion_then_the_rerun_has_one_effect_on_each_side(wms, monkeypatch):  # noqa: F811
    """Killed right before a claim's "done" (e.g. the WMS's late message for WM4, after the catch-up
    took it): the next invocation holds none of the dead one's claims (a completion it appended
    in process would otherwise be applied again over its own result) and takes the message once."""
    world, clean = run(lambda: QimenWorld(wms, monkeypatch), QIMEN_STEPS)
    check(world, clean)
    points = [n for n, what in enumerate(clean.log, start=1) if what.endswith("(before)")]
    for at in points:
        world, killed = run(lambda: QimenWorld(wms, monkeypatch), QIMEN_STEPS, crash_at=at)
        killed.baseline = clean.baseline
        assert killed.killed_at == clean.log[at - 1]
        try:
            check(world, killed)
        except AssertionError as failure:
            raise AssertionError(f"killed at {at} ({killed.killed_at}): {failure}") from None
