"""Every service's log lines as they arrive on the logs topic: filters, and one story per correlation id."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from shared.events import LogLevel, LogRecord


@dataclass(frozen=True)
class LogFilter:
    service: str | None = None
    #: The least severe level shown.
    level: LogLevel = LogLevel.DEBUG
    correlation_id: str | None = None
    #: Case-insensitive text the message or logger must contain.
    text: str | None = None

    def matches(self, record: LogRecord) -> bool:
        if self.service and record.service != self.service:
            return False
        if record.level.rank < self.level.rank:
            return False
        if self.correlation_id and record.correlation_id != self.correlation_id:
            return False
        if self.text:
            needle = self.text.lower()
            return needle in record.message.lower() or needle in record.logger.lower()
        return True


@dataclass
class LogFeed:
    capacity: int = 5000
    _lines: deque[LogRecord] = field(init=False)
    counts: dict[tuple[str, LogLevel], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lines = deque(maxlen=self.capacity)

    def add(self, record: LogRecord) -> None:
        self._lines.append(record)
        key = (record.service, record.level)
        self.counts[key] = self.counts.get(key, 0) + 1

    def recent(self, where: LogFilter, limit: int = 200) -> list[LogRecord]:
        """The newest matching lines, newest first."""
        found = []
        for record in reversed(self._lines):
            if where.matches(record):
                found.append(record)
                if len(found) >= limit:
                    break
        return found

    def trace(self, correlation_id: str) -> list[LogRecord]:
        """The whole story of one correlation id across services, in time order."""
        story = [record for record in self._lines if record.correlation_id == correlation_id]
        return sorted(story, key=lambda record: record.occurred_at)
