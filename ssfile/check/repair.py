"""``ssfile.repair(src, dst)``: write a new, valid file with every intact message.

The source is scanned exactly as :func:`ssfile.verify` scans it (same resynchronisation),
and every frame read whole is written to ``dst`` in file order through the ordinary writer,
with its original stream, shard, sequence and timestamp and the original header fields.
Frames with a bad checksum are dropped (default) or kept.  The EOS is written last when the
source had one (messages hidden after it become visible).  ``dst`` is never the source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..codec.layout import OK, FrameRead
from ..errors import UsageError
from ..file.writer import Writer
from ..format import constants as K
from ..types import MAX_TIMESTAMP_MS
from .diagnosis import Diagnosis
from .scan import GapItem
from .verify import mapped, verify_bytes


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

    @property
    def lost(self) -> bool:
        return bool(
            self.lost_ranges
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

    def __init__(self, report: RepairReport, keep_bad: bool, mode: str) -> None:
        self.report = report
        self.keep_bad = keep_bad
        self.mode = mode
        self.writer: Writer | None = None
        self.eos_ts: int | None = None

    def start(self, diag: Diagnosis) -> None:
        name, created, interval = _output_header(diag, self.report.src)
        self.writer = Writer(
            self.report.dst,
            self.mode,
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
            self.writer.write(
                K.EOS_PAYLOAD,
                stream_key=K.INTERNAL_KEY,
                shard_id=0,
                sequence=0,
                timestamp=self.eos_ts,
            )
            self.report.eos = True
        self.writer.close(eos=False)


def _check_paths(src: str, dst: str, overwrite: bool) -> str:
    st = os.stat(src)
    try:
        dt = os.stat(dst)
    except FileNotFoundError:
        return "x"
    if (st.st_dev, st.st_ino) == (dt.st_dev, dt.st_ino):
        raise UsageError(f"refusing to write {dst}: it is the input file {src}")
    if not overwrite:
        raise UsageError(
            f"{dst} already exists (choose another output, or overwrite it with --force)"
        )
    return "w"


def repair(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    keep_bad_checksum: bool = False,
    overwrite: bool = False,
) -> RepairReport:
    """Salvage ``src`` into a new file ``dst``; returns what was recovered and lost.

    Raises :class:`~ssfile.errors.UsageError` if ``dst`` is ``src`` (also through a link) or
    exists and ``overwrite`` is False.  Nothing is written when nothing is recoverable.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    mode = _check_paths(src, dst, overwrite)
    with mapped(src) as buf:
        report = RepairReport(src, dst, Diagnosis(src, len(buf)))
        sink = _Salvage(report, keep_bad_checksum, mode)
        try:
            report.diagnosis = verify_bytes(buf, src, sink)
            sink.close()
        except BaseException:
            if sink.writer is not None:
                sink.writer.close(eos=False)
                os.unlink(dst)
            raise
    report.written = sink.writer is not None and report.diagnosis.readable
    if sink.writer is not None and not report.diagnosis.readable:
        os.unlink(dst)
    return report
