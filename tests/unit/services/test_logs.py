from __future__ import annotations

import logging

from services.common.logs import RepeatFilter


def make(name: str, msg: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, None)


def test_repeats_of_client_library_messages_are_suppressed_then_counted() -> None:
    repeat = RepeatFilter(interval_s=3600)
    assert repeat.filter(make("aiokafka.conn", "Unable connect to node %s"))
    assert not repeat.filter(make("aiokafka.conn", "Unable connect to node %s"))
    assert not repeat.filter(make("aiokafka.conn", "Unable connect to node %s"))
    assert repeat.filter(make("aiokafka.conn", "another message"))
    assert repeat.filter(make("services.common.delivery", "dead-lettering"))
    assert repeat.filter(make("services.common.delivery", "dead-lettering")), "our own messages are never dropped"


def test_the_next_message_after_the_interval_says_how_many_were_dropped() -> None:
    repeat = RepeatFilter(interval_s=0.0)
    repeat._seen[("aiokafka", "m")] = (0.0, 5)
    record = make("aiokafka", "m")
    assert repeat.filter(record)
    assert "5 more like it" in record.getMessage()
