"""The status page: recent readings and predictions as HTML at / and as JSON at /status (stdlib only)."""

from __future__ import annotations

import html
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from watch import FEATURES, OUTPUT, Watch

ROW = "<tr class='{cls}'><td>{when}</td>{cells}<td>{p:.3f}</td></tr>"


def render(status: dict[str, Any]) -> str:
    """The HTML page of a status (relative links, so it works behind the gateway's /apps/<id>/ proxy)."""
    rows = []
    for entry in reversed(status["recent"]):
        cells = "".join(f"<td>{html.escape(str(entry['reading'].get(name, '')))}</td>" for name in FEATURES)
        when = time.strftime("%H:%M:%S", time.localtime(entry["time"]))
        rows.append(
            ROW.format(cls="alarm" if entry["alarm"] else "", when=when, cells=cells, p=entry[OUTPUT])
        )
    state = "ALARM: failure predicted" if status["alarm"] else "normal"
    error = f"<p class='error'>{html.escape(status['last_error'])}</p>" if status["last_error"] else ""
    head = "".join(f"<th>{name}</th>" for name in (*FEATURES, OUTPUT))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='2'>"
        "<title>fan-monitor</title><style>body{font-family:sans-serif}td,th{padding:2px 8px}"
        ".alarm{background:#fdd}.error{color:#a00}</style></head><body>"
        f"<h1>fan-monitor: {state}</h1>"
        f"<p>threshold {status['threshold']} · episodes {status['episodes']} · <a href='status'>JSON</a></p>"
        f"{error}<table><tr><th>time</th>{head}</tr>{''.join(rows)}</table></body></html>"
    )


def serve(watch: Watch, port: int) -> None:
    """Serve the page on all interfaces at `port` until the process ends."""

    class Handler(BaseHTTPRequestHandler):
        """GET .../status answers JSON; any other path the HTML page (whatever prefix a proxy keeps)."""

        def do_GET(self) -> None:
            """Answer the page or the JSON status."""
            if self.path.split("?", 1)[0].rstrip("/").endswith("/status"):
                body, kind = json.dumps(watch.status()).encode(), "application/json"
            else:
                body, kind = render(watch.status()).encode(), "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep request lines out of the app's log."""

    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
