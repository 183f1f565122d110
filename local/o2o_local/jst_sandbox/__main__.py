"""python -m o2o_local.jst_sandbox [--host 127.0.0.1] [--port 8801] [--no-demo] [--callback-base-url URL]"""

from __future__ import annotations

import argparse
import signal
import threading

from . import JstSandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m o2o_local.jst_sandbox", description="Local JST open-platform sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8801)
    parser.add_argument("--no-demo", action="store_true", help="start empty (no demo tenant seed)")
    parser.add_argument("--callback-base-url", default=None, help="where pushes go (the bridge's HTTP API)")
    parser.add_argument("--no-rate-limit", action="store_true")
    args = parser.parse_args(argv)
    sandbox = JstSandbox(args.host, args.port)
    if not args.no_demo:
        sandbox.seed_demo(callback_base_url=args.callback_base_url)
    elif args.callback_base_url:
        sandbox.configure(callback_base_url=args.callback_base_url)
    if args.no_rate_limit:
        sandbox.rate_limit.configure(enabled=False)
    sandbox.start()
    print(f"JST sandbox on {sandbox.url} (admin: {sandbox.url}/__admin__/state)", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
