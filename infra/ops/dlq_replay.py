"""Replay of the dead-letter topic: each chosen `DeadLetter`'s payload goes back to its source topic.

A payload is replayed only when it decodes as its topic's catalogue event (then it is published
through the same `EventProducer` as the services use: same key, headers, acks=all). A payload that
still does not decode would only be dead-lettered again, so it is reported and skipped, and so is a
payload the dead letter kept only the beginning of (a record too large to keep whole). Consumers
are idempotent, so replaying a message that was meanwhile handled is harmless; Kafka keeps the
dead letter itself, so `--from-offset` lets a second replay start after the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from infra.ops.cluster_view import CATALOGUE
from infra.ops.reading import decode, read_topic
from shared.events import DEAD_LETTERS, DeadLetter, Event
from shared.kafka import EventProducer
from shared.settings import KafkaSettings


class Outcome(StrEnum):
    REPLAYED = "replayed"
    WOULD_REPLAY = "would replay"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class LetterFilter:
    """Which dead letters to replay; every given criterion must match."""

    source_topic: str | None = None
    consumer_group: str | None = None
    #: A case-insensitive substring of the reason.
    reason_contains: str | None = None
    from_offset: int = 0

    def matches(self, offset: int, letter: DeadLetter) -> bool:
        return (
            offset >= self.from_offset
            and (self.source_topic is None or letter.source_topic == self.source_topic)
            and (self.consumer_group is None or letter.consumer_group == self.consumer_group)
            and (self.reason_contains is None or self.reason_contains.lower() in letter.reason.lower())
        )


@dataclass(frozen=True)
class ReplayResult:
    offset: int
    letter: DeadLetter
    outcome: Outcome
    detail: str


def plan_replay(letter: DeadLetter) -> tuple[Event | None, str]:
    """The event to publish again for `letter`, or None with the reason it cannot be replayed."""
    if letter.source_topic not in CATALOGUE:
        return None, f"{letter.source_topic!r} is not a topic of the catalogue"
    if letter.payload_truncated:
        return None, f"payload truncated (a {letter.payload_size}-byte record): cannot be replayed"
    event, problem = decode(letter.source_topic, letter.payload_bytes())
    if event is None:
        return None, f"payload still undecodable ({problem})"
    return event, f"to {letter.source_topic}"


async def replay_dead_letters(
    settings: KafkaSettings,
    chosen: LetterFilter,
    *,
    dry_run: bool,
    on_result: Callable[[ReplayResult], None] = lambda _result: None,
) -> list[ReplayResult]:
    """Replay every dead letter up to the current end of the topic that `chosen` matches."""
    results: list[ReplayResult] = []
    producer = None if dry_run else EventProducer(settings, client_id="reencode-ops-replay")
    if producer is not None:
        await producer.start()
    try:
        async for record in read_topic(settings, DEAD_LETTERS.name, from_beginning=True, follow=False):
            letter = record.event
            if not isinstance(letter, DeadLetter) or not chosen.matches(record.offset, letter):
                continue
            event, detail = plan_replay(letter)
            if event is None:
                outcome = Outcome.SKIPPED
            elif producer is None:
                outcome = Outcome.WOULD_REPLAY
            else:
                await producer.publish(CATALOGUE[letter.source_topic], event)
                outcome = Outcome.REPLAYED
            result = ReplayResult(record.offset, letter, outcome, detail)
            results.append(result)
            on_result(result)
    finally:
        if producer is not None:
            await producer.stop()
    return results
