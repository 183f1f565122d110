"""Crash injection: kill a flow at every point where a process can die, rerun, drain, and
count the effects on each side.

A *crash point* is the moment right after one call to an outside system (JST, 店+) returns,
or right after one write of the bridge's own state (a claim, a "done", a link, a cursor, a
queued retry) — i.e. between every downstream call and its bookkeeping, and between every
claim and its completion. A document claim's completion (``records.complete``, which may carry
the effect's bookkeeping, and ``records.complete_together``, the joined "done" of several
claims) is a crash point right before it as well (BEFORE_AND_AFTER): the invocation dies with
its work done and the "done" not written, whatever else ran in process since the last write.
Writes that ride with an outside call's rate-limit grant (ports.GrantRiders, a stock flush closing
its window before its upload) are written through the flow's guarded ``records.write_together``
inside the call, before the call goes out: a crash point between them and the call, and the call's
own crash point after it. ``Killed`` is raised there, and from then on every call the dead
invocation makes raises ``Killed`` too (a killed Lambda writes nothing more: no release of its
claim, no retry envelope), until the harness revives the world as the next invocation.

A scenario is a list of steps (``step(world)``): polls, webhooks, store events, and ``drain``
(the retry worker over the queue; an envelope whose run was killed stays queued, as SQS
delivers it again). After the kill the harness revives the world, moves the clock past every
lease (a new invocation after the dead one's lease), runs the killed step again (the
schedule's next run, the caller's re-send, SQS's redelivery) and every step after it, drains,
and runs ``settle`` (one more poll and drain: "rerun and drained").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

from o2o_bridge.flows import kit


class Killed(BaseException):
    """The invocation died here (BaseException: no flow catches it, as none can catch a kill)."""


@dataclass
class Fuse:
    """Counts crash points; kills the invocation at point ``at`` (None: never)."""

    at: int | None = None
    passed: int = 0
    dead: bool = False
    where: str = ""
    log: list[str] = field(default_factory=list)

    def call(self, what: str, do: Callable[[], Any], *, point: bool, before: bool = False) -> Any:
        if self.dead:
            raise Killed(f"already dead ({self.where})")
        if before:
            self._pass(f"{what} (before)")
        result = do()
        if point:
            self._pass(what)
        return result

    def _pass(self, what: str) -> None:
        self.passed += 1
        self.log.append(what)
        if self.at is not None and self.passed == self.at:
            self.dead, self.where = True, what
            raise Killed(what)


class Guarded:
    """A port whose calls go through the fuse. ``points``: which method names are crash points
    (after they return); the others only fail once the invocation is dead."""

    def __init__(self, name: str, inner: Any, fuse: Fuse, points: Callable[[str, tuple, dict], bool],
                 before: Callable[[str, tuple, dict], bool] | None = None) -> None:
        self._name, self._inner, self._fuse, self._points = name, inner, fuse, points
        self._before = before or (lambda *a: False)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        """The adapter's class: a flow that asks which adapter serves a port (``isinstance``) gets
        the guarded one and calls through the fuse."""
        return type(self._inner)

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            point = self._points(attr, args, kwargs)
            return self._fuse.call(f"{self._name}.{attr}", lambda: value(*args, **kwargs), point=point,
                                   before=self._before(attr, args, kwargs))

        return call


WRITES = {"put", "put_or_current", "put_joined", "claim", "release", "replace", "put_many", "put_many_traced", "write_together", "put_newer", "put_always", "delete", "advance", "link", "enqueue", "dead_letter"}


# A claim's completions: crash points before the write as well as after it.
BEFORE_AND_AFTER = {"complete", "complete_together"}
WRITES |= BEFORE_AND_AFTER


def _is_write(attr: str, args: tuple, kwargs: dict) -> bool:
    return attr in WRITES


def _is_completion(attr: str, args: tuple, kwargs: dict) -> bool:
    return attr in BEFORE_AND_AFTER


def _is_call(attr: str, args: tuple, kwargs: dict) -> bool:
    return not attr.startswith("_")


OUTSIDE = ("erp", "warehouse", "store")  # the ports over the outside systems (JST, 旺店通, a 奇门 WMS, 店+)


def guard(ctx: Any, fuse: Fuse) -> None:
    """Route every port of ``ctx`` through ``fuse``: the outside systems' calls (the ERP, the
    warehouse and the store ports, whichever adapter serves them) and the bridge's state writes
    are crash points; reads and timeline entries only fail once dead."""
    for name in OUTSIDE:
        if getattr(ctx, name, None) is not None:
            setattr(ctx, name, Guarded(name, getattr(ctx, name), fuse, _is_call))
    for name in ("records", "cursors", "links", "queue"):
        setattr(ctx, name, Guarded(name, getattr(ctx, name), fuse, _is_write, _is_completion))
    ctx.timeline = Guarded("timeline", ctx.timeline, fuse, lambda *a: False)


def drain(ctx: Any, *, max_rounds: int = 200) -> None:
    """The retry worker over ``ctx.queue`` (no delays); a run that is killed leaves its envelope
    queued (SQS delivers it again) and the kill propagates."""
    from fakes import FakeTenants
    from o2o_bridge import wiring
    from o2o_bridge.retry import RetryRunner

    queue = ctx.queue._inner if isinstance(ctx.queue, Guarded) else ctx.queue
    runner = RetryRunner(wiring.command_registry(lambda tenant: ctx), ctx.queue, FakeTenants(ctx.tenant), ctx.timeline, max_attempts=10,
                         base_delay_seconds=0, no_delay=True)
    for _ in range(max_rounds):
        if not queue.queued:
            return
        envelope, delay = queue.queued.pop(0)
        try:
            runner.run(envelope)
        except Killed:
            queue.queued.insert(0, (envelope, delay))
            raise
    raise AssertionError(f"retries did not drain in {max_rounds} rounds")


Step = Callable[[Any], Any]


@dataclass
class Run:
    crash_at: int | None
    killed_at: str  # the crash point's call, "" when nothing was killed
    points: int
    # What a check noted of the run without a kill (``same_as_without_a_kill``), shared by the runs.
    baseline: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)  # every crash point passed, in order


def run(make_world: Callable[[], Any], steps: list[Step], *, settle: list[Step] | None = None,
        crash_at: int | None = None) -> tuple[Any, Run]:
    """Run ``steps`` on a fresh world, killing the invocation at crash point ``crash_at``; then
    revive, rerun from the killed step, drain and ``settle``. Returns the world and what happened."""
    world = make_world()
    ctx = world.ctx
    clock = [ctx.now()]
    ctx.now = lambda: clock[0]
    fuse = Fuse(at=crash_at)
    guard(ctx, fuse)
    killed_at = ""
    index = 0
    steps = [*steps, lambda w: drain(w.ctx), *(settle or []), lambda w: drain(w.ctx)]
    while index < len(steps):
        try:
            steps[index](world)
        except Killed:
            killed_at = fuse.where
            fuse.dead = False
            fuse.at = None
            # The next invocation starts with nothing of the dead one's memory: the claims its
            # piece of work held in process (a completion it appended before the kill, a joining
            # block) die with it, as a new FlowContext (wiring.context_for) has empty extras.
            ctx.extras.clear()
            # The next invocation comes after the dead one's lease (at most the longest a Lambda
            # runs plus the margin) has run out.
            clock[0] += timedelta(seconds=kit.LEASE_WITHOUT_DEADLINE_SECONDS + kit.LEASE_MARGIN_SECONDS + 1)
            continue  # the killed step again: the next poll, the caller's re-send, SQS's redelivery
        index += 1
    return world, Run(crash_at, killed_at, fuse.passed, log=fuse.log)


def every_crash(make_world: Callable[[], Any], steps: list[Step], check: Callable[[Any, Run], None], *,
                settle: list[Step] | None = None) -> int:
    """Run the scenario once to count its crash points, then once per crash point with the kill
    there; ``check(world, run)`` asserts the effects. Returns the number of crash points."""
    world, clean = run(make_world, steps, settle=settle)
    check(world, clean)
    for n in range(1, clean.points + 1):
        world, killed = run(make_world, steps, settle=settle, crash_at=n)
        killed.baseline = clean.baseline
        try:
            check(world, killed)
        except AssertionError as failure:
            raise AssertionError(f"killed at crash point {n}/{clean.points} ({killed.killed_at}): {failure}") from None
    return clean.points


def same_as_without_a_kill(sides: dict[str, Any], run: Run) -> None:
    """``sides`` (what both sides hold, ids and clocks left out) equals what the run without a
    kill left: nothing lost, nothing done twice, whatever the kill interrupted."""
    if run.crash_at is None:
        run.baseline["sides"] = sides
        return
    expected = run.baseline["sides"]
    differs = {name: (value, expected.get(name)) for name, value in sides.items() if value != expected.get(name)}
    assert not differs, f"differs from the run without a kill (now, then): {differs}"


def assert_settled(ctx: Any) -> None:
    """Nothing is left queued or dead-lettered, and every effect ended "done" (or released), none claimed."""
    assert ctx.queue.queued == [] and ctx.queue.dead == [], (ctx.queue.queued, ctx.queue.dead)
    effects = ctx.records.list(ctx.ent_id, kit.EFFECT_KIND)
    assert all(e.data["state"] in ("done", "released") for e in effects), \
        [(e.key, e.data) for e in effects if e.data["state"] not in ("done", "released")]


def built_once(build: Callable[[Any], Step]) -> Step:
    """A step whose input is made once per world (a store event, a JST push body, what the
    warehouse did): the re-send after a kill carries the same input."""
    def step(world: Any) -> Any:
        # Kept on the world itself: keyed by id(world) in a dict here, a world made after an
        # earlier one was freed could get its id and run the earlier world's input unbuilt.
        built: dict[int, Step] = world.__dict__.setdefault("_built_once", {})
        if id(build) not in built:
            built[id(build)] = build(world)
        return built[id(build)](world)

    return step
