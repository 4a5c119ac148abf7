"""python -m simulators CONFIG [--duration S]: run the devices a JSON config lists until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from simulators.config import load_config_file
from simulators.runner import Fleet


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the fleet, and return an exit status."""
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    parser.add_argument("config", type=Path, help="JSON file listing the devices to simulate")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config_file(args.config)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    fleet = Fleet(config)
    fleet.connect()
    print(f"Simulating {len(fleet.devices)} devices; Ctrl-C stops.", flush=True)
    try:
        fleet.run(stop, args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        fleet.close()
    print(f"Sent {fleet.sent} readings.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
