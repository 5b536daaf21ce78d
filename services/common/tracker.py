"""Per-partition offset tracking: which consumed messages are finished, and how far it is safe to commit.

Messages of one partition finish out of order (many are in flight at once). Kafka's committed offset means
"everything before this is done", so the safe offset is the one just after the longest prefix of finished
messages. A tracker belongs to one assignment of its partition: when the partition is revoked the tracker is
dropped, and work that finishes later can no longer move any commit.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from aiokafka import TopicPartition


@dataclass(slots=True, eq=False)
class PartitionTracker:
    tp: TopicPartition
    pending: list[int] = field(default_factory=list)
    refs: dict[int, int] = field(default_factory=dict)
    position: int | None = None
    committed: int | None = None
    revoked: bool = False

    def register(self, offset: int) -> None:
        """A message at `offset` was received and is now in flight."""
        if offset in self.refs:
            self.refs[offset] += 1
            return
        self.refs[offset] = 1
        bisect.insort(self.pending, offset)

    def finish(self, offset: int) -> None:
        """The message at `offset` is done (outputs acknowledged, or dead-lettered)."""
        if self.revoked:
            return
        refs = self.refs.get(offset)
        if refs is None:
            return
        if refs > 1:
            self.refs[offset] = refs - 1
            return
        self.refs[offset] = 0
        while self.pending and self.refs.get(self.pending[0]) == 0:
            done = self.pending.pop(0)
            del self.refs[done]
            self.position = done + 1 if self.position is None else max(self.position, done + 1)

    @property
    def in_flight(self) -> int:
        return len(self.pending)

    def to_commit(self) -> int | None:
        """The offset to commit now, or None when nothing new finished."""
        if self.position is None or (self.committed is not None and self.position <= self.committed):
            return None
        return self.position


class OffsetTracker:
    """The trackers of every partition currently assigned to this member."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, PartitionTracker] = {}

    def register(self, tp: TopicPartition, offset: int) -> PartitionTracker:
        tracker = self._partitions.get(tp)
        if tracker is None:
            tracker = self._partitions[tp] = PartitionTracker(tp)
        tracker.register(offset)
        return tracker

    def to_commit(self, partitions: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """{partition: offset} for every (chosen) partition whose safe offset moved since its last commit."""
        offsets: dict[TopicPartition, int] = {}
        for tp, tracker in self._partitions.items():
            if partitions is not None and tp not in partitions:
                continue
            offset = tracker.to_commit()
            if offset is not None:
                offsets[tp] = offset
        return offsets

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            tracker = self._partitions.get(tp)
            if tracker is not None:
                tracker.committed = offset if tracker.committed is None else max(tracker.committed, offset)

    def forget(self, partitions: set[TopicPartition]) -> None:
        """Drop the trackers of revoked partitions; their late finishes are ignored from now on."""
        for tp in partitions:
            tracker = self._partitions.pop(tp, None)
            if tracker is not None:
                tracker.revoked = True

    def forget_all(self) -> None:
        self.forget(set(self._partitions))

    @property
    def partitions(self) -> set[TopicPartition]:
        return set(self._partitions)

    @property
    def in_flight(self) -> int:
        return sum(tracker.in_flight for tracker in self._partitions.values())

    def snapshot(self) -> dict[str, dict[str, int | None]]:
        return {
            f"{tp.topic}[{tp.partition}]": {
                "in_flight": t.in_flight,
                "position": t.position,
                "committed": t.committed,
            }
            for tp, t in sorted(self._partitions.items())
        }
