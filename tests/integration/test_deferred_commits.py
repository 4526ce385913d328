"""A consumer loop feeding a view commits at most every `commit_every_s` (issue #18), not one request per
record, and still leaves nothing it handled uncommitted: the offsets go when the loop goes idle and
when it stops."""

from __future__ import annotations

from typing import Any

from shared.kafka import Delivery, EventConsumer
from tests.integration.conftest import Harness, HarnessFactory, Probe, eventually


def _count_commits(consumer: EventConsumer) -> list[Any]:
    """Every commit request the loop's aiokafka consumer makes, recorded."""
    made: list[Any] = []
    inner = consumer._consumer
    commit = inner.commit

    async def counted(offsets: Any = None) -> None:
        made.append(offsets)
        await commit(offsets)

    inner.commit = counted
    return made


async def _committed(harness: Harness) -> int | None:
    return await harness.committed()


async def test_a_view_commits_a_burst_in_two_requests_and_everything_on_stop(
    consumer_harness: HarnessFactory,
) -> None:
    harness = await consumer_harness()
    seen: list[int] = []

    async def handler(event: Probe, _delivery: Delivery) -> None:
        seen.append(event.n)

    consumer = harness.start(handler, commit_every_s=1.0)
    commits = _count_commits(consumer)
    for n in range(6):
        await harness.publish(n)
    await eventually(lambda: len(seen) == 6)

    async def all_six_committed() -> bool:
        return await _committed(harness) == 6

    await eventually(all_six_committed)  # at the first idle poll after the interval
    # The first record found the interval due; the others went together a second later (three
    # requests if the six took longer than a second on a loaded machine).
    assert 1 <= len(commits) <= 3, commits

    await harness.publish(6)
    await eventually(lambda: len(seen) == 7)
    await harness.stop(consumer)
    assert await _committed(harness) == 7
    assert seen == list(range(7))
