"""python -m o2o_local.wdt_sandbox [--host 127.0.0.1] [--port 8804] [--no-demo] [--no-rate-limit]"""

from __future__ import annotations

import argparse
import signal
import threading

from . import WdtSandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m o2o_local.wdt_sandbox",
                                     description="Local 旺店通 ERP 企业版 open-API sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8804)
    parser.add_argument("--no-demo", action="store_true", help="start empty (no demo tenant seed)")
    parser.add_argument("--no-rate-limit", action="store_true")
    args = parser.parse_args(argv)
    sandbox = WdtSandbox(args.host, args.port)
    if not args.no_demo:
        sandbox.seed_demo()
    if args.no_rate_limit:
        sandbox.rate_limit.configure(enabled=False)
    sandbox.start()
    print(f"旺店通 sandbox on {sandbox.base_url} (admin: {sandbox.url}/__admin__/state)", flush=True)
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
