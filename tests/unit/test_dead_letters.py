"""Dead letters always fit: binary-safe, cut past a limit, with the original's size and hash."""

from __future__ import annotations

import hashlib
import os

from aiokafka import ConsumerRecord

from infra.ops.dlq_replay import plan_replay
from shared.events import JOBS_REQUESTED, DeadLetter, JobRequested, MediaKind
from shared.kafka.dead_letters import MAX_PAYLOAD_BYTES, MAX_REASON_CHARS, dead_letter


def record(value: bytes, key: bytes | None = b"k") -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=JOBS_REQUESTED.name,
        partition=2,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value),
        headers=(),
    )


def test_a_binary_value_survives_the_dead_letter_whole() -> None:
    value = bytes(range(256)) * 4
    letter = dead_letter(record(value), "bad", attempts=3, consumer_group="g")
    assert letter.payload_encoding == "base64"
    assert letter.payload_bytes() == value
    assert (letter.payload_size, letter.payload_sha256) == (len(value), hashlib.sha256(value).hexdigest())
    assert not letter.payload_truncated
    assert (letter.attempts, letter.consumer_group, letter.key, letter.offset) == (3, "g", "k", 7)


def test_a_large_value_is_cut_and_the_letter_stays_small() -> None:
    value = os.urandom(200 * 1024)
    letter = dead_letter(record(value), "x" * 100_000, attempts=1, consumer_group="g")
    assert letter.payload_truncated
    assert letter.payload_bytes() == value[:MAX_PAYLOAD_BYTES]
    assert letter.payload_size == len(value)
    assert letter.payload_sha256 == hashlib.sha256(value).hexdigest()
    assert len(letter.reason) <= MAX_REASON_CHARS
    assert len(letter.model_dump_json()) < 100 * 1024


def test_letters_written_before_base64_still_decode_and_replay() -> None:
    job = JobRequested(
        correlation_id="c",
        job_id="j1",
        kind=MediaKind.IMAGE,
        source_key="j1/original",
        filename="a.jpg",
        content_type="image/jpeg",
        size_bytes=1,
    )
    old = {
        "correlation_id": "c",
        "source_topic": JOBS_REQUESTED.name,
        "partition": 0,
        "offset": 1,
        "key": "j1",
        "payload": job.model_dump_json(),
        "reason": "boom",
        "attempts": 3,
        "consumer_group": "reencoder",
    }
    letter = DeadLetter.model_validate(old)
    assert letter.payload_encoding == "utf-8"
    assert plan_replay(letter)[0] == job


def test_a_base64_letter_replays_and_a_truncated_one_is_refused() -> None:
    job = JobRequested(
        correlation_id="c",
        job_id="j2",
        kind=MediaKind.IMAGE,
        source_key="j2/original",
        filename="a.jpg",
        content_type="image/jpeg",
        size_bytes=1,
    )
    letter = dead_letter(record(job.model_dump_json().encode()), "boom", attempts=3, consumer_group="g")
    assert plan_replay(letter)[0] == job
    cut = dead_letter(record(b"x" * (MAX_PAYLOAD_BYTES + 1)), "boom", attempts=1, consumer_group="g")
    event, detail = plan_replay(cut)
    assert event is None
    assert "truncated (a 65537-byte record): cannot be replayed" in detail
