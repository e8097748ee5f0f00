"""The checks on the scanned records: per frame, per beacon, per stream, and after the EOS.

:class:`Checker` is fed the items of :func:`ssfile.check.scan.scan` in order and records
problems in a :class:`~ssfile.check.diagnosis.Diagnosis`.  It keeps, per (stream, shard),
what a writer's beacon markers should say: the running maxima of sequence and timestamp and
the running checksum of every frame that starts before the beacon.  After damage those are
unknown until the next marker for the stream re-anchors them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..codec.layout import OK, SEP, BeaconRead, FrameRead
from ..format import constants as K
from ..format.crc import INIT, running_update
from ..format.records import Marker
from .diagnosis import Diagnosis
from .restart import restart_explains, seeded_without_frames
from .scan import BadBeaconItem, BeaconItem, GapItem

HISTORY_CAP = 1 << 16


def _where(f: FrameRead) -> dict[str, object]:
    return dict(stream_key=f.key, shard_id=f.shard, sequence=f.seq)


@dataclass(slots=True)
class StreamState:
    seq: int = 0
    ts: int = 0
    running: int = INIT
    known: bool = True
    last_seq: int | None = None
    last_ts: int | None = None
    last_crc: int = -1
    count: int = 0
    gap: tuple[int, int] | None = None  # damage met since the last message
    #: payload CRCs since the last accepted marker, and the running checksum / previous CRC
    #: at that point: enough to test every restart point when a marker does not match
    history: list[int] = field(default_factory=list)
    window_running: int = INIT
    window_prev_crc: int = -1


class Checker:
    def __init__(self, diag: Diagnosis, interval: int) -> None:
        self.diag = diag
        self.interval = interval
        self.markers_expected = K.num_markers(interval)
        self.streams: dict[tuple[str, int], StreamState] = {}
        self.damaged = False
        self.after_eos: list[int] = []

    def feed(self, item: object) -> None:
        if isinstance(item, FrameRead):
            self.frame(item)
        elif isinstance(item, BeaconItem):
            self.beacon(item.read, item.expected)
        elif isinstance(item, GapItem):
            self.gap(item)
        elif isinstance(item, BadBeaconItem):
            self.bad_beacon(item.read)

    # ---- frames ----------------------------------------------------------------------------

    def frame(self, f: FrameRead) -> None:
        d = self.diag
        if d.eos_offsets:
            self.after_eos.append(f.offset)
        if f.status == OK:
            if not f.is_eos:  # an EOS frame is no message (info, exports and viewer agree)
                d.intact_messages += 1
        else:
            d.damaged_messages += 1
            d.error(
                "bad-checksum",
                f.offset,
                f"payload checksum mismatch: stored {f.stored:#06x}, computed {f.computed:#06x}",
                **_where(f),
            )
            d.lost_streams.setdefault(
                (f.key, f.shard), f"message at {f.offset} (seq {f.seq}) is damaged"
            )
        if f.separator != SEP:
            d.warning(
                "frame-separator",
                f.end - 1,
                f"frame separator is {f.separator:#04x}, not 0x0D (upstream does not check it)",
                **_where(f),
            )
        if f.is_eos:
            d.eos_offsets.append(f.offset)
        self._track(f)
        for b, remaining in f.crossed:
            self.beacon(b, remaining)

    def _track(self, f: FrameRead) -> None:
        st = self.streams.get((f.key, f.shard))
        if st is None:
            st = self.streams[(f.key, f.shard)] = StreamState(f.seq, f.ts, known=not self.damaged)
        if f.status == OK:
            st.count += 1
            if f.key != K.INTERNAL_KEY:
                self._order(st, f)
        if self.markers_expected:
            if len(st.history) >= HISTORY_CAP:  # restart the window: older restarts go unexplained
                st.history.clear()
                st.window_running, st.window_prev_crc = st.running, st.last_crc
            st.history.append(f.stored)
        if f.seq > st.seq:
            st.seq = f.seq
        if f.ts > st.ts:
            st.ts = f.ts
        st.running = running_update(st.running, f.stored)
        st.last_crc = f.stored
        if f.status != OK:
            st.known = False  # the stored checksum itself may be the damaged bytes
        st.last_seq, st.last_ts = f.seq, f.ts

    def _order(self, st: StreamState, f: FrameRead) -> None:
        if st.last_seq is None:
            return
        if st.gap is not None:
            if f.seq > st.last_seq + 1:
                a, b = st.gap
                self.diag.lost_streams[(f.key, f.shard)] = (
                    f"sequence jumps {st.last_seq} -> {f.seq} across the damage at [{a}, {b})"
                )
            st.gap = None
        if f.seq <= st.last_seq:
            self.diag.warning(
                "sequence-order",
                f.offset,
                f"sequence {f.seq} does not increase (previous {st.last_seq})",
                **_where(f),
            )
        if st.last_ts is not None and f.ts < st.last_ts:
            self.diag.warning(
                "time-order",
                f.offset,
                f"timestamp {f.ts} goes back (previous {st.last_ts})",
                **_where(f),
            )

    # ---- damage ----------------------------------------------------------------------------

    def gap(self, g: GapItem) -> None:
        d = self.diag
        d.unreadable.append((g.start, g.end))
        if self.diag.eos_offsets and g.kind != "torn-beacon":
            self.after_eos.append(g.start)
        code = "torn-tail" if g.torn else "unreadable"
        d.error(
            code, g.start, f"{g.end - g.start} bytes [{g.start}, {g.end}) unreadable: {g.reason}"
        )
        if g.kind == "torn-frame":
            d.damaged_messages += 1
        self.damaged = True
        for st in self.streams.values():
            st.known = False
            st.gap = (g.start, g.end)

    def bad_beacon(self, b: BeaconRead) -> None:
        if b.reason != "eof":  # a cut-off beacon is reported as the torn tail
            self.diag.error("bad-beacon", b.offset, f"no sound beacon at this boundary: {b.reason}")

    # ---- beacons ---------------------------------------------------------------------------

    def beacon(self, read: BeaconRead, expected: int | None) -> None:
        b = read.beacon
        assert b is not None
        d = self.diag
        d.beacons += 1
        if not read.lead_ok:
            d.warning(
                "beacon-separator",
                b.offset,
                "beacon does not start with 0x0D (upstream does not check it)",
            )
        if not read.term_ok:
            d.warning(
                "beacon-separator",
                b.offset + b.size - 1,
                "beacon does not end with 0x0D (upstream does not check it)",
            )
        if len(b.markers) > self.markers_expected:
            d.warning(
                "beacon-markers",
                b.offset,
                f"{len(b.markers)} markers; upstream writes at most "
                f"{self.markers_expected} at interval {self.interval}",
            )
        if expected is None:
            return  # inside damage: nothing to compare with
        if b.remaining_messages_bytes != expected:
            d.error(
                "beacon-remaining",
                b.offset,
                f"remaining_messages_bytes is "
                f"{b.remaining_messages_bytes}, but {expected} bytes of the frame follow it",
            )
        for m in b.markers:
            self._marker(b.offset, m)

    def _marker(self, at: int, m: Marker) -> None:
        h = m.header
        key = (h.stream_key, h.shard_id)
        where = dict(stream_key=h.stream_key, shard_id=h.shard_id, sequence=h.sequence)
        st = self.streams.get(key)
        if st is None:
            if not self.damaged:
                self.diag.error(
                    "beacon-marker",
                    at,
                    "marker for a stream with no message before this beacon",
                    **where,
                )
            return
        if not st.known or (h.sequence, h.timestamp_ms, m.running_checksum) == (
            st.seq,
            st.ts,
            st.running,
        ):
            self._anchor(st, m)
            return
        if (
            h.sequence <= st.seq
            and h.timestamp_ms <= st.ts
            and (
                restart_explains(
                    m.running_checksum,
                    st.running,
                    st.window_running,
                    st.window_prev_crc,
                    st.history,
                )
                or seeded_without_frames(m.running_checksum, st.last_crc)
            )
        ):
            self.diag.warning(
                "beacon-restarted",
                at,
                "marker summarises only the frames since a "
                "later writer session started (upstream append restarts them)",
                **where,
            )
            self._anchor(st, m)
            return
        self.diag.error(
            "beacon-marker",
            at,
            "marker does not match the frames before it: "
            f"seq {h.sequence} vs {st.seq}, timestamp {h.timestamp_ms} vs {st.ts}, "
            f"running checksum {m.running_checksum:#06x} vs {st.running:#06x}",
            **where,
        )

    @staticmethod
    def _anchor(st: StreamState, m: Marker) -> None:
        st.seq, st.ts, st.running = m.header.sequence, m.header.timestamp_ms, m.running_checksum
        st.known = True
        st.history.clear()
        st.window_running, st.window_prev_crc = st.running, st.last_crc

    # ---- the end ---------------------------------------------------------------------------

    def finish(self, size: int) -> None:
        d = self.diag
        d.streams = {key: st.count for key, st in self.streams.items() if st.count}
        if self.after_eos:
            d.error(
                "data-after-eos",
                self.after_eos[0],
                f"{len(self.after_eos)} record(s) after the "
                f"EOS at {d.eos_offsets[0]}: every reader stops at the EOS and never sees them",
            )
        torn = bool(d.unreadable) and d.unreadable[-1][1] == size
        if size >= K.HEADER_SIZE and size % self.interval == 0 and not torn:
            d.error(
                "missing-beacon",
                size,
                "file ends exactly at a beacon boundary without the "
                "beacon (the writer stopped before writing it; upstream readers fail here)",
            )
