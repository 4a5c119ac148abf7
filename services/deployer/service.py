"""Assemble the deployer: deploy requests run on a small pool; replies come back on their own loop."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from canopy.bus.base import Record
from canopy.bus.typed import Subscriber
from canopy.contracts import Envelope, topics
from canopy.contracts.deploy import DeployRequest
from canopy.deployments.records import platform_group, unfinished_requests
from canopy.errors import StoreUnavailable
from canopy.runtime import Component
from canopy.runtime.backends import Backends
from canopy.runtime.subscription import SubscriptionLoop
from canopy.store import Store
from canopy.workloads.commands import load_or_create_signing_key
from services.deployer.flow import Deployer
from services.deployer.replies import Replies

log = logging.getLogger(__name__)

WORKERS = 4
STORE_RETRY = 2.0  # seconds between the attempts of a request that found the database unreachable
STORE_PATIENCE = 600.0  # then the request is left to Resume at the deployer's next start


class DeployPool:
    """Runs deploy requests on worker threads so one slow build does not hold the others.

    A request that found the database unreachable is tried again until it is back: the request was
    acknowledged and its message is committed already, so giving up would lose it.
    """

    name = "deploy-pool"

    def __init__(
        self, deployer: Deployer, retry: float = STORE_RETRY, patience: float = STORE_PATIENCE
    ) -> None:
        self.deployer = deployer
        self.retry, self.patience = retry, patience
        self._pool: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Create the pool."""
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="deploy")

    def stop(self) -> None:
        """Finish running deployments and drop queued ones."""
        self._stopping.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def on_request(self, envelope: Envelope, _record: Record) -> None:
        """Queue a deploy request."""
        if isinstance(envelope.message, DeployRequest):
            self.submit(envelope.message)

    def submit(self, request: DeployRequest) -> None:
        """Queue one request on the pool."""
        if self._pool is not None:
            self._pool.submit(self._carry_out, request)

    def _carry_out(self, request: DeployRequest) -> None:
        """Handle a request, again every `retry` seconds while the database is unreachable."""
        what = f"{request.model_id} generation {request.generation}"
        give_up = time.monotonic() + self.patience
        while True:
            try:
                self.deployer.handle(request)
                return
            except StoreUnavailable as exc:
                if self._stopping.is_set() or time.monotonic() > give_up:
                    log.error("deployment of %s is left for the deployer's next start: %s", what, exc.message)
                    return
                log.warning("deployment of %s waits for the database: %s", what, exc.message)
                self._stopping.wait(self.retry)
            except Exception:
                log.exception("deployment of %s failed", what)
                return


class Resume:
    """At start, queues every deployment a previous deployer left unfinished, from its desired state.

    Requests are committed on the bus as soon as they are queued, so a deployer that stops mid-way
    loses the message; the deployment row (written by the gateway before it publishes) still says
    what is wanted and that it is not done, and this component picks it up again.
    """

    name = "deploy-resume"

    def __init__(self, store: Store, pool: DeployPool) -> None:
        self.store = store
        self.pool = pool

    def start(self) -> None:
        """Queue the unfinished deployments."""
        with self.store.session() as session:
            requests = unfinished_requests(session)
        for request in requests:
            log.info("resuming deployment of %s generation %d", request.model_id, request.generation)
            self.pool.submit(request)

    def stop(self) -> None:
        """Nothing to release."""


def deployer_components(backends: Backends) -> list[Component]:
    """The deployer's reply loop, worker pool, resumption of unfinished work and request loop, in order."""
    replies = Replies(backends.store)
    pool = DeployPool(Deployer(backends, replies, load_or_create_signing_key(backends.config.home)))
    bus = backends.bus
    reply_group = f"deployer-replies-{uuid.uuid4().hex[:8]}"
    return [
        SubscriptionLoop(
            "deploy-replies",
            lambda: Subscriber(
                bus,
                reply_group,
                [topics.PLACEMENT, topics.WORKLOAD_EVENTS],
                replies.on_reply,
                from_beginning=False,
            ),
        ),
        pool,
        Resume(backends.store, pool),
        SubscriptionLoop(
            "deploy-requests",
            lambda: Subscriber(
                bus,
                platform_group("deployer", backends.config.db_url),
                [topics.DEPLOY_REQUESTS],
                pool.on_request,
            ),
        ),
    ]
