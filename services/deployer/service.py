"""Assemble the deployer: deploy requests run on a small pool; replies come back on their own loop."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from canopy.bus.base import Record
from canopy.bus.typed import Subscriber
from canopy.contracts import Envelope, topics
from canopy.contracts.deploy import DeployRequest
from canopy.deployments.records import platform_group
from canopy.runtime import Component
from canopy.runtime.backends import Backends
from canopy.runtime.subscription import SubscriptionLoop
from canopy.workloads.commands import load_or_create_signing_key
from services.deployer.flow import Deployer
from services.deployer.replies import Replies

WORKERS = 4


class DeployPool:
    """Runs deploy requests on worker threads so one slow build does not hold the others."""

    name = "deploy-pool"

    def __init__(self, deployer: Deployer) -> None:
        self.deployer = deployer
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Create the pool."""
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="deploy")

    def stop(self) -> None:
        """Finish running deployments and drop queued ones."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def on_request(self, envelope: Envelope, _record: Record) -> None:
        """Queue a deploy request."""
        if isinstance(envelope.message, DeployRequest) and self._pool is not None:
            self._pool.submit(self.deployer.handle, envelope.message)


def deployer_components(backends: Backends) -> list[Component]:
    """The deployer's reply loop, worker pool and request loop, in start order."""
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
