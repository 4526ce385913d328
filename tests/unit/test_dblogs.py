"""PostgreSQL JSON log lines become LogRecords; the tailer hands out whole lines once."""

from __future__ import annotations

import json
from pathlib import Path

from services.dblogs.postgres_log import SERVICE, slow_query_ms, to_log_record
from services.dblogs.tailer import FolderTailer
from shared.events import LogLevel


def _line(**fields: object) -> str:
    return json.dumps({"timestamp": "2026-11-25 11:50:01.123 UTC", "error_severity": "LOG", **fields})


def test_a_slow_statement_is_a_warning_with_its_duration() -> None:
    record = to_log_record(
        _line(message="duration: 312.5 ms  statement: SELECT pg_sleep(0.3)", user="app", dbname="site"),
        "db-1",
    )
    assert record is not None
    assert record.service == SERVICE
    assert record.level == LogLevel.WARNING
    assert "[app/site] duration: 312.5 ms" in record.message
    assert record.occurred_at.year == 2026
    assert slow_query_ms(record.message.split("] ", 1)[1]) == 312.5


def test_errors_keep_their_statement_and_severity() -> None:
    record = to_log_record(
        _line(
            error_severity="ERROR", message='relation "nope" does not exist', statement="SELECT * FROM nope"
        ),
        "db-1",
    )
    assert record is not None
    assert record.level == LogLevel.ERROR
    assert "statement: SELECT * FROM nope" in record.message


def test_lines_that_are_not_json_objects_are_skipped() -> None:
    assert to_log_record("not json", "db-1") is None
    assert to_log_record("[1, 2]", "db-1") is None


def test_the_tailer_returns_whole_lines_once_and_resumes_after_a_restart(tmp_path: Path) -> None:
    log_file = tmp_path / "postgresql-1.json"
    log_file.write_text('{"message": "a"}\n{"message": "b"}\n{"mess')
    positions = tmp_path / "state" / "positions.json"
    tailer = FolderTailer(tmp_path, "*.json", positions)
    lines, advanced = tailer.read_new_lines()
    assert lines == ['{"message": "a"}', '{"message": "b"}']
    tailer.commit(advanced)
    assert tailer.read_new_lines()[0] == []

    with log_file.open("a") as file:
        file.write('age": "c"}\n')
    restarted = FolderTailer(tmp_path, "*.json", positions)
    assert restarted.read_new_lines()[0] == ['{"message": "c"}']


def test_an_uncommitted_batch_is_read_again(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"message": "a"}\n')
    tailer = FolderTailer(tmp_path, "*.json", tmp_path / "positions.json")
    assert tailer.read_new_lines()[0] == ['{"message": "a"}']
    assert tailer.read_new_lines()[0] == ['{"message": "a"}']  # not committed: shipped again
