import pathlib

import pytest
from remote_servers import http_files, s3, s3_endpoint  # noqa: F401
from servers import (
    private_redis,  # noqa: F401
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOLDEN = ROOT.parent / "shared" / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> pathlib.Path:
    """../shared/golden beside the checkout; its absence is a failure, never a skip."""
    if not (GOLDEN / "consumer.ss").is_file():
        pytest.fail(f"golden files missing: expected them in {GOLDEN}")
    return GOLDEN
