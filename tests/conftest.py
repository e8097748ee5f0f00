import pathlib

import pytest

# The server fixtures (redis_addr, cluster_client, kafka_bootstrap, ...) live in tests/servers.py;
# S3 (moto) and the HTTP range server in tests/remote_servers.py.
pytest_plugins = ["servers", "remote_servers"]

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOLDEN = ROOT.parent / "shared" / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> pathlib.Path:
    """../shared/golden beside the checkout; its absence is a failure, never a skip."""
    if not (GOLDEN / "consumer.ss").is_file():
        pytest.fail(f"golden files missing: expected them in {GOLDEN}")
    return GOLDEN
