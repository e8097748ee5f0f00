"""What a surgery operation did: messages read and written per (stream, shard), the files it
wrote, the damage it skipped and anything it warns about.  Returned by ``ssfile.filter``,
``merge``, ``split`` and ``concat``; the CLI prints :meth:`Summary.lines` or
:meth:`Summary.to_json_dict`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter

#: message -> (stream key, shard), at C speed
pair_of = attrgetter("stream_key", "shard_id")


@dataclass
class StreamCount:
    """Messages of one (stream, shard): ``read`` from the inputs, ``written`` to the outputs.

    ``read`` counts the messages the operation looked at: messages before a seek (``since``,
    ``from_seq``) or after the end of a time window are not read and not counted."""

    read: int = 0
    written: int = 0


@dataclass(frozen=True)
class Damage:
    """A damaged byte range of an input that was skipped (``on_damage="skip"``); a torn tail
    is one too (``reason`` says so)."""

    path: str
    offset: int
    length: int
    reason: str


@dataclass
class Summary:
    """The result of one operation (``command``: filter, cut, merge, split or concat)."""

    command: str
    inputs: list[str]
    #: the files written, in order, with the number of messages in each
    outputs: list[tuple[str, int]] = field(default_factory=list)
    streams: dict[tuple[str, int], StreamCount] = field(default_factory=dict)
    damage: list[Damage] = field(default_factory=list)
    #: human-readable warnings (conflicts kept, sequences that do not continue, ...)
    warnings: list[str] = field(default_factory=list)
    #: messages renumbered (merge --on-conflict renumber) or dropped as duplicates (dedupe)
    renumbered: int = 0
    deduplicated: int = 0

    def count(self, key: str, shard: int) -> StreamCount:
        c = self.streams.get((key, shard))
        if c is None:
            c = self.streams[(key, shard)] = StreamCount()
        return c

    def add(
        self, read: Mapping[tuple[str, int], int], written: Mapping[tuple[str, int], int]
    ) -> None:
        """Add counts per (stream, shard) (e.g. ``Counter(map(pair_of, batch))``)."""
        for pair, n in read.items():
            self.count(*pair).read += n
        for pair, n in written.items():
            self.count(*pair).written += n

    @property
    def messages_read(self) -> int:
        return sum(c.read for c in self.streams.values())

    @property
    def messages_written(self) -> int:
        return sum(c.written for c in self.streams.values())

    @property
    def clean(self) -> bool:
        """True when no damage was skipped."""
        return not self.damage

    def to_json_dict(self) -> dict[str, object]:
        return {
            "command": self.command,
            "inputs": list(self.inputs),
            "outputs": [{"path": p, "messages": n} for p, n in self.outputs],
            "messages_read": self.messages_read,
            "messages_written": self.messages_written,
            "streams": [
                {"stream": k, "shard": s, "read": c.read, "written": c.written}
                for (k, s), c in sorted(self.streams.items())
            ],
            "renumbered": self.renumbered,
            "deduplicated": self.deduplicated,
            "damage": [
                {"path": d.path, "offset": d.offset, "length": d.length, "reason": d.reason}
                for d in self.damage
            ],
            "warnings": list(self.warnings),
        }

    def lines(self) -> list[str]:
        """A short human report."""
        files = "file" if len(self.outputs) == 1 else "files"
        out = [
            f"{self.command}: {self.messages_read} messages read from {len(self.inputs)} "
            f"input(s), {self.messages_written} written to {len(self.outputs)} {files}"
        ]
        width = max((len(k) for k, _ in self.streams), default=6)
        for (key, shard), c in sorted(self.streams.items()):
            out.append(f"  {key:<{width}}  shard {shard}  read {c.read}  written {c.written}")
        if len(self.outputs) > 1:
            for path, n in self.outputs:
                out.append(f"  -> {path}: {n} messages")
        if self.renumbered:
            out.append(f"  renumbered {self.renumbered} messages")
        if self.deduplicated:
            out.append(f"  dropped {self.deduplicated} duplicate messages")
        return out

    def __repr__(self) -> str:
        return (
            f"<ssfile.Summary {self.command}: {self.messages_read} read, "
            f"{self.messages_written} written, {len(self.outputs)} output(s), "
            f"{len(self.damage)} damaged range(s)>"
        )


__all__ = ["Damage", "StreamCount", "Summary", "pair_of"]
