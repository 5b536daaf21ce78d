from __future__ import annotations

from aiokafka import TopicPartition

from services.common.tracker import OffsetTracker, PartitionTracker

TP = TopicPartition("t", 0)
TP1 = TopicPartition("t", 1)


def test_commits_only_the_finished_prefix() -> None:
    tracker = PartitionTracker(TP)
    for offset in (10, 11, 12, 13):
        tracker.register(offset)
    tracker.finish(12)
    tracker.finish(13)
    assert tracker.to_commit() is None, "10 and 11 are unfinished"
    tracker.finish(10)
    assert tracker.to_commit() == 11
    tracker.finish(11)
    assert tracker.to_commit() == 14
    assert tracker.in_flight == 0


def test_gaps_between_offsets_do_not_block() -> None:
    tracker = PartitionTracker(TP)
    for offset in (3, 7, 20):
        tracker.register(offset)
    tracker.finish(7)
    tracker.finish(3)
    assert tracker.to_commit() == 8
    tracker.finish(20)
    assert tracker.to_commit() == 21


def test_nothing_new_after_a_commit() -> None:
    offsets = OffsetTracker()
    offsets.register(TP, 0)
    offsets.register(TP1, 5)
    offsets._partitions[TP].finish(0)
    assert offsets.to_commit() == {TP: 1}
    offsets.committed({TP: 1})
    assert offsets.to_commit() == {}
    offsets._partitions[TP1].finish(5)
    assert offsets.to_commit() == {TP1: 6}
    assert offsets.to_commit({TP}) == {}


def test_a_redelivered_offset_must_finish_every_time() -> None:
    tracker = PartitionTracker(TP)
    tracker.register(4)
    tracker.register(4)
    tracker.finish(4)
    assert tracker.to_commit() is None
    tracker.finish(4)
    assert tracker.to_commit() == 5


def test_a_revoked_tracker_ignores_late_finishes() -> None:
    offsets = OffsetTracker()
    old = offsets.register(TP, 0)
    offsets.forget({TP})
    old.finish(0)
    assert offsets.to_commit() == {}
    new = offsets.register(TP, 0)
    assert new is not old
    assert new.to_commit() is None


def test_unknown_offsets_are_ignored() -> None:
    tracker = PartitionTracker(TP)
    tracker.register(1)
    tracker.finish(99)
    assert tracker.to_commit() is None
