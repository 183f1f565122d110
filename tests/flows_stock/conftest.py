import pytest

from fakes import fake_context
from o2o_bridge import wiring
from o2o_bridge.flows import kit

from .stock_fakes import FakeJst, FakeStore, demo_tenant


@pytest.fixture
def jst():
    return FakeJst()


@pytest.fixture
def store():
    return FakeStore()


@pytest.fixture
def make_ctx(jst, store, monkeypatch):
    """A fake context; store events and retried commands rebuild the same one (wiring.context_for)."""
    made = {}

    def build(tenant=None, **overrides):
        ctx = fake_context(tenant or demo_tenant(), jst=jst, store=store, **overrides)
        made["ctx"] = ctx
        monkeypatch.setattr(wiring, "context_for", lambda t: made["ctx"])
        return ctx

    return build


@pytest.fixture
def ctx(make_ctx):
    return make_ctx()
