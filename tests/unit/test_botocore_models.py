"""The trimmed botocore models the bridge's clients load (scripts/trim_botocore_models.py).

A call the code adds to an operation a trimmed model lacks, or another botocore in the lock,
fails here until `make models` writes them again; the clients do load them; and every
operation the code names exists in the model its client reads."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from botocore import xform_name

from o2o_bridge import runtime

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("trim_botocore_models", ROOT / "scripts" / "trim_botocore_models.py")
trim = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(trim)


def test_the_committed_models_are_what_the_script_writes_from_the_installed_botocore():
    wanted = trim.trimmed_models()
    present = {str(path.relative_to(trim.OUT)): path.read_text(encoding="utf-8") for path in trim.OUT.rglob("*.json")}
    assert sorted(present) == sorted(wanted), "run `make models`"
    stale = [path for path in wanted if present[path] != wanted[path]]
    assert not stale, f"stale trimmed models {stale}: run `make models` (a new call in the code, or a new botocore)"


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    runtime.reset()
    yield
    runtime.reset()


@pytest.mark.parametrize("service", trim.SERVICES)
def test_the_clients_read_the_trimmed_models(aws_env, service):
    client = runtime.aws_client(service)
    model = client.meta.service_model
    assert model.metadata.get("o2oTrimmedFrom"), f"{service}: the client read botocore's full model"
    (path,) = [p for p in trim.OUT.glob(f"{service}/*/service-2.json")]
    assert set(model.operation_names) == set(json.loads(path.read_text(encoding="utf-8"))["operations"])


def test_every_operation_the_code_names_is_in_its_trimmed_model():
    """The scan the script keeps operations by, checked from the other side: a name in the code
    that is an operation of one of these services (in botocore's full model) is in the trimmed one."""
    from botocore.loaders import Loader

    names = trim.names_in_code()
    full = Loader()
    for service in trim.SERVICES:
        version = full.determine_latest_version(service, "service-2")
        every = {xform_name(op) for op in full.load_service_model(service, "service-2", version)["operations"]}
        (path,) = list(trim.OUT.glob(f"{service}/{version}/service-2.json"))
        kept = {xform_name(op) for op in json.loads(path.read_text(encoding="utf-8"))["operations"]}
        missing = sorted((names & every) - kept)
        assert not missing, f"{service}: the code calls {missing}, not in its trimmed model: run `make models`"


def test_other_services_still_get_botocores_full_models(aws_env):
    client = runtime.aws_client("cloudformation")  # the CLI's
    assert "o2oTrimmedFrom" not in client.meta.service_model.metadata
    assert "describe_stacks" in dir(client)
