"""python -m o2o_local.wdt_sandbox [--host 127.0.0.1] [--port 8804] [--no-demo] [--no-rate-limit]"""

from __future__ import annotations

from ..sandbox_http import runner_arguments, serve_until_stopped
from . import WdtSandbox


def main(argv: list[str] | None = None) -> int:
    args = runner_arguments("o2o_local.wdt_sandbox", "Local 旺店通 ERP 企业版 open-API sandbox", 8804).parse_args(argv)
    sandbox = WdtSandbox(args.host, args.port)
    if not args.no_demo:
        sandbox.seed_demo()
    if args.no_rate_limit:
        sandbox.rate_limit.configure(enabled=False)
    return serve_until_stopped(sandbox, "旺店通 sandbox on {address}/openapi2 (admin: {url}/__admin__/state)")


if __name__ == "__main__":
    raise SystemExit(main())
