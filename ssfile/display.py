"""How ssfile's results show themselves: one-line ``repr`` texts for the REPL and HTML
summaries (``_repr_html_``) for Jupyter, for :class:`~ssfile.Reader`,
:class:`~ssfile.Diagnosis`, :class:`~ssfile.export.arrays.Columns` and
:class:`~ssfile.export.stats.Stats`.

Both stay small whatever the data: counts, ranges and the first rows, never whole arrays.
The classes call in here (duck-typed, so this module depends on nothing but
:mod:`ssfile.types`); a Reader's streams table reads at most :data:`READER_SCAN_BYTES` of
the file through a second reader, so showing a reader never moves it.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Sequence
from typing import Any

from .errors import FormatError
from .types import format_timestamp

#: a Reader's HTML streams table reads at most this much of the file
READER_SCAN_BYTES = 16 << 20
#: problems listed in a Diagnosis's HTML (the rest are counted)
PROBLEMS_SHOWN = 20


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """An HTML table; every cell is escaped text."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _title(kind: str, what: object) -> str:
    return f"<p><b>ssfile.{kind}</b> {html.escape(str(what))}</p>"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


def _keys(keys: Sequence[str], shown: int = 4) -> str:
    more = f", … {len(keys) - shown} more" if len(keys) > shown else ""
    return "[" + ", ".join(repr(k) for k in keys[:shown]) + more + "]"


# ---- Reader -------------------------------------------------------------------------------


def header_rows(header: Any) -> list[tuple[str, object]]:
    return [
        ("file name", header.file_name),
        ("created at", format_timestamp(header.created_at_ms)),
        ("beacon interval", f"{header.beacon_interval} bytes"),
    ]


def reader_html(reader: Any) -> str:
    """Header, then per stream and shard: messages, sequences, first and last time."""
    parts = [_title("Reader", reader.path or "(stream)")]
    parts.append(table(["header", ""], header_rows(reader.header)))
    if reader.path is None:
        return "".join(parts)
    streams: dict[tuple[str, int], list[int]] = {}
    size = os.path.getsize(reader.path)
    damage = None
    # a second reader of the same class: this one's position is the caller's
    with type(reader)(reader.path, check_crc=False, tolerate_truncation=True) as scan:
        try:
            _count_streams(scan, streams)
        except FormatError as err:
            damage = str(err)
        scanned = scan.offset
    rows = [
        (k, shard, n, f"{first}…{last}", format_timestamp(t0), format_timestamp(t1))
        for (k, shard), (n, first, last, t0, t1) in sorted(streams.items())
    ]
    parts.append(
        table(["stream", "shard", "messages", "sequences", "first time", "last time"], rows)
    )
    if damage is not None:
        parts.append(
            f"<p>reading stopped: {html.escape(damage)} (see <code>ssfile.verify</code>)</p>"
        )
    elif scanned < size:
        parts.append(
            f"<p>(the first {_size(scanned)} of {_size(size)} read; "
            "<code>ssfile info</code> or <code>ssfile.stats</code> read it all)</p>"
        )
    return "".join(parts)


def _count_streams(scan: Any, streams: dict[tuple[str, int], list[int]]) -> None:
    """count, first and last sequence, earliest and latest time per (stream, shard)"""
    for m in scan:
        s = streams.get((m.stream_key, m.shard_id))
        if s is None:
            streams[(m.stream_key, m.shard_id)] = [1, m.sequence, m.sequence] + [m.timestamp_ms] * 2
        else:
            s[0] += 1
            s[2] = m.sequence
            s[3] = min(s[3], m.timestamp_ms)
            s[4] = max(s[4], m.timestamp_ms)
        if scan.offset >= READER_SCAN_BYTES:
            break


# ---- Diagnosis ----------------------------------------------------------------------------


def diagnosis_repr(d: Any) -> str:
    errors = len(d.errors)
    verdict = "not a .ss file" if not d.readable else ("clean" if d.clean else "DAMAGED")
    eos = f"EOS at {d.eos_offsets[0]}" if d.eos_offsets else "no EOS"
    return (
        f"<ssfile.Diagnosis {d.path!r}: {verdict}, {d.intact_messages} intact messages, "
        f"{d.damaged_messages} damaged, {errors} errors, {len(d.problems) - errors} warnings, "
        f"{d.unreadable_bytes} unreadable bytes, {eos}>"
    )


def diagnosis_html(d: Any) -> str:
    parts = [_title("Diagnosis", d.path)]
    parts.append("".join(f"<p>{html.escape(line)}</p>" for line in d.summary_lines()))
    problems = d.sorted_problems()
    if problems:
        rows = [
            (p.severity, p.offset, p.code, p.message + p.where()) for p in problems[:PROBLEMS_SHOWN]
        ]
        parts.append(table(["severity", "offset", "code", "problem"], rows))
        if len(problems) > PROBLEMS_SHOWN:
            parts.append(f"<p>… {len(problems) - PROBLEMS_SHOWN} more problems</p>")
    return "".join(parts)


# ---- Columns ------------------------------------------------------------------------------


def _payload_text(c: Any) -> str:
    if c.payload_buffer is not None:
        return f"payload buffer {_size(int(c.payload_buffer.nbytes))}"
    if c.payload is not None:
        return "payload bytes"
    return "no payload"


def _time_range(stamps: Any) -> str:
    if len(stamps) == 0:
        return "no messages"
    lo, hi = stamps.min(), stamps.max()
    return f"{format_timestamp(int(lo.astype('int64')))} .. {format_timestamp(int(hi.astype('int64')))}"


def columns_repr(c: Any) -> str:
    json = f", {len(c.json)} JSON columns" if c.json else ""
    return (
        f"<ssfile.Columns {len(c)} messages, {len(c.stream_keys)} streams "
        f"{_keys(c.stream_keys)}, {_time_range(c.timestamp)}, {_payload_text(c)}{json}, "
        f"ended={c.ended}>"
    )


def columns_html(c: Any) -> str:
    parts = [_title("Columns", f"{len(c)} messages, {_time_range(c.timestamp)}")]
    counts = [0] * len(c.stream_keys)
    for code in c.stream_codes.tolist():
        counts[code] += 1
    parts.append(table(["stream", "messages"], zip(c.stream_keys, counts)))
    extra = [_payload_text(c)]
    if c.json:
        extra.append("JSON columns: " + ", ".join(sorted(c.json)))
    extra.append("ended with EOS" if c.ended else "no EOS")
    parts.append("<p>" + html.escape("; ".join(extra)) + "</p>")
    return "".join(parts)


# ---- Stats --------------------------------------------------------------------------------


def stats_repr(s: Any) -> str:
    n = int(s.streams["count"].sum()) if len(s.streams) else 0
    gap = f", largest gap {s.gaps['gap_s'].iloc[0]:g} s" if len(s.gaps) else ""
    return f"<ssfile.Stats {len(s.streams)} (stream, shard) pairs, {n} messages{gap}>"


def stats_html(s: Any) -> str:
    return (
        _title("Stats", f"{len(s.streams)} (stream, shard) pairs")
        + "<p>per stream and shard</p>"
        + str(s.streams.to_html())
        + "<p>largest gaps</p>"
        + str(s.gaps.to_html(index=False))
    )
