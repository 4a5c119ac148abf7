"""Scheduler benchmark: 1,000 booked windows, due-time jitter p99 and the scheduler's CPU and memory.

Usage: python tests/bench/scheduler.py [--bookings 1000] [--spread 30] [--lead 10] [--allowance 0.2]
           [--store postgresql://...] [--bus kafka://...]
       python tests/bench/scheduler.py --pages 10 [--lead 10]

In a throwaway CANOPY_HOME, on the embedded backends unless --store/--bus name others (with
`eval "$(canopy infra env)"` for the Kafka logins; a PostgreSQL store gets a schema of its own, dropped
afterwards): the bookings (once, 5 s each, of an app with no exclusive controller) open spread over
--spread seconds, starting 15 s after the last booking can have been made (--allowance seconds are
allowed to make each); each is prepared (instance bound, start built) --lead seconds ahead.
The jitter that counts (`start_jitter`, target p99 <= 100 ms) is the moment each window's start request
was published (the deploy request's bus timestamp) minus the window's start; `stop_jitter` is the same
for the stop request and the window's end, `fire_jitter` when APScheduler fired each job at a window's
start or end. The baseline, in the same run, is a bare APScheduler firing the same number of no-op
date jobs at the same instants. CPU is this process's CPU time over the run divided by its wall time;
memory is the peak RSS sampled every 100 ms and its growth over the run.

With --pages N, instead: window opens -> app page answering (target p95 <= 2 s). On the embedded
backends, the gateway, node manager, deployer, one process-runtime agent and the scheduler run in this
process; an end user books the bench probe app (tests/bench/app_probe.py, a page served at once) N+1
times, 5 s windows 8 s apart, each prepared --lead s ahead; from each window's start its page is
polled through the gateway every 20 ms until it answers 200. The first window (it builds the app's
environment) is reported apart.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

WINDOW = timedelta(seconds=5)
AHEAD = timedelta(seconds=15)
CREATE_ALLOWANCE = 0.2  # seconds per booking (--allowance): the windows open after every booking is made


def percentile(values: list[float], share: float) -> float:
    """The `share` percentile (0..1) of the values, in milliseconds."""
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2) if ordered else -1.0


def figures(values: list[float]) -> dict[str, float]:
    """p50, p99 and max in milliseconds."""
    return {
        "p50_ms": percentile(values, 0.5),
        "p99_ms": percentile(values, 0.99),
        "max_ms": percentile(values, 1.0),
    }


def baseline(instants: list[datetime]) -> dict[str, float]:
    """A bare APScheduler firing a no-op date job at each instant."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    late: list[float] = []
    scheduler = BackgroundScheduler(timezone=UTC, executors={"default": ThreadPoolExecutor(8)})
    scheduler.start()
    shift = datetime.now(UTC) + timedelta(seconds=2) - min(instants)
    for index, instant in enumerate(instants):
        due = instant + shift
        scheduler.add_job(
            lambda d=due: late.append((datetime.now(UTC) - d).total_seconds()),
            "date",
            run_date=due,
            id=str(index),
        )
    while len(late) < len(instants) and datetime.now(UTC) < max(instants) + shift + timedelta(seconds=10):
        time.sleep(0.2)
    scheduler.shutdown()
    return {**figures(late), "fired": len(late)}


@contextmanager
def own_schema(url: str) -> Iterator[str]:
    """A PostgreSQL URL on a fresh schema, dropped afterwards (other stores as they are)."""
    if not url.startswith("postgresql"):
        yield url
        return
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    server = make_url(url).set(drivername="postgresql+psycopg")
    schema = f"bench_sched_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        query = {"options": f"-csearch_path={schema}"}
        yield server.update_query_dict(query).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def published(bus: Any, bookings: set[str]) -> tuple[list[float], list[float], list[float]]:
    """(start request - window start, stop request - window end, started event - window start), seconds.

    Read from the bus from the beginning; the requests' timestamps are when they were published.
    """
    from canopy.contracts import decode, topics
    from canopy.contracts.bookings import BookingEvent
    from canopy.contracts.deploy import DeployRequest
    from canopy.errors import DecodeError

    consumer = bus.consumer(f"bench-sched-{uuid.uuid4().hex[:8]}", [topics.BOOKINGS, topics.DEPLOY_REQUESTS])
    windows: dict[str, tuple[datetime, datetime]] = {}
    starts: dict[str, float] = {}
    stops: dict[str, float] = {}
    events: list[float] = []
    idle = 0
    try:
        while idle < 10:
            record = consumer.poll(0.5)
            if record is None:
                idle += 1
                continue
            idle = 0
            try:
                message = decode(record.value).message
            except DecodeError:
                continue  # another client's message on a shared broker
            at = record.timestamp_ms / 1000
            if isinstance(message, BookingEvent) and message.booking_id in bookings:
                if message.kind == "started" and message.instance_id:
                    windows[message.instance_id] = (message.window_start, message.window_end)
                    events.append((message.at - message.window_start).total_seconds())
            elif isinstance(message, DeployRequest) and not message.prepare:
                if message.replicas == 1:
                    starts.setdefault(message.model_id, at)
                else:
                    stops.setdefault(message.model_id, at)
    finally:
        consumer.close()
    start_late = [starts[i] - w[0].timestamp() for i, w in windows.items() if i in starts]
    stop_late = [stops[i] - w[1].timestamp() for i, w in windows.items() if i in stops]
    return start_late, stop_late, events


PAGE_WINDOW = timedelta(seconds=5)
PAGE_GAP = timedelta(seconds=8)
PAGE_LOCATION = "bench/hall"


def page_case(count: int, lead: float) -> dict[str, Any]:
    """Window opens -> the booked app's page answering, for `count` windows after a warm-up one."""
    import requests

    home = Path(tempfile.mkdtemp(prefix="canopy-bench-pages-"))
    for key in [k for k in os.environ if k.startswith("CANOPY_")]:
        os.environ.pop(key)
    os.environ.update(
        {
            "CANOPY_HOME": str(home),
            "CANOPY_BOOKING_LEAD_SECONDS": str(lead),
            "CANOPY_LOG_LEVEL": "WARNING",
            "CANOPY_ADMIN_PASSWORD": "bench-password-1",
        }
    )
    from canopy import devices
    from canopy.bookings.records import BookingWindow
    from canopy.config import load_config
    from canopy.roles import Role
    from canopy.runtime import Service
    from canopy.runtime.backends import open_backends
    from services.gateway import accounts
    from services.scheduler.service import scheduler_components
    from tests.bench.app_probe import PROBE_TYPE, TYPE_NAME, probe_package
    from tests.deploy_helpers import running_platform, wait_for

    backends = open_backends(load_config())
    with backends.store.session() as session:
        tokens = {
            name: accounts.issue_token(
                session, accounts.create_user(session, name, role, "password-123"), timedelta(hours=2)
            ).secret
            for name, role in (("bench-dev", Role.APP_DEVELOPER), ("eve", Role.END_USER))
        }
        devices.register_type(session, devices.parse_type(PROBE_TYPE))
        spec = {"id": "probe-1", "type": TYPE_NAME, "location": PAGE_LOCATION, "transport": "http"}
        devices.create_device(session, devices.parse_device(spec))
    http = requests.Session()
    latencies: list[float] = []
    with running_platform(backends, home, "process") as gateway:
        api = gateway.url
        package = {"file": ("probe.zip", probe_package("1.0.0"))}
        reply = http.post(
            f"{api}/api/v1/apps", files=package, headers=_bearer(tokens["bench-dev"]), timeout=60
        )
        reply.raise_for_status()
        app_id = reply.json()["id"]
        scheduler = Service("bench-scheduler", scheduler_components(backends))
        scheduler.start()
        try:
            first = (datetime.now(UTC) + timedelta(seconds=lead + 5)).replace(microsecond=0)
            booked = []
            for index in range(count + 1):
                start = first + index * PAGE_GAP
                body = {
                    "app": app_id,
                    "location": PAGE_LOCATION,
                    "start": start.isoformat(),
                    "end": (start + PAGE_WINDOW).isoformat(),
                }
                answer = http.post(
                    f"{api}/api/v1/bookings", json=body, headers=_bearer(tokens["eve"]), timeout=30
                )
                answer.raise_for_status()
                booked.append((answer.json()["id"], start))
            for booking_id, start in booked:

                def bound(booking_id: str = booking_id) -> str | None:
                    with backends.store.session() as session:
                        row = session.query(BookingWindow).filter_by(booking_id=booking_id).first()
                        return row.instance_id if row is not None else None

                instance_id = wait_for(bound, 120, f"the preparation of {booking_id}")
                latencies.append(_page_answers(http, f"{api}/apps/{instance_id}/", tokens["eve"], start))
        finally:
            scheduler.stop()
    backends.close()
    timed = latencies[1:]
    return {
        "windows": count,
        "lead_s": lead,
        "warmup_s": round(latencies[0], 3) if latencies else -1.0,
        "p50_s": round(percentile(timed, 0.5) / 1000, 3),
        "p95_s": round(percentile(timed, 0.95) / 1000, 3),
        "max_s": round(percentile(timed, 1.0) / 1000, 3),
        "target_p95_s": 2.0,
    }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _page_answers(http: Any, url: str, token: str, start: datetime) -> float:
    """Seconds from `start` until the page answers 200 (polled every 20 ms from `start`)."""
    import requests

    while datetime.now(UTC) < start:
        time.sleep(0.005)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if http.get(url, headers=_bearer(token), timeout=2).status_code == 200:
                return (datetime.now(UTC) - start).total_seconds()
        except requests.RequestException:
            pass
        time.sleep(0.02)
    return float("inf")


def main() -> None:
    """Book, run the scheduler until every window has ended, print the figures as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--bookings", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=30.0)
    parser.add_argument("--lead", type=float, default=10.0, help="seconds ahead each window is prepared")
    parser.add_argument(
        "--allowance", type=float, default=CREATE_ALLOWANCE, help="seconds allowed per booking made"
    )
    parser.add_argument("--store", default="", help="CANOPY_DB_URL (default: embedded SQLite)")
    parser.add_argument("--bus", default="", help="CANOPY_BUS_URL (default: embedded SQLite)")
    parser.add_argument("--pages", type=int, default=0, help="measure window opens -> page answering")
    args = parser.parse_args()
    if args.pages:
        print(json.dumps({"window_to_page": page_case(args.pages, args.lead)}, indent=2))
        return
    with own_schema(args.store) as store:
        run(args, store)


def run(args: argparse.Namespace, store: str) -> None:
    """The benchmark on the chosen backends."""
    home = tempfile.mkdtemp(prefix="canopy-bench-scheduler-")
    os.environ.update(
        {"CANOPY_HOME": home, "CANOPY_BOOKING_LEAD_SECONDS": str(args.lead), "CANOPY_LOG_LEVEL": "WARNING"}
    )
    for key, value in (("CANOPY_DB_URL", store), ("CANOPY_BUS_URL", args.bus)):
        if value:
            os.environ[key] = value
        else:
            os.environ.pop(key, None)
    os.environ.setdefault("CANOPY_ADMIN_PASSWORD", "bench-password-1")

    from zoneinfo import ZoneInfo

    from canopy.bookings.records import BookingWindow
    from canopy.bookings.repository import create_booking
    from canopy.bookings.requests import BookingInput, Limits
    from canopy.bookings.schedule import Once
    from canopy.config import load_config
    from canopy.roles import Role
    from canopy.runtime.backends import open_backends
    from services.gateway import accounts
    from services.gateway.service import bootstrap_admin
    from services.scheduler.service import scheduler_components
    from tests.app_world import ROOM, add_app, seed_devices

    backends = open_backends(load_config())
    bootstrap_admin(backends)
    with backends.store.session() as session:
        accounts.create_user(session, "user-app-developer", Role.APP_DEVELOPER, "password-123")
        user_id = accounts.create_user(session, "eve", Role.END_USER, "password-123").id
    seed_devices(backends)
    app_id = add_app(
        backends,
        "user-app-developer",
        {"name": "watcher", "entry": "app:main", "devices": [{"name": "t", "type": "THERMOMETER"}]},
    )
    limits = Limits(max_length=timedelta(hours=1), horizon=timedelta(days=1))
    allowance = timedelta(seconds=args.allowance)
    first = (datetime.now(UTC) + AHEAD + args.bookings * allowance).replace(microsecond=0)
    step = timedelta(seconds=args.spread / args.bookings)
    created = time.monotonic()
    instants: list[datetime] = []
    booked: set[str] = set()
    for index in range(args.bookings):
        start = first + index * step
        schedule = Once(start, start + WINDOW)
        request = BookingInput(app_id, ROOM, schedule, ZoneInfo("UTC"), start, start + WINDOW)
        booked.add(create_booking(backends.store, user_id, request, datetime.now(UTC), limits).id)
        instants += [start, start + WINDOW]
    booking_seconds = time.monotonic() - created
    if datetime.now(UTC) > first - timedelta(seconds=args.lead):
        raise SystemExit(f"making the bookings took {booking_seconds:.0f} s: the first windows are too close")
    due_instants = set(instants)
    fired: list[float] = []
    components = scheduler_components(
        backends,
        lambda _b, due, at: fired.append((at - due).total_seconds()) if due in due_instants else None,
    )
    process = psutil.Process()
    peak = rss_start = process.memory_info().rss
    stop_sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop_sampling.wait(0.1):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu_before, wall_before = process.cpu_times(), time.monotonic()
    for component in components:
        component.start()
    deadline = max(instants) + timedelta(seconds=30)
    while datetime.now(UTC) < deadline:
        with backends.store.session() as session:
            open_windows = session.query(BookingWindow).filter(BookingWindow.state != "ended").count()
            ended = session.query(BookingWindow).filter(BookingWindow.state == "ended").count()
        if ended >= args.bookings and open_windows == 0:
            break
        time.sleep(0.5)
    wall = time.monotonic() - wall_before
    cpu_after = process.cpu_times()
    for component in reversed(components):
        component.stop()
    stop_sampling.set()
    with backends.store.session() as session:
        rows = session.query(BookingWindow).all()
        outcomes: dict[str, int] = {}
        for row in rows:
            outcomes[row.outcome] = outcomes.get(row.outcome, 0) + 1
    start_late, stop_late, event_late = published(backends.bus, booked)
    backends.close()
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    report: dict[str, Any] = {
        "bookings": args.bookings,
        "spread_s": args.spread,
        "lead_s": args.lead,
        "store": str(backends.config.db_url).split("://")[0],
        "bus": str(backends.config.bus_url).split("://")[0],
        "booking_create_ms_each": round(1000 * booking_seconds / args.bookings, 2),
        "start_jitter": {**figures(start_late), "started": len(start_late), "target_p99_ms": 100},
        "stop_jitter": {**figures(stop_late), "stopped": len(stop_late)},
        "started_event_jitter": figures(event_late),
        "fire_jitter": {**figures(fired), "fired": len(fired)},
        "baseline_apscheduler_noop": baseline(instants),
        "outcomes": outcomes,
        "cpu_percent_of_one_core": round(100 * cpu / wall, 1) if wall else 0.0,
        "rss_mb_start": round(rss_start / 2**20, 1),
        "rss_mb_peak": round(peak / 2**20, 1),
        "wall_s": round(wall, 1),
        "mean_fire_jitter_ms": round(1000 * statistics.fmean(fired), 2) if fired else -1.0,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
