"""The retry flow on in-memory fakes: what happens to work that failed once."""

import pytest
from pydantic import ValidationError

from fakes import FakeCommandQueue, FakeTenants, FakeTimeline
from o2o_bridge.errors import PermanentError, TransientError
from o2o_bridge.retry import CommandRegistry, RetryEnvelope, RetryRunner, backoff_seconds, enqueue_retry
from o2o_bridge.tenant import parse_tenant
from test_tenant_model import demo_doc


@pytest.fixture
def world():
    registry = CommandRegistry()
    queue, timeline = FakeCommandQueue(), FakeTimeline()
    tenant = parse_tenant(demo_doc())
    runner = RetryRunner(registry, queue, FakeTenants(tenant), timeline, max_attempts=3, base_delay_seconds=10, rand=lambda: 1.0)
    return registry, queue, timeline, runner


def envelope(command="pos.create_fulfilment", **kw):
    return RetryEnvelope(command=command, ent_id="10010", payload={"io_id": 42}, trace_key="IO-42", **kw)


def test_a_successful_retry_is_done_and_traced(world):
    registry, queue, timeline, runner = world
    calls = []
    registry.register("pos.create_fulfilment")(lambda ctx: calls.append((ctx.tenant.ent_id, ctx.payload)))
    assert runner.run(envelope(attempts=1)) == "done"
    assert calls == [("10010", {"io_id": 42})]
    assert queue.queued == [] and queue.dead == []
    assert timeline.steps("IO-42") == ["retry.succeeded"]


def test_queued_work_done_at_its_first_run_is_no_retry_on_the_timeline(world):
    """A stock flush or a nightly chunk is queued to run here, not because it failed: done at its
    first run, its flow's own steps tell what it did, and no "retry.succeeded" claims a retry."""
    registry, queue, timeline, runner = world
    registry.register("pos.create_fulfilment")(lambda ctx: None)
    assert runner.run(envelope()) == "done"
    assert timeline.steps("IO-42") == []
    # Replayed from the DLQ (attempts start again at 0): that is a retry of work that failed.
    assert runner.run(envelope(replays=1)) == "done"
    assert timeline.steps("IO-42") == ["retry.succeeded"]


def test_transient_errors_are_retried_with_growing_delays_then_dead_lettered(world):
    registry, queue, timeline, runner = world

    @registry.register("pos.create_fulfilment")
    def flaky(ctx):
        raise TransientError("店+ answered 503")

    current = envelope()
    delays = []
    while runner.run(current) == "retrying":
        current, delay = queue.queued.pop()
        delays.append(delay)
    assert delays == [10, 20]  # attempts 1 and 2, base 10 doubling
    assert current.attempts == 2
    [letter] = queue.dead
    assert letter.envelope.attempts == 3
    assert letter.reason.startswith("gave up after 3 attempts") and "503" in letter.reason
    assert timeline.steps("IO-42")[-1] == "retry.dead_lettered"


def test_permanent_errors_go_straight_to_the_dlq_with_the_reason(world):
    registry, queue, _, runner = world

    @registry.register("pos.create_fulfilment")
    def refused(ctx):
        raise PermanentError("店+ refused: store S009 does not exist")

    assert runner.run(envelope()) == "dead-lettered"
    assert queue.queued == []
    assert queue.dead[0].reason == "店+ refused: store S009 does not exist"
    assert queue.dead[0].error_type == "PermanentError"


def test_unknown_commands_and_tenants_are_dead_lettered_not_dropped(world):
    _, queue, _, runner = world
    assert runner.run(envelope(command="jst.nothing_handles_this")) == "dead-lettered"
    assert "no flow handles retry command 'jst.nothing_handles_this'" in queue.dead[0].reason
    stranger = RetryEnvelope(command="jst.nothing_handles_this", ent_id="99999")
    runner.registry.register("jst.nothing_handles_this")(lambda ctx: None)
    assert runner.run(stranger) == "dead-lettered"
    assert queue.dead[1].reason == "tenant '99999' is not registered"


def test_no_secret_reaches_a_retry_or_dead_letter(world):
    registry, queue, _, runner = world

    @registry.register("pos.create_fulfilment")
    def leaky(ctx):
        raise TransientError("401 from https://pos/api with key demo-pos-api-key and access_token=demo-access-token")

    runner.max_attempts = 1
    runner.run(envelope())
    text = queue.dead[0].model_dump_json()
    assert "demo-pos-api-key" not in text and "demo-access-token" not in text

    with pytest.raises(ValidationError, match="must not carry secrets"):
        RetryEnvelope(command="x", payload={"order": {"api_key": "k"}})


def test_unexpected_exceptions_are_retried_like_transient_ones(world):
    registry, queue, _, runner = world
    registry.register("pos.create_fulfilment")(lambda ctx: {}["missing"])
    assert runner.run(envelope()) == "retrying"
    assert queue.queued[0][0].last_error.startswith("KeyError")


def test_no_delay_mode_and_retry_after_hints(world):
    registry, queue, _, runner = world

    @registry.register("pos.create_fulfilment")
    def limited(ctx):
        raise TransientError("JST code 199: rate limited", retry_after_seconds=60)

    runner.run(envelope())
    assert queue.queued[-1][1] == 60
    runner.no_delay = True
    runner.run(envelope())
    assert queue.queued[-1][1] == 0


def test_backoff_is_capped_at_the_sqs_maximum():
    assert backoff_seconds(30, 30, rand=lambda: 1.0) == 900
    assert 15 <= backoff_seconds(1, 30) <= 30


def test_enqueue_retry_records_the_first_failure():
    queue = FakeCommandQueue()
    env = enqueue_retry(queue, command="jst.sent_upload", ent_id="10010", payload={"io_id": 1},
                        error=TransientError("timeout"), base_delay_seconds=10)
    assert env.attempts == 1 and env.last_error == "TransientError: timeout"
    assert queue.queued[0][0] is env and 5 <= queue.queued[0][1] <= 10


def test_a_redelivered_attempt_never_forks_its_retry_chain():
    """SQS delivers a batch again when the invocation holding it timed out: an attempt that
    already failed and queued its next one runs again. The next attempt is queued once; a
    replayed letter starts a chain of its own."""
    from fakes import FakeRecords

    registry, queue, timeline = CommandRegistry(), FakeCommandQueue(), FakeTimeline()
    runner = RetryRunner(registry, queue, FakeTenants(parse_tenant(demo_doc())), timeline, max_attempts=5,
                         base_delay_seconds=10, rand=lambda: 1.0, records=FakeRecords())
    registry.register("pos.create_fulfilment")(lambda ctx: (_ for _ in ()).throw(TransientError("店+ 503")))
    first = envelope(attempts=1)
    assert runner.run(first) == "retrying" and runner.run(first) == "retrying"  # the second delivery
    assert [e.attempts for e, _ in queue.queued] == [2]
    assert runner.run(first.replayed()) == "retrying"  # a replay after the fix is a new chain
    assert [(e.replays, e.attempts) for e, _ in queue.queued] == [(0, 2), (1, 1)]


def test_the_records_a_payload_names_are_read_with_the_tenant_and_handed_to_its_command(world):
    """retry.READ_AHEAD: a tenant store that reads them with the tenant hands them over; the
    command's context has them (wiring passes them to its RecordRepository.remember_read)."""
    registry, queue, timeline, _ = world
    tenant = parse_tenant(demo_doc())

    class ReadingTenants(FakeTenants):
        def get_with_records(self, ent_id, wanted):
            self.asked = wanted
            return self.get(ent_id), {wanted[0]: "the marker"}

    tenants = ReadingTenants(tenant)
    runner = RetryRunner(registry, queue, tenants, timeline, max_attempts=3, base_delay_seconds=10)
    seen = []
    registry.register("stock.flush_offline")(lambda ctx: seen.append(ctx.read_ahead))
    reads = [["stock.dirty", " flush"], ["stock.store", "A|S001"], ["not", "a", "pair"]]
    assert runner.run(RetryEnvelope(command="stock.flush_offline", ent_id="10010",
                                    payload={"flush_id": "f", "reads": reads})) == "done"
    wanted = [("stock.dirty", " flush"), ("stock.store", "A|S001")]
    assert tenants.asked == wanted and seen == [(wanted, {("stock.dirty", " flush"): "the marker"})]
    assert runner.run(RetryEnvelope(command="stock.flush_offline", ent_id="10010", payload={})) == "done"
    assert seen[-1] is None  # nothing named: the tenant alone, as before
