"""Logging of the service processes: one format, quiet client libraries, no flood while the broker is down."""

from __future__ import annotations

import logging
import sys
import time

from services.common.settings import ServiceSettings

CLIENT_LOGGERS = ("aiokafka", "httpx", "httpx2", "pymongo")


class RepeatFilter(logging.Filter):
    """Lets the same message of a chatty client library through at most once per `interval_s`.

    aiokafka logs every reconnection attempt at ERROR level; while the broker is down that is hundreds of lines
    a second. The first occurrence is kept, and the next one says how many were suppressed.
    """

    def __init__(self, prefixes: tuple[str, ...] = ("aiokafka",), interval_s: float = 10.0) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.interval_s = interval_s
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefixes):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        last, suppressed = self._seen.get(key, (-self.interval_s, 0))
        if now - last < self.interval_s:
            self._seen[key] = (last, suppressed + 1)
            return False
        if suppressed:
            record.msg = f"{record.msg} (and {suppressed} more like it in the last {self.interval_s:.0f} s)"
        self._seen[key] = (now, 0)
        return True


def configure_logging(settings: ServiceSettings) -> None:
    """Idempotent: a root handler if there is none (e.g. under `faststream run`), levels, the repeat filter."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s [%(name)s] %(message)s", stream=sys.stderr)
    root.setLevel(settings.log_level.upper())
    for name in CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in root.handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(RepeatFilter())
