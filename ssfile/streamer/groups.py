"""Consumer-group load balancing as pure functions.

Upstream dispatches a message of a group to ``members[sequence mod len(members)]``.  That
splits a contiguous run of sequences evenly, but upstream leaves undefined what happens to
messages a member had not yet taken when it leaves.  We define it (spec/streamer.md):
each message is assigned when it is dispatched; when a member leaves, its undelivered
messages are dispatched again among the remaining members, in order; a member that joins
takes part from the next dispatched message on.  So no message is lost or delivered twice
within a group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def choose(members: Sequence[T], sequence: int) -> T:
    """The member that gets the message with this sequence number (upstream's rule)."""
    if not members:
        raise ValueError("a consumer group with no members")
    return members[sequence % len(members)]


def rebalance(
    pending: Sequence[tuple[int, object]], members: Sequence[T]
) -> dict[int, list[tuple[int, object]]]:
    """Re-dispatch ``(sequence, message)`` pairs of a departed member among ``members``.

    Returns member index -> the pairs it takes over, each list in the original order.
    """
    out: dict[int, list[tuple[int, object]]] = {}
    if not members:
        return out
    for seq, msg in pending:
        out.setdefault(seq % len(members), []).append((seq, msg))
    return out
