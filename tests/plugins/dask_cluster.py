"""A real Dask cluster on loopback: a scheduler and 2 worker processes, started once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def dask_cluster():
    """Yields the scheduler address (tcp://127.0.0.1:PORT). Worker processes, not threads:
    LightGBM's distributed network is per process."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        memory_limit="2GiB",
        silence_logs=40,
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()
