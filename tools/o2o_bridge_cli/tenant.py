"""`o2o tenant put FILE.yaml`, `o2o tenant get ENT_ID` (and `doctor`, issue #3)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def register(commands) -> None:
    tenant = commands.add_parser("tenant", help="register and inspect tenants (店+ merchants)")
    sub = tenant.add_subparsers(dest="tenant_command", required=True, metavar="ACTION")
    put = sub.add_parser("put", help="validate a tenant file and store it (nothing is stored on any error)")
    put.add_argument("file", type=Path)
    put.add_argument("--reset-token", action="store_true",
                     help="use the file's JST tokens even if their values did not change in the file "
                          "(e.g. after re-authorising with the same Secrets Manager reference)")
    put.set_defaults(run=put_tenant)
    get = sub.add_parser("get", help="print a stored tenant, secrets masked")
    get.add_argument("ent_id")
    get.set_defaults(run=get_tenant)
    doctor = sub.add_parser("doctor", help="check a tenant against the live systems")
    doctor.add_argument("ent_id")
    doctor.set_defaults(run=doctor_tenant)


def load_tenant_file(path: Path):
    """Parse and validate a tenant file; returns (tenant, errors) with errors as key-path lines."""
    import yaml
    from pydantic import ValidationError

    from ..tenant import parse_tenant, validation_messages

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, [f"{path}: cannot read: {exc.strerror}"]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return None, [f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}"]
    try:
        return parse_tenant(data), []
    except ValidationError as exc:
        return None, validation_messages(exc)


def put_tenant(args) -> int:
    from .. import runtime
    from ..tenant import tenant_secret_prefix
    from . import environment
    from .environment import use_bridge_environment

    tenant, errors = load_tenant_file(args.file)
    if errors:
        print(f"{args.file}: {len(errors)} error(s); nothing was stored", file=sys.stderr)
        for line in errors:
            print(f"  {line}", file=sys.stderr)
        return 2
    where = use_bridge_environment()
    inline = tenant.inline_secret_paths()
    if inline and not environment.is_local_stack():
        # A deployed stack keeps tenant secrets in Secrets Manager only: StateTable is read by
        # every function and shown by `tenant get`, so a secret stored there is one leak away.
        print(f"{args.file}: inline secrets are for the local stack only; against {where} give each as "
              f"*_ref: secretsmanager:{tenant_secret_prefix()}tenants/{tenant.ent_id}/NAME[#key] "
              f"(docs/security.md); nothing was stored", file=sys.stderr)
        for path in inline:
            print(f"  {path}: inline", file=sys.stderr)
        return 2
    store = runtime.state_store()
    previous = store.get(tenant.ent_id)
    store.put(tenant)
    print(f"stored tenant {tenant.ent_id} ({tenant.name}) in {where}")
    # The bridge keeps the current (refreshed) JST token apart from the file, and it wins over
    # the file's tokens. New tokens in the file mean the merchant re-authorised: use them.
    if previous is not None and (args.reset_token or _jst_tokens(previous) != _jst_tokens(tenant)):
        from ..connectors.jushuitan import factory as jst_factory

        if jst_factory.token_store().forget(tenant.ent_id):
            print("the stored JST token was dropped: the file's access_token / refresh_token are used from now on")
    return 0


def _jst_tokens(tenant) -> tuple:
    """The file's JST token settings, comparable without revealing them (inline or *_ref)."""
    section = tenant.jushuitan
    if section is None:  # a 旺店通 tenant keeps no tokens
        return ()

    def value(name: str):
        inline = getattr(section, name)
        return inline.get_secret_value() if inline is not None else getattr(section, f"{name}_ref")

    return value("access_token"), value("refresh_token")


def get_tenant(args) -> int:
    import yaml

    from .. import runtime
    from .environment import use_bridge_environment

    use_bridge_environment()
    tenant = runtime.state_store().get(args.ent_id)
    if tenant is None:
        print(f"o2o: no tenant {args.ent_id!r}", file=sys.stderr)
        return 2
    yaml.safe_dump(json.loads(json.dumps(tenant.to_display())), sys.stdout, allow_unicode=True, sort_keys=False)
    return 0


def doctor_tenant(args) -> int:
    """One line per check (✓/✗ and why); exit 1 when any check fails."""
    from .. import runtime
    from .environment import use_bridge_environment

    use_bridge_environment()
    tenant = runtime.state_store().get(args.ent_id)
    if tenant is None:
        print(f"o2o: no tenant {args.ent_id!r}", file=sys.stderr)
        return 2
    if tenant.erp == "wangdiantong":
        from ..connectors.wangdiantong.doctor import check_tenant as check_wdt
        from ..connectors.wangdiantong.factory import wdt_for_tenant

        checks = check_wdt(tenant, wdt_for_tenant(tenant), runtime.secret_resolver())
    else:
        from ..connectors.jushuitan.doctor import check_tenant
        from ..connectors.jushuitan.factory import jst_for_tenant

        checks = check_tenant(tenant, jst_for_tenant(tenant), runtime.secret_resolver())
    if tenant.qimen is not None:
        from ..connectors.qimen.doctor import check_qimen
        from ..connectors.qimen.factory import qimen_for_tenant

        checks += check_qimen(tenant, qimen_for_tenant(tenant), runtime.secret_resolver())
    print(f"tenant {tenant.ent_id} ({tenant.name})")
    for check in checks:
        print(f"  {check.line()}")
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} of {len(checks)} checks passed")
    return 1 if failed else 0
