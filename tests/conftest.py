import pathlib

import pytest

from servers import (cluster_addr, cluster_client, kafka_bootstrap, private_redis,  # noqa: F401
                     redis_addr, redis_client, redis_key, tansu_bootstrap)

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOLDEN = ROOT.parent / "shared" / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> pathlib.Path:
    """../shared/golden beside the checkout; its absence is a failure, never a skip."""
    if not (GOLDEN / "consumer.ss").is_file():
        pytest.fail(f"golden files missing: expected them in {GOLDEN}")
    return GOLDEN
