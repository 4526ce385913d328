"""PostgreSQL's own JSON log lines (`log_destination = jsonlog`, PostgreSQL 15+) as `LogRecord`s.

Values never leave with a line: PostgreSQL writes bind parameters (`parameters: $1 = '...'` in
`detail` of slow statements, `... with parameters: ...` in `context` of errors) and the values of rows
(`Key (email)=(...)`, `Failing row contains (...)`), which hold emails and password hashes. Statements
are shipped with their placeholders; every value in them, in `detail` and in the message is masked,
and `context` is not shipped at all.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from shared.events import LogLevel, LogRecord, new_id, utc_now

SERVICE = "postgresql"

_LEVELS = {
    "DEBUG1": LogLevel.DEBUG,
    "DEBUG2": LogLevel.DEBUG,
    "DEBUG3": LogLevel.DEBUG,
    "DEBUG4": LogLevel.DEBUG,
    "DEBUG5": LogLevel.DEBUG,
    "LOG": LogLevel.INFO,
    "INFO": LogLevel.INFO,
    "NOTICE": LogLevel.INFO,
    "WARNING": LogLevel.WARNING,
    "ERROR": LogLevel.ERROR,
    "FATAL": LogLevel.CRITICAL,
    "PANIC": LogLevel.CRITICAL,
}
_SLOW = re.compile(r"^duration: (?P<ms>[0-9.]+) ms")

REDACTED = "[redacted]"
#: (pattern, replacement): what in a line can carry a value, and how it is masked.
_VALUES: tuple[tuple[re.Pattern[str], str], ...] = (
    # Bind parameters: `parameters: $1 = 'ada@example.org', $2 = NULL` (to the end of the field).
    (re.compile(r"(parameters: ).*", re.DOTALL), rf"\g<1>{REDACTED}"),
    # Constraint details: `Key (email)=(ada@example.org) already exists.`
    (re.compile(r"(Key \([^)]*\)=)\(.*\)", re.DOTALL), rf"\g<1>({REDACTED})"),
    # Not-null and check violations: `Failing row contains (u2, ada@example.org, $argon2id...).`
    (re.compile(r"(Failing row contains )\(.*\)", re.DOTALL), rf"\g<1>({REDACTED})"),
    # Values quoted in messages: `invalid input syntax for type integer: "grace@example.org"`.
    (re.compile(r"((?:syntax|value|input) for [^:]*: )\".*\"", re.DOTALL), rf'\g<1>"{REDACTED}"'),
    # SQL string literals (statements sent with values inline): 'ada@example.org', E'...', ''quoted''.
    (re.compile(r"'(?:[^']|'')*(?:'|\Z)"), f"'{REDACTED}'"),
)


def slow_query_ms(message: str) -> float | None:
    """The duration of a `log_min_duration_statement` line, None for any other line."""
    match = _SLOW.match(message)
    return float(match["ms"]) if match else None


def redact(text: str) -> str:
    """`text` with every value PostgreSQL may have put in it masked (statements keep placeholders)."""
    for pattern, replacement in _VALUES:
        text = pattern.sub(replacement, text)
    return text


def to_log_record(line: str, instance_id: str) -> LogRecord | None:
    """One line of the JSON log, or None when it is not a JSON object (a torn or foreign line)."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(entry, dict) or "message" not in entry:
        return None
    message = redact(str(entry["message"]))
    # Slow statements are why a database log is worth shipping: an operator looks for them first.
    level = (
        LogLevel.WARNING
        if slow_query_ms(message) is not None
        else _LEVELS.get(str(entry.get("error_severity", "LOG")), LogLevel.INFO)
    )
    # Never `context`: it carries the bind parameters of a failed statement.
    details = [
        f"{key}: {redact(str(entry[key]))}" for key in ("detail", "hint", "statement") if entry.get(key)
    ]
    where = "/".join(str(entry[key]) for key in ("user", "dbname") if entry.get(key))
    return LogRecord(
        correlation_id=new_id(),
        uncorrelated=True,
        occurred_at=_timestamp(entry.get("timestamp")),
        service=SERVICE,
        instance_id=instance_id,
        level=level,
        logger=f"postgres.{entry.get('backend_type', 'server')}".replace(" ", "_"),
        message=" | ".join([f"[{where}] {message}" if where else message, *details])[:8000],
    )


def _timestamp(value: object) -> datetime:
    # PostgreSQL writes "2026-11-25 11:50:01.123 UTC".
    if isinstance(value, str):
        try:
            return datetime.strptime(value.replace(" UTC", " +0000"), "%Y-%m-%d %H:%M:%S.%f %z")
        except ValueError:
            pass
    return utc_now()
