"""Container healthcheck of the Canopy image: GET the service's health URL, exit 0 only on HTTP 200.

The URL is CANOPY_PROBE_URL, else the ops server's /health (CANOPY_OPS_PORT), else the gateway's.
"""

import os
import sys
import urllib.request


def health_url() -> str:
    """The URL this container's service answers its health on."""
    if os.environ.get("CANOPY_PROBE_URL"):
        return os.environ["CANOPY_PROBE_URL"]
    ops_port = os.environ.get("CANOPY_OPS_PORT", "0")
    if ops_port != "0":
        return f"http://127.0.0.1:{ops_port}/health"
    return f"http://127.0.0.1:{os.environ.get('CANOPY_API_PORT', '8080')}/api/v1/health"


if __name__ == "__main__":
    try:
        with urllib.request.urlopen(health_url(), timeout=25) as response:
            sys.exit(0 if response.status == 200 else 1)
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        sys.exit(1)
