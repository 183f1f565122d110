"""python -m o2o_local.jst_sandbox [--host 127.0.0.1] [--port 8801] [--no-demo] [--callback-base-url URL]"""

from __future__ import annotations

from ..sandbox_http import runner_arguments, serve_until_stopped
from . import JstSandbox


def main(argv: list[str] | None = None) -> int:
    parser = runner_arguments("o2o_local.jst_sandbox", "Local JST open-platform sandbox", 8801)
    parser.add_argument("--callback-base-url", default=None, help="where pushes go (the bridge's HTTP API)")
    args = parser.parse_args(argv)
    sandbox = JstSandbox(args.host, args.port)
    if not args.no_demo:
        sandbox.seed_demo(callback_base_url=args.callback_base_url)
    elif args.callback_base_url:
        sandbox.configure(callback_base_url=args.callback_base_url)
    if args.no_rate_limit:
        sandbox.rate_limit.configure(enabled=False)
    return serve_until_stopped(sandbox, "JST sandbox on {url} (admin: {url}/__admin__/state)")


if __name__ == "__main__":
    raise SystemExit(main())
