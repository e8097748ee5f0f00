"""``ssfile.repair(src, dst)``: write a new, valid file with every intact message.

The source is scanned exactly as :func:`ssfile.verify` scans it (same resynchronisation),
and every frame read whole is written to ``dst`` in file order through the ordinary writer,
with its original stream, shard, sequence and timestamp and the original header fields.
Frames with a bad checksum are dropped (default) or kept.  The EOS is written last when the
source had one (messages hidden after it become visible).  ``dst`` is never the source, and
is written under a temporary name and renamed into place when complete (as the command does).

The header (spec/ss-format.md, "Repair"): a source whose header was not read as written (bad
magic, a version byte other than 1 read as version 1, an invalid field, an interval or name
length rebuilt from the beacons) is repaired with the fields that could be read (or
defaults), and the report counts it as loss.  A source that starts with ``Ss`` and another
version byte is refused (:class:`~ssfile.errors.UnsupportedVersion`) unless
``as_version_1=True``: repair never guesses another version's layout.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from ..codec.layout import OK, FrameRead
from ..errors import UnsupportedVersion
from ..file.output import NewFile
from ..file.writer import Writer
from ..format import constants as K
from ..types import MAX_TIMESTAMP_MS, format_timestamp
from .diagnosis import Diagnosis
from .scan import GapItem
from .verify import mapped, verify_bytes

#: diagnosis codes that mean the header was not read as written
HEADER_CODES = frozenset(
    {"bad-magic", "bad-version", "truncated-header", "bad-header", "bad-interval"}
)


@dataclass(slots=True)
class RepairReport:
    """What :func:`repair` recovered and what it lost."""

    src: str
    dst: str
    diagnosis: Diagnosis
    written: bool = False
    messages: int = 0
    eos: bool = False
    kept_bad_checksum: int = 0
    dropped_bad_checksum: int = 0
    lost_ranges: list[tuple[int, int]] = field(default_factory=list)
    torn_messages: int = 0
    streams: dict[tuple[str, int], int] = field(default_factory=dict)
    #: the output's header fields (file name, created_at ms, beacon interval) once written
    header: tuple[str, int, int] | None = None

    @property
    def header_problems(self) -> list[str]:
        """The source header's errors: non-empty when it was not read as written."""
        return [
            f"{p.message} at offset {p.offset}"
            for p in self.diagnosis.sorted_problems()
            if p.severity == "error" and p.code in HEADER_CODES
        ]

    @property
    def lost(self) -> bool:
        return bool(
            self.header_problems
            or self.lost_ranges
            or self.torn_messages
            or self.kept_bad_checksum
            or self.dropped_bad_checksum
        )

    @property
    def exit_code(self) -> int:
        """0 nothing lost, 3 recovered with loss, 2 nothing recoverable (no output)."""
        if not self.written:
            return 2
        return 3 if self.lost else 0

    def lines(self) -> list[str]:
        if not self.written:
            return [f"nothing recoverable in {self.src}: no output written"]
        out = [
            f"wrote {self.dst}: {self.messages} messages in {len(self.streams)} streams"
            + (" and the EOS" if self.eos else "")
        ]
        for (key, shard), n in sorted(self.streams.items()):
            out.append(f"  {key!r} shard {shard}: {n}")
        if self.dropped_bad_checksum:
            out.append(f"lost: {self.dropped_bad_checksum} messages with a bad checksum (dropped)")
        if self.kept_bad_checksum:
            out.append(
                f"kept {self.kept_bad_checksum} messages with a bad checksum (payload may be damaged)"
            )
        if self.torn_messages:
            out.append(f"lost: {self.torn_messages} message cut off by the end of the file")
        if self.lost_ranges:
            total = sum(b - a for a, b in self.lost_ranges)
            out.append(
                f"lost: {total} unreadable bytes in {len(self.lost_ranges)} range(s): "
                + ", ".join(f"[{a}, {b})" for a, b in self.lost_ranges)
            )
        for (key, shard), what in sorted(self.diagnosis.lost_streams.items()):
            out.append(f"  affected: {key!r} shard {shard}: {what}")
        problems = self.header_problems
        if problems:
            out.append("lost: the header was not read as written: " + "; ".join(problems))
            if self.header is not None:
                name, created, interval = self.header
                out.append(
                    f"  the output's header: file name {name!r}, created at "
                    f"{format_timestamp(created)}, beacon interval {interval}"
                )
        out.append("nothing lost" if not self.lost else "recovered with loss")
        return out

    def to_json_dict(self) -> dict[str, object]:
        return {
            "src": self.src,
            "dst": self.dst if self.written else None,
            "messages": self.messages,
            "eos": self.eos,
            "kept_bad_checksum": self.kept_bad_checksum,
            "dropped_bad_checksum": self.dropped_bad_checksum,
            "torn_messages": self.torn_messages,
            "lost_ranges": [list(r) for r in self.lost_ranges],
            "header_problems": self.header_problems,
            "lost": self.lost,
            "streams": [
                {"stream_key": k, "shard_id": s, "messages": n}
                for (k, s), n in sorted(self.streams.items())
            ],
            "diagnosis": self.diagnosis.to_json_dict(),
        }


def _output_header(diag: Diagnosis, src: str) -> tuple[str, int, int]:
    """(file name, created_at, beacon interval) for the output, from the source's header."""
    h = diag.header
    name = h.file_name if h else os.path.basename(src)
    raw = name.encode("utf-8")[: K.MAX_FILE_NAME_WRITE]
    name = raw.decode("utf-8", errors="ignore")
    created = h.created_at_ms if h and h.created_at_ms <= MAX_TIMESTAMP_MS else 0
    scan = diag.scan_interval or K.DEFAULT_BEACON_INTERVAL
    claimed = h.beacon_interval if h else 0
    if K.MIN_BEACON_INTERVAL <= claimed and (scan == claimed or scan > diag.size):
        interval = claimed
    elif scan <= diag.size:
        interval = scan
    else:
        interval = K.DEFAULT_BEACON_INTERVAL
    return name, created, interval


class _Salvage:
    """The scan sink that writes the output as the source is scanned."""

    def __init__(self, report: RepairReport, keep_bad: bool, path: str) -> None:
        self.report = report
        self.keep_bad = keep_bad
        self.path = path  # the temporary file that becomes report.dst
        self.writer: Writer | None = None
        self.eos_ts: int | None = None

    def start(self, diag: Diagnosis) -> None:
        name, created, interval = _output_header(diag, self.report.src)
        self.report.header = (name, created, interval)
        self.writer = Writer(
            self.path,
            "w",
            beacon_interval=interval,
            file_name=name,
            created_at=created,
            eos=False,
        )

    def item(self, item: object) -> None:
        r = self.report
        if isinstance(item, GapItem):
            if item.kind == "torn-frame":
                r.torn_messages += 1
            if item.kind != "torn-beacon":
                r.lost_ranges.append((item.start, item.end))
            return
        if not isinstance(item, FrameRead):
            return
        if item.is_eos:
            self.eos_ts = item.ts
            return
        if item.status != OK:
            if not self.keep_bad:
                r.dropped_bad_checksum += 1
                return
            r.kept_bad_checksum += 1
        assert self.writer is not None
        self.writer.write(
            item.payload,
            stream_key=item.key,
            shard_id=item.shard,
            sequence=item.seq,
            timestamp=item.ts,
        )
        r.messages += 1
        r.streams[(item.key, item.shard)] = r.streams.get((item.key, item.shard), 0) + 1

    def close(self) -> None:
        if self.writer is None:
            return
        if self.eos_ts is not None:
            self.writer.write_eos(timestamp=self.eos_ts)
            self.report.eos = True
        self.writer.close(eos=False)


def _refuse_other_version(buf: bytes, src: str) -> None:
    if len(buf) >= 3 and bytes(buf[:2]) == K.MAGIC and buf[2] != K.VERSION:
        raise UnsupportedVersion(
            f"format version {buf[2]} is not {K.VERSION}: repair does not guess the layout of "
            "another version (if only this byte is damaged, repair it as version 1 with "
            "--as-version-1)",
            2,
            path=src,
        )


def repair(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    keep_bad_checksum: bool = False,
    overwrite: bool = False,
    as_version_1: bool = False,
    progress: Callable[[int], object] | None = None,
) -> RepairReport:
    """Salvage ``src`` into a new file ``dst``; returns what was recovered and lost.

    ``dst`` is written atomically, as ``ssfile repair -o`` does: under a temporary name beside
    it (``.NAME.HOST-PID.XXXXXXXX.tmp``), renamed over ``dst`` only when the repair is
    complete.  Until then an existing ``dst`` is untouched; an exception (Ctrl-C included)
    removes the temporary file and leaves ``dst`` as it was, and so does a source with nothing
    recoverable (spec/cli.md, "Outputs").

    Raises :class:`~ssfile.errors.UsageError` if ``dst`` is ``src`` (also through a link: the
    input is never overwritten) or exists and ``overwrite`` is False, and
    :class:`~ssfile.errors.UnsupportedVersion` if ``src`` starts with ``Ss`` and a version
    byte other than 1, unless ``as_version_1`` (for a damaged version byte; the report then
    counts the header as lost).  ``progress``: as for :func:`~ssfile.check.verify`.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    os.stat(src)  # a missing input is said before anything is created
    with NewFile(dst, inputs=[src], overwrite=overwrite) as out:
        with mapped(src) as buf:
            if not as_version_1:
                _refuse_other_version(buf, src)
            report = RepairReport(src, dst, Diagnosis(src, len(buf)))
            sink = _Salvage(report, keep_bad_checksum, out.path)
            try:
                report.diagnosis = verify_bytes(buf, src, sink, progress)
                sink.close()
            except BaseException:
                if sink.writer is not None:
                    with contextlib.suppress(OSError):  # the file is discarded anyway
                        sink.writer.close(eos=False)
                raise
        report.written = sink.writer is not None and report.diagnosis.readable
        if not report.written:
            out.discard()  # nothing recoverable: no output, an existing dst unchanged
    return report
