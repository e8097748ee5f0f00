"""``ssfile decode``: golden conformance with upstream ss-decode, and every error path."""

from __future__ import annotations

import pytest

from ssfile.cli import main

GOLDEN = ["sample-1", "consumer", "multi-stream", "long-payloads", "no-eos"]
OUTPUTS = {  # golden suffix -> our arguments
    "decode.log": [],
    "decode.ndjson": ["--format", "ndjson"],
    "header-only.log": ["--header-only"],
}


def decode(capsysbinary, *argv: str) -> tuple[int, bytes, bytes]:
    code = main(["decode", *argv])
    out, err = capsysbinary.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", GOLDEN)
@pytest.mark.parametrize("suffix", sorted(OUTPUTS))
def test_golden_output_is_byte_identical(golden_dir, capsysbinary, name, suffix):
    expected = (golden_dir / f"{name}.{suffix}").read_bytes()
    code, out, err = decode(capsysbinary, str(golden_dir / f"{name}.ss"), *OUTPUTS[suffix])
    assert (code, err) == (0, b"")
    assert out == expected
