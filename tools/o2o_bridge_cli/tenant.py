"""`o2o tenant put FILE.yaml`, `o2o tenant get ENT_ID` (and `doctor`, issue #3)."""

from __future__ import annotations

from ..connectors.jushuitan import factory as jst_factory

import json
import sys
from pathlib import Path

from ._output import add_json_flag, echo, echo_json, result_stream


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
    add_json_flag(get)
    get.set_defaults(run=get_tenant)
    doctor = sub.add_parser("doctor", help="check a tenant against the live systems")
    doctor.add_argument("ent_id")
    add_json_flag(doctor)
    doctor.set_defaults(run=doctor_tenant)
    urls = sub.add_parser("urls", help="the callback URLs to paste into JST and the store system, each with the "
                                       "console menu path where it goes")
    urls.add_argument("ent_id")
    urls.add_argument("--base-url", help="the API's base URL (default: the deployed stack's CustomDomainUrl or "
                                         "HttpApiUrl output with O2O_STACK, else the local API)")
    urls.add_argument("--reveal-token", action="store_true",
                      help="put each URL's own callback token into it (derived from the tenant's token, read from Secrets "
                           "Manager if a *_ref)")
    urls.add_argument("--rotate", action="store_true",
                      help="switch the tenant to per-URL tokens: write a new random callback token (into its Secrets "
                           "Manager reference, or inline on the local stack), turn tenant_wide_token off, and print the "
                           "new URLs with their tokens. Every old URL stops working: paste the new ones into JST")
    add_json_flag(urls)
    urls.set_defaults(run=show_urls)
    init = sub.add_parser("init", help="write a commented production tenant file (secrets as Secrets Manager "
                                       "references, real endpoints)")
    init.add_argument("--erp", choices=("jushuitan", "wangdiantong"), default="jushuitan")
    init.add_argument("--warehouse", choices=("erp", "qimen"), default="erp",
                      help="erp: the ERP's own WMS; qimen: a 3PL cloud warehouse over 奇门")
    init.add_argument("--ent-id", default="ENT_ID", help="the merchant's 店+ entId (default: a placeholder)")
    init.add_argument("--output", "-o", type=Path, help="file to write (default: stdout); never overwritten")
    init.set_defaults(run=init_tenant)
    schema = sub.add_parser("schema", help="print the JSON Schema of the tenant file (docs/tenant.schema.json)")
    schema.set_defaults(run=print_schema)


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
        echo(f"{args.file}: {len(errors)} error(s); nothing was stored", file=sys.stderr)
        for line in errors:
            echo(f"  {line}", file=sys.stderr)
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
    echo(f"stored tenant {tenant.ent_id} ({tenant.name}) in {where}")
    # The bridge keeps the current (refreshed) JST token apart from the file, and it wins over
    # the file's tokens. New tokens in the file mean the merchant re-authorised: use them.
    if previous is not None and (args.reset_token or _jst_tokens(previous) != _jst_tokens(tenant)):
        if jst_factory.token_store().forget(tenant.ent_id):
            echo("the stored JST token was dropped: the file's access_token / refresh_token are used from now on")
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

    tenant = stored_tenant(args.ent_id)
    shown = json.loads(json.dumps(tenant.to_display()))
    if args.json:
        echo_json(shown)
    else:
        yaml.safe_dump(shown, result_stream(), allow_unicode=True, sort_keys=False)
    return 0


def stored_tenant(ent_id: str):
    """The stored tenant, or NotFound (exit 1) naming it."""
    from .. import runtime
    from . import NotFound
    from .environment import use_bridge_environment

    use_bridge_environment()
    tenant = runtime.state_store().get(ent_id)
    if tenant is None:
        raise NotFound(f"no tenant {ent_id!r} is stored (o2o tenant put FILE first)")
    return tenant


def doctor_tenant(args) -> int:
    """One line per check (✓/✗ and why); exit 1 when any check fails."""
    from .. import runtime

    tenant = stored_tenant(args.ent_id)
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
    failed = [c for c in checks if not c.ok]
    warnings = sum(1 for c in checks if c.warning)
    if args.json:
        echo_json({"ent_id": tenant.ent_id, "name": tenant.name, "ok": not failed, "to_act_on": warnings,
                   "checks": [{"name": c.name, "ok": c.ok, "warning": c.warning, "reason": c.reason} for c in checks]})
        return 1 if failed else 0
    echo(f"tenant {tenant.ent_id} ({tenant.name})")
    for check in checks:
        echo(f"  {check.line()}")
    echo(f"{len(checks) - len(failed)} of {len(checks)} checks passed" + (f" ({warnings} to act on)" if warnings else ""))
    return 1 if failed else 0


def show_urls(args) -> int:
    from .onboarding import api_base_url, callback_urls, paste_notes, reveal_callback_token, urls_as_json

    tenant = stored_tenant(args.ent_id)
    base_url, source = api_base_url(args.base_url)
    if args.rotate:
        tenant, token = rotate_callback_token(tenant)
    else:
        token = reveal_callback_token(tenant) if args.reveal_token else None
    urls, notes = callback_urls(tenant, base_url, token), paste_notes(tenant)
    if args.json:
        echo_json(urls_as_json(urls, base_url, source, notes))
        return 0
    echo(f"tenant {tenant.ent_id} ({tenant.name}); base URL {base_url} from {source}")
    for url in urls:
        echo(f"\n[{url.system}] {url.setting}\n  菜单: {url.menu_path}\n  menu: {url.menu_path_en}\n  {url.url}")
    for note in notes:
        echo(f"\n[{note.system}] {note.note}\n  {note.note_en}")
    if any("<TOKEN>" in url.url for url in urls):
        echo("\n<TOKEN> is each URL's own token, derived from jushuitan.callback.token: --reveal-token puts them in")
    if args.rotate:
        echo(f"\ntenant {tenant.ent_id}: new callback token written, tenant_wide_token off. Paste every JST URL above "
             "into its 消息推送 field now: the old URLs are refused once the functions' caches turn over (at most "
             "5 min); pushes refused meanwhile are caught by the polls (S2x every 15 min, stock hourly). Set "
             "tenant_wide_token: false in the tenant file too, so a later `o2o tenant put` keeps it.")
    return 0


def rotate_callback_token(tenant):
    """A new random callback token where the tenant keeps it, and tenant_wide_token off: the
    per-URL tokens then derive from a key no old URL ever carried (an old URL's plain token is
    the key the per-URL tokens would otherwise derive from). Returns (stored tenant, new token)."""
    import secrets

    from pydantic import SecretStr

    from .. import runtime
    from ..connectors.aws.secrets_manager import write_secret
    from ..errors import BadRequest
    from ..tenant import tenant_secret_prefix
    from . import environment

    section = tenant.jushuitan
    if section is None or section.callback.secret_source("token") is None:
        raise BadRequest(f"tenant {tenant.ent_id} has no jushuitan.callback.token (or token_ref): its JST pushes are "
                         "proved by JST's sign, there is no callback token to rotate")
    callback = section.callback
    if not callback.token_ref and not environment.is_local_stack():
        raise BadRequest(f"tenant {tenant.ent_id} keeps its callback token inline: a deployed stack keeps tenant "
                         f"secrets in Secrets Manager only. Give it as token_ref: secretsmanager:"
                         f"{tenant_secret_prefix()}tenants/{tenant.ent_id}/NAME#callback_token, `o2o tenant put` the "
                         "file, then --rotate; nothing was changed")
    token = secrets.token_hex(24)
    if callback.token_ref:
        write_secret(runtime.aws_client("secretsmanager"), callback.token_ref, token)
        callback = callback.model_copy(update={"tenant_wide_token": False})
    else:
        callback = callback.model_copy(update={"token": SecretStr(token), "tenant_wide_token": False})
    rotated = tenant.model_copy(update={"jushuitan": section.model_copy(update={"callback": callback})})
    runtime.state_store().put(rotated)
    return rotated, token


def init_tenant(args) -> int:
    from .onboarding import production_template

    text = production_template(args.erp, args.warehouse, args.ent_id)
    if args.output is None:
        echo(text, end="")
        return 0
    if args.output.exists():
        from ..errors import BadRequest

        raise BadRequest(f"{args.output} exists; it is never overwritten (choose another --output)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    echo(f"wrote {args.output}: fill in every <...>, then o2o tenant put {args.output}")
    return 0


def print_schema(args) -> int:
    from .onboarding import schema_text

    echo(schema_text(), end="")
    return 0
