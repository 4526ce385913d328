"""Database log lines leave without the values they carry: bind parameters, key values, failing rows.

The lines are PostgreSQL 15's own (`log_destination = jsonlog`, `log_min_duration_statement = 100`),
written by a server while psycopg inserted and looked up a user; before, the shipper forwarded their
`detail` as it was, emails and password hashes included.
"""

from __future__ import annotations

import pytest

from services.dblogs.postgres_log import REDACTED, redact, to_log_record
from shared.events import LogLevel

SLOW_WITH_PARAMETERS = (
    '{"timestamp":"2026-12-01 06:30:50.580 UTC","user":"postgres","dbname":"postgres","pid":22208,'
    '"remote_host":"127.0.0.1","remote_port":46764,"session_id":"6b0e699a.56c0","line_num":2,"ps":"SELECT",'
    '"session_start":"2026-12-01 06:30:50 UTC","vxid":"3/7","txid":0,"error_severity":"LOG",'
    '"message":"duration: 152.291 ms  execute <unnamed>: SELECT pg_sleep(0.15), count(*) FROM users '
    'WHERE email = $1 OR password_hash = $2","detail":"parameters: $1 = \'ada@example.org\', '
    '$2 = \'$argon2id$secret\'","backend_type":"client backend","query_id":0}'
)
UNIQUE_VIOLATION = (
    '{"timestamp":"2026-12-01 06:30:50.427 UTC","user":"postgres","dbname":"postgres","pid":22208,'
    '"remote_host":"127.0.0.1","remote_port":46764,"session_id":"6b0e699a.56c0","line_num":1,"ps":"INSERT",'
    '"session_start":"2026-12-01 06:30:50 UTC","vxid":"3/6","txid":726,"error_severity":"ERROR",'
    '"state_code":"23505","message":"duplicate key value violates unique constraint \\"users_email_key\\"",'
    '"detail":"Key (email)=(ada@example.org) already exists.","context":"unnamed portal with parameters: '
    "$1 = 'u2', $2 = 'ada@example.org', $3 = '$argon2id$v=19$m=65536,t=3,p=4$c2FsdDI$aGFzaDI'\","
    '"statement":"INSERT INTO users VALUES ($1, $2, $3)","backend_type":"client backend","query_id":0}'
)
NOT_NULL_VIOLATION = (
    '{"timestamp":"2026-12-01 06:30:50.581 UTC","user":"postgres","dbname":"postgres","pid":22208,'
    '"remote_host":"127.0.0.1","remote_port":46764,"session_id":"6b0e699a.56c0","line_num":4,"ps":"INSERT",'
    '"session_start":"2026-12-01 06:30:50 UTC","vxid":"3/9","txid":0,"error_severity":"ERROR",'
    '"state_code":"23502","message":"null value in column \\"id\\" of relation \\"users\\" violates '
    'not-null constraint","detail":"Failing row contains (null, x@example.org, h).","context":"unnamed '
    "portal with parameters: $1 = NULL, $2 = 'x@example.org', $3 = 'h'\","
    '"statement":"INSERT INTO users VALUES ($1, $2, $3)","backend_type":"client backend","query_id":0}'
)
SECRETS = ("ada@example.org", "x@example.org", "argon2id", "c2FsdDI")


@pytest.mark.parametrize("line", [SLOW_WITH_PARAMETERS, UNIQUE_VIOLATION, NOT_NULL_VIOLATION])
def test_no_value_of_a_real_postgres_line_is_shipped(line: str) -> None:
    record = to_log_record(line, "db-1")
    assert record is not None
    assert not [secret for secret in SECRETS if secret in record.message], record.message
    assert REDACTED in record.message


def test_a_slow_statement_keeps_its_text_with_placeholders_and_loses_its_parameters() -> None:
    record = to_log_record(SLOW_WITH_PARAMETERS, "db-1")
    assert record is not None
    assert record.level == LogLevel.WARNING
    assert "WHERE email = $1 OR password_hash = $2" in record.message
    assert f"detail: parameters: {REDACTED}" in record.message


def test_an_error_keeps_its_constraint_and_statement_but_not_the_key_values() -> None:
    record = to_log_record(UNIQUE_VIOLATION, "db-1")
    assert record is not None
    assert 'unique constraint "users_email_key"' in record.message
    assert f"detail: Key (email)=({REDACTED}) already exists." in record.message
    assert "statement: INSERT INTO users VALUES ($1, $2, $3)" in record.message
    assert "portal with parameters" not in record.message  # `context` is never shipped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A statement sent with its values inline (a psql session, the simple protocol).
        (
            "statement: SELECT * FROM users WHERE email = 'ada@example.org' AND note = 'it''s'",
            f"statement: SELECT * FROM users WHERE email = '{REDACTED}' AND note = '{REDACTED}'",
        ),
        ("UPDATE users SET email = 'ada@exam", f"UPDATE users SET email = '{REDACTED}'"),  # cut short
        (
            'invalid input syntax for type integer: "ada@example.org"',
            f'invalid input syntax for type integer: "{REDACTED}"',
        ),
        ('relation "nope" does not exist', 'relation "nope" does not exist'),
    ],
)
def test_values_in_statements_and_messages_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected
