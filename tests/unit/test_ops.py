"""The operator commands' pure parts: lag arithmetic, dead-letter choice and replay planning, decoding."""

from __future__ import annotations

from infra.ops.dlq_replay import LetterFilter, plan_replay
from infra.ops.reading import decode
from shared.events import JOBS_REQUESTED, DeadLetter, JobRequested, MediaKind, StorageNotification
from shared.kafka.cluster import GroupView, PartitionLag


def letter(
    payload: str, reason: str = "boom", source: str = JOBS_REQUESTED.name, group: str = "reencoder"
) -> DeadLetter:
    return DeadLetter(
        correlation_id="c",
        source_topic=source,
        partition=0,
        offset=1,
        key="k",
        payload=payload,
        reason=reason,
        attempts=3,
        consumer_group=group,
    )


def job() -> JobRequested:
    return JobRequested(
        correlation_id="c",
        job_id="j1",
        kind=MediaKind.IMAGE,
        source_key="j1/original",
        filename="a.jpg",
        content_type="image/jpeg",
        size_bytes=1,
    )


def test_lag_is_clamped_at_zero_and_unknown_without_a_commit() -> None:
    assert PartitionLag(topic="t", partition=0, committed=7, end=10).lag == 3
    assert PartitionLag(topic="t", partition=0, committed=12, end=10).lag == 0
    assert PartitionLag(topic="t", partition=0, committed=None, end=10).lag is None
    group = GroupView(
        group_id="g",
        state="Stable",
        partitions=(
            PartitionLag(topic="t", partition=0, committed=7, end=10),
            PartitionLag(topic="t", partition=1, committed=None, end=5),
            PartitionLag(topic="t", partition=2, committed=1, end=2),
        ),
    )
    assert group.total_lag == 4


def test_letter_filter_needs_every_given_criterion() -> None:
    chosen = LetterFilter(source_topic=JOBS_REQUESTED.name, reason_contains="TIMED OUT", from_offset=5)
    assert chosen.matches(5, letter("{}", reason="job timed out after 300 s"))
    assert not chosen.matches(4, letter("{}", reason="job timed out after 300 s"))
    assert not chosen.matches(5, letter("{}", reason="corrupt image"))
    assert not chosen.matches(5, letter("{}", reason="timed out", source="jobs.status"))
    assert LetterFilter(consumer_group="metrics").matches(0, letter("{}", group="metrics"))
    assert not LetterFilter(consumer_group="metrics").matches(0, letter("{}"))


def test_replay_plan_decodes_the_payload_as_its_topic_event() -> None:
    original = job()
    event, detail = plan_replay(letter(original.model_dump_json()))
    assert event == original
    assert detail == f"to {JOBS_REQUESTED.name}"


def test_replay_plan_skips_undecodable_payloads_and_unknown_topics() -> None:
    event, detail = plan_replay(letter('{"job_id": 1}'))
    assert event is None
    assert "payload still undecodable (invalid JobRequested: " in detail
    event, detail = plan_replay(letter(job().model_dump_json(), source="somebody.elses"))
    assert event is None
    assert "not a topic of the catalogue" in detail


def test_decode_reads_minio_notifications_in_minio_s_own_format() -> None:
    raw = b'{"EventName": "s3:ObjectCreated:Put", "Key": "uploads/j1/original", "Records": [{"s3": {}}]}'
    event, problem = decode("storage.events", raw)
    assert problem is None
    assert isinstance(event, StorageNotification)
    assert event.key == "uploads/j1/original"
    assert decode("not-in-the-catalogue", b"x") == (None, None)
