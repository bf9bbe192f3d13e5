"""``python -m otpservice.simulator --port 8025 --api-key KEY [--api-key KEY2]``."""

from __future__ import annotations

import argparse
import os

from .server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m otpservice.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        help="accepted provider API key (repeatable; default $TURKEYSMS_API_KEY or 'dev-key')",
    )
    parser.add_argument("--sender-id", default="OTPSVC")
    args = parser.parse_args(argv)
    keys = args.api_keys or [os.environ.get("TURKEYSMS_API_KEY", "dev-key")]
    serve(args.host, args.port, api_keys=keys, sender_id=args.sender_id)


if __name__ == "__main__":
    main()
