"""ssfile/format/layouts.py (the struct twin the read paths use) equals ssfile/format/schema.py
(the construct declaration), and reading a file never imports construct."""

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ss_strategies import encode_file, file_headers

from ssfile.errors import BadMagic, FieldError, FormatError, UnsupportedVersion
from ssfile.format import constants as K
from ssfile.format import layouts, schema
from ssfile.format.records import FileHeader


def test_struct_formats_equal_the_ones_read_off_the_declarations():
    for name in ("FRAME_FIXED_FMT", "FRAME_TRAILER_FMT", "MARKER_FIXED_FMT", "BEACON_HEAD_FMT"):
        assert getattr(layouts, name) == getattr(schema, name), name
    fields = [
        sc for sc in schema.FileHeaderLayout.subcons if sc.name in ("created_at", "beacon_interval")
    ]
    assert layouts.HEADER_TAIL_FMT == schema._fmt(*fields)


def _outcome(parse, data: bytes, offset: int):
    """The header, or (error class, message, offset) of what ``parse`` raises."""
    try:
        return parse(data, offset)
    except FormatError as err:
        return type(err), str(err), err.offset


def _same(data: bytes, offset: int = 0):
    got = _outcome(layouts.parse_file_header, data, offset)
    assert got == _outcome(schema.parse_file_header, data, offset)
    return got


@settings(max_examples=200, deadline=None)
@given(file_headers, st.integers(0, 1 << 40))
def test_valid_headers_build_and_parse_identically(header, offset):
    data = layouts.build_file_header(header)
    assert data == schema.build_file_header(header)
    assert _same(data, offset) == header
    assert _same(data + b"\x0d\x00more", offset) == header


@settings(max_examples=400, deadline=None)
@given(
    file_headers,
    st.integers(0, K.HEADER_SIZE + 4),
    st.lists(st.tuples(st.integers(0, K.HEADER_SIZE - 1), st.integers(0, 255)), max_size=4),
    st.integers(0, 1 << 40),
)
def test_damaged_headers_fail_identically(header, cut, edits, offset):
    """Truncations and byte edits anywhere (magic, version, name length and bytes, created_at,
    interval, padding): the same header or the same error class, message and offset."""
    data = bytearray(schema.build_file_header(header))
    for pos, value in edits:
        data[pos] = value
    _same(bytes(data[:cut]), offset)


@pytest.mark.parametrize(
    "edit,expected",
    [
        ({0: 0x73}, BadMagic),
        ({2: 2}, UnsupportedVersion),
        ({3: 113}, FieldError),  # name length
        ({3: 255}, FieldError),
        ({4: 0xFF}, FieldError),  # invalid UTF-8 in the name ("x" at 4)
        ({5: 0xFF, 6: 0xFF}, FieldError),  # created_at beyond year 9999
        ({13: 0, 14: 0, 15: 0, 16: 127}, FieldError),  # interval 127
        ({13: 0, 14: 0, 15: 0, 16: 128}, FileHeader),  # interval 128: fine
        ({3: 112, 127: 0x80}, FileHeader),  # a 112-byte name (zero padding): reads
    ],
)
def test_each_error_case_of_the_declaration(edit, expected):
    data = bytearray(schema.build_file_header(FileHeader("x", 1, 1024)))
    for pos, value in edit.items():
        data[pos] = value
    got = _same(bytes(data), 1000)
    assert isinstance(got, FileHeader) if expected is FileHeader else got[0] is expected
    for cut in (0, 1, 2, 3, 4, 20, 127):
        assert issubclass(_same(bytes(data[:cut]), 1000)[0], FormatError)


def test_build_refuses_a_name_too_long_as_the_declaration_does():
    header = FileHeader("n" * 112, 1, 1024)
    with pytest.raises(ValueError):
        schema.build_file_header(header)
    with pytest.raises(ValueError):
        layouts.build_file_header(header)


_READ_EVERYTHING = """
import sys
import ssfile
from ssfile.cli import main

path = sys.argv[1]
with ssfile.open(path) as r:
    next(iter(r))
    r.seek_time(1005)
    list(r)
for argv in (["cat", path, "--since", "1005", "--limit", "1"], ["info", path], ["decode", path]):
    assert main(argv) == 0, argv
print("construct" in sys.modules, sorted(m for m in sys.modules if m.startswith("construct")))
"""


def test_reading_a_file_does_not_import_construct(tmp_path):
    """Open, iterate, seek_time, ``ssfile cat``, ``info`` and ``decode``: all without construct."""
    messages = [("k", 0, i, 1000 + i, b"x" * 50) for i in range(40)]
    path = tmp_path / "f.ss"
    path.write_bytes(encode_file(256, messages))
    out = subprocess.run(
        [sys.executable, "-c", _READ_EVERYTHING, str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.splitlines()[-1] == "False []"
