"""The deployer's pool: a request that found the database unreachable is carried out once it is back."""

from __future__ import annotations

import threading
from typing import Any, cast

from canopy.contracts.deploy import DeployRequest
from canopy.errors import StoreUnavailable
from services.deployer.flow import Deployer
from services.deployer.service import DeployPool


class FlakyDeployer:
    """Fails with `error` on the first `failures` calls, then records the request as done."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error = failures, error
        self.calls = 0
        self.done = threading.Event()

    def handle(self, request: DeployRequest) -> None:
        """Fail, then succeed."""
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        self.done.set()


def _run(deployer: FlakyDeployer, **pool_settings: Any) -> None:
    """Submit one request to a pool around `deployer` and wait for the pool to finish."""
    pool = DeployPool(cast(Deployer, deployer), **pool_settings)
    pool.start()
    request = DeployRequest(model_id="m1", generation=2, replicas=1)
    pool.submit(request)
    deployer.done.wait(5)
    pool.stop()


def test_a_request_that_found_the_database_away_is_tried_again_until_it_is_back() -> None:
    deployer = FlakyDeployer(3, StoreUnavailable("PostgreSQL at 127.0.0.1:5432 is unavailable"))
    _run(deployer, retry=0.01)
    assert deployer.done.is_set() and deployer.calls == 4


def test_another_error_is_not_retried() -> None:
    deployer = FlakyDeployer(1, RuntimeError("bug"))
    _run(deployer, retry=0.01)
    assert not deployer.done.is_set() and deployer.calls == 1


def test_past_the_patience_the_request_is_left_for_the_next_start() -> None:
    deployer = FlakyDeployer(1000, StoreUnavailable("PostgreSQL at 127.0.0.1:5432 is unavailable"))
    _run(deployer, retry=0.01, patience=0.2)
    assert not deployer.done.is_set() and 2 < deployer.calls < 1000
