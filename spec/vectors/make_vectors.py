#!/usr/bin/env python3
"""Build the byte vectors of spec/vectors/ by hand, from the tables of spec/ss-format.md.

Every byte is packed here with ``struct`` following the spec; beacon placement, marker
choice and running checksums are computed from the spec's rules, not by ssfile's encoder,
so the vectors check our decoder (and encoder) independently.  The one thing borrowed
from ssfile is the CRC function (itself checked against the published check value below).

    .venv/bin/python spec/vectors/make_vectors.py          # rewrite NAME.hex / NAME.json
    .venv/bin/python spec/vectors/make_vectors.py --check  # exit 1 if any file would change

The output is deterministic; tests/test_spec.py checks the checked-in files are current.
"""

from __future__ import annotations

import json
import pathlib
import struct
import sys

from ssfile.format.crc import crc16_py as crc16

assert crc16(b"123456789") == 0x4C06, "CRC-16/CDMA2000 check value"

HERE = pathlib.Path(__file__).resolve().parent
CR = 0x0D
INTERNAL = "SEA_STREAMER_INTERNAL"
T0 = 1_700_000_000_000          # 2023-11-14T22:13:20Z, the created_at of every vector
ROW = 16                        # hex bytes per line


def u8(v: int) -> bytes:
    return struct.pack(">B", v)


def u16(v: int) -> bytes:
    return struct.pack(">H", v)


def u32(v: int) -> bytes:
    return struct.pack(">I", v)


def u64(v: int) -> bytes:
    return struct.pack(">Q", v)


def short_string(raw: bytes) -> bytes:
    return u8(len(raw)) + raw


def num_markers(interval: int) -> int:
    """Spec "Marker count": half of what fits at the largest marker size (282 bytes)."""
    fit = 0 if interval < 7 else min(255, (interval - 7) // 282)
    return fit // 2


def running(crcs: list[int]) -> int:
    """Spec "Running checksum": the CRC of the big-endian payload checksums, in order."""
    return crc16(b"".join(u16(c) for c in crcs))


class Vector:
    """One vector: physical bytes with a comment per field, and the expected events."""

    def __init__(self, name: str, description: str, *, interval: int, file_name: str | None = None,
                 writer_output: bool = False) -> None:
        self.name = name
        self.description = description
        self.interval = interval
        self.file_name = name + ".ss" if file_name is None else file_name
        self.writer_output = writer_output
        self.lines: list[tuple[int, str, bytes]] = []   # (offset, comment, bytes)
        self.events: list[dict[str, object]] = []
        self.spans: list[tuple[int, int, int | None]] = []  # per event: start, end, cut frame start
        self.error: dict[str, object] | None = None
        self.after_error: list[dict[str, object]] = []
        self.header: dict[str, object] | None = None
        self.streams: dict[tuple[bytes, int], dict[str, object]] = {}
        self.markers_emitted = 0

    @property
    def offset(self) -> int:
        return sum(len(b) for _, _, b in self.lines)

    def put(self, comment: str, data: bytes) -> None:
        self.lines.append((self.offset, comment, data))

    # ---- the file header (spec table "File header") --------------------------------------

    def file_header(self, *, magic: bytes = b"Ss", version: int = 1, name: bytes | None = None,
                    padding: bytes | None = None, created_at: int = T0) -> None:
        raw = self.file_name.encode() if name is None else name
        self.put("magic", magic)
        self.put("version", u8(version))
        self.put(f"file_name ({len(raw)} bytes)", short_string(raw))
        self.put("created_at", u64(created_at))
        self.put("beacon_interval", u32(self.interval))
        if padding is None:
            padding = bytes(112 - len(raw) - 1) + u8(CR) if len(raw) < 112 else b""
        if padding:
            self.put(f"padding ({len(padding)} bytes)", padding)
        self.header = {"file_name": raw.decode(errors="replace"), "created_at_ms": created_at,
                       "beacon_interval": self.interval}
        if self.offset == self.interval:            # I == 128: a beacon right after the header
            self.beacon(0, cut=None)

    # ---- frames and beacons (spec tables "Message frame", "Beacon", "Marker") --------------

    @staticmethod
    def frame_fields(key: bytes, shard: int, seq: int, ts: int, payload: bytes, *,
                     checksum: int | None = None, separator: int = CR) -> list[tuple[str, bytes]]:
        crc = crc16(payload) if checksum is None else checksum
        return [("stream_key", short_string(key)), ("shard_id", u64(shard)), ("sequence", u64(seq)),
                ("timestamp", u64(ts)), ("payload_size", u32(len(payload))), ("payload", payload),
                ("checksum", u16(crc)), ("separator", u8(separator))]

    def write(self, key: str | bytes, seq: int, ts: int, payload: bytes, *, shard: int = 0,
              checksum: int | None = None, separator: int = CR, track: bool = True,
              final_beacon: bool = True) -> None:
        """Lay one frame out as a writer does: a beacon at every multiple of the interval."""
        kb = key.encode() if isinstance(key, str) else key
        if track:                                   # stream state is updated before the bytes
            st = self.streams.setdefault((kb, shard), {"seq": seq, "ts": ts, "crcs": []})
            st["seq"] = max(st["seq"], seq)         # type: ignore[call-overload]
            st["ts"] = max(st["ts"], ts)            # type: ignore[call-overload]
            st["crcs"].append(crc16(payload) if checksum is None else checksum)  # type: ignore[union-attr]
        fields = self.frame_fields(kb, shard, seq, ts, payload, checksum=checksum, separator=separator)
        total = sum(len(b) for _, b in fields)
        start = self.offset
        done = 0
        self.put(f"--- frame: stream {kb.decode(errors='replace')!r} shard {shard} seq {seq}, "
                 f"{total} bytes", b"")
        for name, data in fields:
            pos = 0
            while pos < len(data) or (not data and pos == 0):
                room = self.interval - self.offset % self.interval
                chunk = data[pos:pos + room]
                self.put(name + (" (continued)" if pos else ""), chunk)
                pos += len(chunk)
                done += len(chunk)
                if not data:
                    break
                if self.offset % self.interval == 0 and done < total:
                    self.beacon(total - done, cut=start)
        ev = {"type": "message", "offset": start, "stream_key": kb.decode(errors="replace"),
              "shard_id": shard, "sequence": seq, "timestamp_ms": ts, "payload_hex": payload.hex()}
        if kb == INTERNAL.encode() and payload == b"EOS":
            ev["type"] = "eos"
        self._event(ev, start, None)
        if self.offset % self.interval == 0 and final_beacon:   # the frame ended on a boundary
            self.beacon(0, cut=None)

    def beacon(self, remaining: int, *, cut: int | None) -> None:
        pairs = sorted(self.streams)                # key bytes, then shard
        chosen = []
        if pairs and num_markers(self.interval):
            first = self.markers_emitted % len(pairs)
            chosen = (pairs[first:] + pairs)[:min(len(pairs), num_markers(self.interval))]
        start = self.offset
        index = start // self.interval
        self.put(f"=== beacon {index} at {start}", b"")
        self.put("separator", u8(CR))
        self.put(f"remaining_messages_bytes {remaining}", u32(remaining))
        self.put(f"markers: count {len(chosen)}", u8(len(chosen)))
        markers = []
        for kb, shard in chosen:
            st = self.streams[(kb, shard)]
            run = running(st["crcs"])               # type: ignore[arg-type]
            self.put(f"  marker {kb.decode()!r}/{shard}: stream_key", short_string(kb))
            self.put("  shard_id, sequence, timestamp", u64(shard) + u64(st["seq"]) + u64(st["ts"]))  # type: ignore[arg-type]
            self.put(f"  running_checksum 0x{run:04X}", u16(run))
            markers.append({"stream_key": kb.decode(), "shard_id": shard, "sequence": st["seq"],
                            "timestamp_ms": st["ts"], "running_checksum": run})
        self.put("terminator", u8(CR))
        self.markers_emitted += len(chosen)
        self._event({"type": "beacon", "offset": start, "index": index,
                     "remaining_messages_bytes": remaining, "markers": markers}, start, cut)

    def _event(self, ev: dict[str, object], start: int, cut: int | None) -> None:
        self.events.append(ev)
        self.spans.append((start, self.offset, cut))

    # ---- endings ------------------------------------------------------------------------------

    def truncate(self, size: int) -> None:
        """Cut the file at ``size``: records not wholly before it are gone; a TruncatedError
        names the start of the first incomplete frame or frame-boundary beacon."""
        kept: list[tuple[int, str, bytes]] = []
        for off, comment, data in self.lines:
            if off < size:
                kept.append((off, comment if off + len(data) <= size else comment + " (torn)",
                             data[:size - off]))
        self.lines = kept
        torn = [s for (s, e, cut) in self.spans if s < size < e and cut is None]
        keep = [(ev, sp) for ev, sp in zip(self.events, self.spans)
                if sp[1] <= size and not (sp[2] is not None and sp[2] in torn)]
        self.events = [ev for ev, _ in keep]
        self.spans = [sp for _, sp in keep]
        if torn:
            self.fail("TruncatedError", min(torn))

    def fail(self, cls: str, offset: int) -> None:
        self.error = {"class": cls, "offset": offset}

    # ---- output -------------------------------------------------------------------------------

    def data(self) -> bytes:
        return b"".join(b for _, _, b in self.lines)

    def hex_text(self) -> str:
        out = [f"# {self.name}: {self.description}",
               "# format: hex bytes; '#' starts a comment; whitespace is ignored", ""]
        for off, comment, data in self.lines:
            if not data:
                out.append(f"# {comment}")
                continue
            for i in range(0, len(data), ROW):
                row = " ".join(f"{b:02x}" for b in data[i:i + ROW])
                note = f"@{off} {comment}" if i == 0 else ""
                out.append(f"{row:<48}  # {note}".rstrip() if note else row)
        return "\n".join(out) + "\n"

    def json_text(self) -> str:
        """Top-level keys one per line; each event compact on its own line."""
        doc: dict[str, object] = {"description": self.description,
                                  "writer_output": self.writer_output, "size": len(self.data()),
                                  "header": self.header, "events": self.events, "error": self.error}
        if self.after_error:
            doc["after_error"] = self.after_error
        lines = []
        for key, value in doc.items():
            if isinstance(value, list):
                items = ",\n".join("  " + json.dumps(ev) for ev in value)
                text = "[\n" + items + "\n ]" if value else "[]"
            else:
                text = json.dumps(value)
            lines.append(f" {json.dumps(key)}: {text}")
        return "{\n" + ",\n".join(lines) + "\n}\n"


# ---------------------------------------------------------------------------------------------
# the vectors


def header_only() -> Vector:
    v = Vector("header-only", "a file with a header and nothing else", interval=1024,
               writer_output=True)
    v.file_header()
    return v


def one_message() -> Vector:
    v = Vector("one-message", "one message, no EOS", interval=1024, writer_output=True)
    v.file_header()
    v.write("clock", 1, T0 + 1, b"tick-1")
    return v


def eos() -> Vector:
    v = Vector("eos", "two messages then the end-of-stream frame", interval=1024,
               writer_output=True)
    v.file_header()
    v.write("clock", 1, T0 + 1, b"tick-1")
    v.write("clock", 2, T0 + 2, b"tick-2")
    v.write(INTERNAL, 0, T0 + 3, b"EOS")
    return v


def interval_128() -> Vector:
    v = Vector("interval-128", "I = 128: an empty beacon at 128, the first frame at 135",
               interval=128, writer_output=True)
    v.file_header()
    v.write("a", 1, T0, b"x")
    v.write(INTERNAL, 0, T0, b"EOS")
    return v


def splice_one() -> Vector:
    v = Vector("splice-one", "I = 640: beacon 1 cuts a frame inside its sequence field; its "
               "one marker describes that very frame", interval=640, writer_output=True)
    v.file_header()
    v.write("a", 1, T0 + 1, bytes(range(200)))      # 233 bytes, ends at 361
    v.write("b", 7, T0 + 2, b"B" * 230)              # 263 bytes, ends at 624
    v.write("a", 2, T0 + 3, b"second a")            # 41 bytes: 16 before the beacon
    v.write(INTERNAL, 0, T0 + 4, b"EOS")
    return v


def splice_two() -> Vector:
    v = Vector("splice-two", "I = 128: one 282-byte frame cut by beacons 2 and 3 "
               "(remaining 161, then 40)", interval=128, writer_output=True)
    v.file_header()
    v.write("long", 1, T0, bytes(i % 251 for i in range(246)))
    return v


def splice_markers() -> Vector:
    v = Vector("splice-markers", "I = 640, streams a/0, a/1, bb/0: one frame cut by beacons 1, 2 "
               "and 3; markers rotate over the sorted (key, shard) pairs", interval=640,
               writer_output=True)
    v.file_header()
    v.write("bb", 5, T0 + 10, b"bb-5")
    v.write("a", 9, T0 + 20, b"a1-9", shard=1)
    v.write("a", 3, T0 + 30, b"a0-3")
    v.write("a", 4, T0 + 25, bytes(range(256)) * 7)  # ts below the maximum: markers keep T0+30
    v.write("bb", 6, T0 + 40, b"bb-6")
    return v


def beacon_on_boundary() -> Vector:
    v = Vector("beacon-on-boundary", "I = 640: a frame ends exactly at 640; beacon 1 "
               "(remaining 0) follows it at once", interval=640, writer_output=True)
    v.file_header()
    v.write("a", 1, T0, b"P" * 479)                  # 33 + 479 = 512 bytes: [128, 640)
    v.write("a", 2, T0 + 1, b"after")
    return v


def ends_on_boundary() -> Vector:
    v = Vector("ends-on-boundary", "a complete frame ends exactly at 640 and the file ends "
               "there, without the beacon a writer would add: a clean end", interval=640)
    v.file_header()
    v.write("a", 1, T0, b"P" * 479, final_beacon=False)
    return v


def empty_payload() -> Vector:
    v = Vector("empty-payload", "a frame with a zero-length payload (checksum 0xFFFF)",
               interval=1024, writer_output=True)
    v.file_header()
    v.write("e", 1, T0, b"")
    v.write("e", 2, T0, b"!")
    return v


def empty_key() -> Vector:
    v = Vector("empty-key", "a frame whose stream key is empty: readable, never written by "
               "ssfile", interval=1024)
    v.file_header()
    v.write("", 1, T0, b"no key")
    return v


def bad_magic() -> Vector:
    v = Vector("bad-magic", "the file starts with 'SS', not 'Ss'", interval=1024)
    v.file_header(magic=b"SS")
    v.header = None
    v.events = []
    v.fail("BadMagic", 0)
    return v


def bad_version() -> Vector:
    v = Vector("bad-version", "version byte 2", interval=1024)
    v.file_header(version=2)
    v.header = None
    v.write("a", 1, T0, b"x", track=False)
    v.events = []
    v.fail("UnsupportedVersion", 2)
    return v


def bad_crc() -> Vector:
    v = Vector("bad-crc", "the first frame's stored checksum is wrong; the next frame is "
               "good and can still be read", interval=1024)
    v.file_header()
    v.write("a", 1, T0, b"hello", checksum=crc16(b"hello") ^ 0x0001)
    v.write("a", 2, T0 + 1, b"world")
    first, second = v.events
    v.events = []
    v.after_error = [second]
    v.fail("ChecksumMismatch", int(first["offset"]))  # type: ignore[call-overload]
    return v


def truncated_frame() -> Vector:
    v = Vector("truncated-frame", "the file ends inside the second frame", interval=1024)
    v.file_header()
    v.write("a", 1, T0, b"whole")
    v.write("a", 2, T0 + 1, b"torn apart")
    v.truncate(v.offset - 9)
    return v


def truncated_beacon() -> Vector:
    v = Vector("truncated-beacon", "a frame ends at 640 and the file ends 3 bytes into "
               "beacon 1", interval=640)
    v.file_header()
    v.write("a", 1, T0, b"P" * 479)
    v.truncate(643)
    return v


def truncated_spliced() -> Vector:
    v = Vector("truncated-spliced", "the file ends after beacon 1 but inside the frame it "
               "cuts: the error names the frame, the beacon is not reported", interval=640)
    v.file_header()
    v.write("a", 1, T0, b"first")
    v.write("a", 2, T0 + 1, b"Q" * 600)
    v.truncate(700)
    return v


def file_name_112() -> Vector:
    v = Vector("file-name-112", "a 112-byte file name leaves no padding: readable, never "
               "written (writers stop at 111)", interval=1024, file_name="n" * 109 + ".ss")
    v.file_header()
    v.write("a", 1, T0, b"x")
    return v


def file_name_113() -> Vector:
    v = Vector("file-name-113", "a file name length byte of 113 cannot fit the header",
               interval=1024)
    v.put("magic", b"Ss")
    v.put("version", u8(1))
    v.put("file_name length 113", u8(113))
    v.put("file_name and the rest", b"m" * 124)
    v.fail("FieldError", 3)
    return v


def interval_too_small() -> Vector:
    v = Vector("interval-too-small", "beacon_interval 127 is below the minimum 128",
               interval=127, file_name="x.ss")
    v.file_header()
    v.header = None
    v.fail("FieldError", 4 + len("x.ss") + 8)
    return v


def eos_then_frames() -> Vector:
    v = Vector("eos-then-frames", "frames after the EOS (as an upstream append to a small "
               "file leaves them): readers stop at the EOS", interval=1024)
    v.file_header()
    v.write("a", 1, T0, b"before")
    v.write(INTERNAL, 0, T0 + 1, b"EOS")
    v.write("a", 2, T0 + 2, b"hidden")
    v.put("garbage after the EOS", b"\xff" * 5)
    v.events = v.events[:2]
    return v


def ignored_bytes() -> Vector:
    v = Vector("ignored-bytes", "non-zero header padding and separators that are not 0x0D: "
               "readers do not look at them", interval=640)
    v.file_header(padding=bytes(range(1, 113 - len(v.file_name))))
    v.write("a", 1, T0, b"sep-00", separator=0x00)
    body = 640 - v.offset - 33                      # the next frame ends exactly at 640
    v.write("a", 2, T0, b"z" * body, separator=0xAA)
    # rewrite beacon 1's separators: lead and terminator are not checked either
    i = next(i for i, line in enumerate(v.lines) if line[1] == "separator" and line[0] == 640)
    v.lines[i] = (640, "separator (not 0x0D)", b"\x00")
    j = next(j for j in range(i, len(v.lines)) if v.lines[j][1] == "terminator")
    v.lines[j] = (v.lines[j][0], "terminator (not 0x0D)", b"\x7f")
    v.write("a", 3, T0, b"end")
    return v


def bad_stream_key() -> Vector:
    v = Vector("bad-stream-key", "a stream key with a space is not a valid key", interval=1024)
    v.file_header()
    v.write("ok", 1, T0, b"fine")
    v.write(b"no good", 1, T0, b"bad")
    v.events = v.events[:1]
    v.fail("FieldError", int(v.spans[1][0]))
    return v


def timestamp_out_of_range() -> Vector:
    v = Vector("timestamp-out-of-range", "timestamp 253402300800000 ms is after "
               "9999-12-31T23:59:59.999Z", interval=1024)
    v.file_header()
    v.write("a", 1, 253_402_300_800_000, b"late")
    v.events = []
    v.fail("FieldError", 128)
    return v


def truncated_header() -> Vector:
    v = Vector("truncated-header", "only 100 of the 128 header bytes", interval=1024)
    v.file_header()
    v.header = None
    v.truncate(100)
    v.fail("TruncatedError", 0)
    return v


def bad_marker_key() -> Vector:
    v = Vector("bad-marker-key", "beacon 1's marker has the key ' ', which is not a valid key: "
               "the error names the beacon", interval=640)
    v.file_header()
    v.write("a", 1, T0, b"P" * 479)
    i = next(i for i, line in enumerate(v.lines) if line[1].endswith(": stream_key") and line[0] > 640)
    v.lines[i] = (v.lines[i][0], "  marker stream_key ' ' (invalid)", short_string(b" "))
    v.events = v.events[:1]
    v.fail("FieldError", 640)
    return v


def file_name_not_utf8() -> Vector:
    v = Vector("file-name-not-utf8", "the file name bytes are not UTF-8", interval=1024)
    v.file_header(name=b"\xff\xfe.ss")
    v.header = None
    v.fail("FieldError", 4)
    return v


def created_at_out_of_range() -> Vector:
    v = Vector("created-at-out-of-range", "the header's created_at is 2^63 - 1 ms, far beyond "
               "9999-12-31T23:59:59.999Z: the error names the field", interval=1024)
    v.file_header(created_at=(1 << 63) - 1)
    v.header = None
    v.fail("FieldError", 4 + len(v.file_name))
    return v


VECTORS = [header_only, one_message, eos, interval_128, splice_one, splice_two, splice_markers,
           beacon_on_boundary, ends_on_boundary, empty_payload, empty_key, bad_magic, bad_version,
           bad_crc, truncated_frame, truncated_beacon, truncated_spliced, file_name_112,
           file_name_113, interval_too_small, eos_then_frames, ignored_bytes, bad_stream_key,
           timestamp_out_of_range, truncated_header, bad_marker_key, file_name_not_utf8,
           created_at_out_of_range]


def render() -> dict[str, str]:
    files: dict[str, str] = {}
    for make in VECTORS:
        v = make()
        files[v.name + ".hex"] = v.hex_text()
        files[v.name + ".json"] = v.json_text()
    return files


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, text in render().items():
        path = HERE / name
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not check:
            path.write_text(text)
    if check and stale:
        print("stale vectors: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
