"""What ``verify`` found: every problem with its offset, then a summary.

A :class:`Problem` is an ``error`` (the bytes are damaged or break the format: some reader
will fail or lose data) or a ``warning`` (legal but suspicious, or something upstream never
checks, such as separator bytes or header padding).  The :class:`Diagnosis` collects them
all, never stopping at the first, and summarises intact and damaged messages and the byte
ranges nothing could be read from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..format.records import FileHeader

ERROR, WARNING = "error", "warning"

#: at most this many problems of one code are kept; the rest are only counted
KEEP_PER_CODE = 1000


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding, at an absolute file ``offset``, about a stream/sequence when known."""

    severity: str
    code: str
    offset: int
    message: str
    stream_key: str | None = None
    shard_id: int | None = None
    sequence: int | None = None

    def where(self) -> str:
        if self.stream_key is None:
            return ""
        seq = f" seq {self.sequence}" if self.sequence is not None else ""
        return f" (stream {self.stream_key!r} shard {self.shard_id}{seq})"

    def __str__(self) -> str:
        return f"{self.severity:<7} offset {self.offset:>10}  {self.code}: {self.message}{self.where()}"

    def to_json_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "severity": self.severity,
            "code": self.code,
            "offset": self.offset,
            "message": self.message,
        }
        if self.stream_key is not None:
            out.update(stream_key=self.stream_key, shard_id=self.shard_id, sequence=self.sequence)
        return out


@dataclass(slots=True)
class Diagnosis:
    """The result of :func:`ssfile.verify`.

    ``readable`` is False when the input is not a ``.ss`` file at all (no header and no
    frame could be recognised).  ``unreadable`` holds ``(start, end)`` byte ranges that no
    message could be recovered from.  ``intact_messages`` counts messages whose checksum
    matches (as ``ssfile info`` and the exports count them: an EOS frame is not a message,
    it is in ``eos_offsets``), ``damaged_messages`` frames known to be damaged (bad
    checksum, or cut by the end of the file).
    """

    path: str | None
    size: int
    header: FileHeader | None = None
    readable: bool = True
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    intact_messages: int = 0
    damaged_messages: int = 0
    unreadable: list[tuple[int, int]] = field(default_factory=list)
    eos_offsets: list[int] = field(default_factory=list)
    beacons: int = 0
    streams: dict[tuple[str, int], int] = field(default_factory=dict)
    #: streams with messages known or likely to be lost: (key, shard) -> description
    lost_streams: dict[tuple[str, int], str] = field(default_factory=dict)
    #: the beacon interval the file was read with (differs from the header's when that is damaged)
    scan_interval: int | None = None

    def add(self, problem: Problem) -> None:
        n = self.counts.get(problem.code, 0) + 1
        self.counts[problem.code] = n
        if n <= KEEP_PER_CODE:
            self.problems.append(problem)

    def error(self, code: str, offset: int, message: str, **where: object) -> None:
        self.add(Problem(ERROR, code, offset, message, **where))  # type: ignore[arg-type]

    def warning(self, code: str, offset: int, message: str, **where: object) -> None:
        self.add(Problem(WARNING, code, offset, message, **where))  # type: ignore[arg-type]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def clean(self) -> bool:
        """No errors (warnings allowed)."""
        return self.readable and not any(p.severity == ERROR for p in self.problems)

    @property
    def ended(self) -> bool:
        return bool(self.eos_offsets)

    @property
    def unreadable_bytes(self) -> int:
        return sum(end - start for start, end in self.unreadable)

    def __repr__(self) -> str:
        from ..display import diagnosis_repr

        return diagnosis_repr(self)

    def _repr_html_(self) -> str:
        from ..display import diagnosis_html

        return diagnosis_html(self)

    def exit_code(self, strict: bool = False) -> int:
        """0 clean, 1 problems (with ``strict``, warnings too), 2 not a ``.ss`` file at all."""
        if not self.readable:
            return 2
        if not self.clean or (strict and self.problems):
            return 1
        return 0

    def sorted_problems(self) -> list[Problem]:
        return sorted(self.problems, key=lambda p: (p.offset, p.severity != ERROR))

    def summary_lines(self) -> list[str]:
        errors = sum(1 for p in self.problems if p.severity == ERROR)
        lines = [
            f"{self.intact_messages} intact messages, {self.damaged_messages} damaged, "
            f"{self.beacons} beacons, EOS: "
            + (", ".join(f"at {o}" for o in self.eos_offsets) if self.eos_offsets else "none")
        ]
        if self.unreadable:
            ranges = ", ".join(f"[{a}, {b})" for a, b in self.unreadable)
            lines.append(
                f"unreadable: {self.unreadable_bytes} bytes in {len(self.unreadable)} "
                f"range(s): {ranges}"
            )
        for (key, shard), what in sorted(self.lost_streams.items()):
            lines.append(f"stream {key!r} shard {shard}: {what}")
        hidden = sum(self.counts.values()) - len(self.problems)
        more = f" ({hidden} more not listed)" if hidden else ""
        lines.append(
            f"{'clean' if self.clean else 'DAMAGED'}: {errors} errors, "
            f"{len(self.problems) - errors} warnings{more}"
        )
        return lines

    def to_json_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "size": self.size,
            "readable": self.readable,
            "clean": self.clean,
            "header": self.header.to_json_dict() if self.header else None,
            "problems": [p.to_json_dict() for p in self.sorted_problems()],
            "problem_counts": dict(sorted(self.counts.items())),
            "summary": {
                "intact_messages": self.intact_messages,
                "damaged_messages": self.damaged_messages,
                "unreadable": [list(r) for r in self.unreadable],
                "unreadable_bytes": self.unreadable_bytes,
                "eos_offsets": self.eos_offsets,
                "beacons": self.beacons,
                "streams": [
                    {"stream_key": k, "shard_id": s, "messages": n}
                    for (k, s), n in sorted(self.streams.items())
                ],
                "lost_streams": [
                    {"stream_key": k, "shard_id": s, "detail": d}
                    for (k, s), d in sorted(self.lost_streams.items())
                ],
            },
        }
