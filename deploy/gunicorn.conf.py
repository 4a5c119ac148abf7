"""gunicorn settings of the gateway: `python -m services.gateway` (or `gunicorn -c deploy/gunicorn.conf.py`).

ONE worker process with many threads (gthread), on purpose: the gateway keeps state in its process
that several processes would split and get wrong: the sign-in throttle (failed logins counted per
process would let an attacker try N times as often), the device feed (one bus consumer fanning
readings out to this process's streams and waking its command waiters: an acknowledgement read by
another worker would never wake the request waiting for it) and the stream slots (the per-user and
total bounds of CANOPY_STREAMS_*). To serve more, run more gateways behind a load balancer, each
with its own limits. Threads: CANOPY_API_THREADS for ordinary requests plus CANOPY_STREAMS_TOTAL for
streams and command waits (the same budget `canopy up`'s waitress server gets); idle keep-alive
connections wait in the worker's poller and take no thread.

The app is built in the worker after the fork (services.gateway.wsgi.worker_app: backends, the first
administrator, device feed, heartbeat) and stopped by the worker_exit hook, so no thread or database
connection crosses the fork. SIGTERM stops gracefully: no new connections, requests in flight get
`graceful_timeout` seconds. Body limits are the app's own (services.gateway.limits), chunked bodies
included. `canopy up` keeps serving in-process with waitress.
"""

from canopy.config import load_config
from services.gateway.wsgi import stop_worker

_config = load_config()
_host = str(_config.api_host)

wsgi_app = "services.gateway.wsgi:worker_app()"
bind = [f"[{_host}]:{_config.api_port}" if ":" in _host else f"{_host}:{_config.api_port}"]
proc_name = "canopy-gateway"
worker_class = "gthread"
workers = 1
threads = int(_config.api_threads) + int(_config.streams_total)
# Idle keep-alive connections held at once (live charts poll on one connection each).
worker_connections = 1000
keepalive = 5
timeout = 30
graceful_timeout = 20
# No X-Forwarded-* header is trusted (as with waitress): sign-in throttling and cookie flags use what
# the socket says. Behind a TLS-terminating proxy on this host, list its address here.
forwarded_allow_ips = ""
# Access log off: requests are counted in /metrics; the gateway's own log lines (and gunicorn's) go
# to stderr with the other services' logs. Set accesslog = "-" to see each request.
accesslog = None
errorlog = "-"
loglevel = str(_config.log_level).lower()
worker_exit = stop_worker
# No control socket: it can change the worker count at run time (which must stay 1), and two gateways
# on one host would share its default path.
control_socket_disable = True
