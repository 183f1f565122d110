"""Loading and invoking handlers in process."""

from __future__ import annotations

import dataclasses
import sys
import time

import pytest

from o2o_local import lambda_runtime
from o2o_local.lambda_runtime import HandlerLoadError, invoke, load_handler, make_context


@pytest.fixture(autouse=True)
def _cold():
    lambda_runtime.unload_all()
    yield
    lambda_runtime.unload_all()


def test_each_function_gets_its_own_module_and_siblings(fixture_template, monkeypatch):
    monkeypatch.setenv("O2O_STAGE", "local")
    path_before = list(sys.path)
    echo = fixture_template.functions["echo"]
    tick = fixture_template.functions["tick"]
    assert invoke(echo, {"rawPath": "/items/1", "pathParameters": {"id": "1"}})["source"] == "echo util"
    assert invoke(tick, {})["source"] == "tick util"  # its own util.py, not echo's
    assert sys.path == path_before
    assert "util" not in sys.modules
    assert load_handler(echo).__module__ == "o2o_fn_echo"
    assert load_handler(tick).__module__ == "o2o_fn_tick"
    assert load_handler(echo) is load_handler(echo)  # cached


def test_same_short_name_in_two_folders_does_not_collide(fixture_template, tmp_path):
    (tmp_path / "echo").mkdir()
    (tmp_path / "echo" / "app.py").write_text("def lambda_handler(event, context):\n    return 'other echo'\n")
    echo = fixture_template.functions["echo"]
    other = dataclasses.replace(echo, code_dir=tmp_path / "echo")
    assert invoke(echo, {"rawPath": "/items/1", "pathParameters": {"id": "1"}})["id"] == "1"
    assert invoke(other, {}) == "other echo"
    assert (load_handler(echo).__module__, load_handler(other).__module__) == ("o2o_fn_echo", "o2o_fn_echo_2")


def test_context(fixture_template):
    spec = fixture_template.functions["tick"]
    context = make_context(spec, request_id="r-1")
    assert context.function_name == "o2o-local-TickFunction"
    assert context.memory_limit_in_mb == 512
    assert context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:o2o-local-TickFunction"
    assert context.aws_request_id == "r-1"
    assert context.log_group_name == "/aws/lambda/o2o-local-TickFunction"
    assert 29_000 < context.get_remaining_time_in_millis() <= 30_000
    short = make_context(dataclasses.replace(spec, timeout=0))
    time.sleep(0.01)
    assert short.get_remaining_time_in_millis() == 0


def test_event_is_a_copy_and_result_is_json(fixture_template, tmp_path):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "app.py").write_text(
        "import datetime\n"
        "def lambda_handler(event, context):\n"
        "    event['touched'] = True\n"
        "    if event.get('bad'):\n"
        "        return {'when': datetime.datetime.now()}\n"
        "    return {'tuple': (1, 2)}\n")
    spec = dataclasses.replace(fixture_template.functions["tick"], code_dir=tmp_path / "f", name="f")
    event = {"a": 1}
    assert invoke(spec, event) == {"tuple": [1, 2]}
    assert event == {"a": 1}
    with pytest.raises(TypeError, match="not JSON serializable"):
        invoke(spec, {"bad": True})


def test_handler_exceptions_propagate(fixture_template):
    with pytest.raises(RuntimeError, match="always fails"):
        invoke(fixture_template.functions["boom"], {})


def test_load_errors(fixture_template, tmp_path):
    missing = dataclasses.replace(fixture_template.functions["tick"], code_dir=tmp_path / "none", name="none")
    with pytest.raises(HandlerLoadError, match="not found"):
        load_handler(missing)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "app.py").write_text("handler = 1\n")
    wrong = dataclasses.replace(fixture_template.functions["tick"], code_dir=tmp_path / "x", name="x")
    with pytest.raises(HandlerLoadError, match="no callable 'lambda_handler'"):
        load_handler(wrong)
