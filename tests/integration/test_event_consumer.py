"""The one consumer loop, driven in process against the session's real broker (no mocks).

Each test gets a fresh topic and group from `consumer_harness` and waits with `eventually`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable
from typing import Any

import pytest

from shared.kafka import Delivery, EventConsumer, InfrastructureError, PermanentError, RetryPolicy
from shared.kafka.dead_letters import MAX_PAYLOAD_BYTES
from tests.integration.conftest import HarnessFactory, Probe, eventually


async def test_handled_records_are_committed_up_to_the_end(consumer_harness: HarnessFactory) -> None:
    harness = await consumer_harness()
    seen: list[tuple[int, int]] = []

    async def handler(event: Probe, delivery: Delivery) -> None:
        seen.append((event.n, delivery.offset))

    harness.start(handler)
    for n in range(3):
        await harness.publish(n)
    await eventually(lambda: len(seen) == 3)
    await eventually(lambda: _is(harness.committed(), 3))
    assert seen == [(0, 0), (1, 1), (2, 2)]
    assert await harness.dead_letters() == []


async def test_records_fetched_together_are_handled_without_fetching_each_again(
    consumer_harness: HarnessFactory,
) -> None:
    """A burst on one partition comes in one fetch and is handled from it. Seeking after each record
    dropped the rest of the fetch, so every record cost a fetch of its own, and that fetch waited
    for the one in flight to the broker (up to the fetch wait: the next job of a burst started up to
    half a second late)."""
    harness = await consumer_harness()
    for n in range(20):
        await harness.publish(n)
    fetches: list[float] = []
    seen: list[int] = []

    async def handler(event: Probe, _delivery: Delivery) -> None:
        seen.append(event.n)
        await asyncio.sleep(0.15)  # longer than aiokafka's prefetch backoff: a fetch goes out meanwhile

    consumer = harness.start(handler)
    client = consumer._consumer._client
    send = client.send

    async def counted(node_id: int, request: Any, **options: Any) -> Any:
        if type(request).__name__.startswith("FetchRequest"):
            fetches.append(asyncio.get_running_loop().time())
        return await send(node_id, request, **options)

    client.send = counted
    await eventually(lambda: len(seen) == 20, within_s=30)
    assert seen == list(range(20))
    # The first fetch holds the burst; a few more go out while it is handled (each waits for records
    # that do not come), never one per record.
    assert len(fetches) < 10, f"{len(fetches)} fetches for 20 records fetched together"


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_its_attempts(
    consumer_harness: HarnessFactory,
) -> None:
    harness = await consumer_harness()
    attempts: list[int] = []

    async def handler(_event: Probe, delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        raise ValueError("cannot handle this one")

    harness.start(handler, retry=RetryPolicy(max_attempts=3, first_backoff_s=0.01, max_backoff_s=0.02))
    await harness.publish(1)
    await eventually(lambda: _is(harness.committed(), 1))
    [letter] = await harness.dead_letters()
    assert attempts == [1, 2, 3]
    assert letter.attempts == 3
    assert letter.reason == "ValueError: cannot handle this one"
    assert (letter.offset, letter.consumer_group) == (0, harness.group)
    assert Probe.model_validate_json(letter.payload_bytes()).n == 1


async def test_a_permanent_error_is_dead_lettered_at_once(consumer_harness: HarnessFactory) -> None:
    harness = await consumer_harness()
    calls: list[int] = []

    async def handler(event: Probe, _delivery: Delivery) -> None:
        calls.append(event.n)
        raise PermanentError("corrupt input")

    harness.start(handler)
    await harness.publish(7)
    await eventually(lambda: _is(harness.committed(), 1))
    [letter] = await harness.dead_letters()
    assert calls == [7]
    assert (letter.attempts, letter.reason) == (1, "corrupt input")


async def test_an_undecodable_record_is_dead_lettered_without_reaching_the_handler(
    consumer_harness: HarnessFactory,
) -> None:
    harness = await consumer_harness()
    calls: list[int] = []

    async def handler(event: Probe, _delivery: Delivery) -> None:
        calls.append(event.n)

    harness.start(handler)
    await harness.send_raw(b"\x00\xff not json")
    await harness.publish(2)
    await eventually(lambda: calls == [2])
    await eventually(lambda: _is(harness.committed(), 2))
    [letter] = await harness.dead_letters()
    assert letter.reason.startswith("invalid Probe")
    assert letter.attempts == 1
    assert letter.payload_bytes() == b"\x00\xff not json"
    assert not letter.payload_truncated


async def test_a_large_binary_record_is_dead_lettered_cut_and_the_partition_moves_on(
    consumer_harness: HarnessFactory,
) -> None:
    harness = await consumer_harness()
    calls: list[int] = []

    async def handler(event: Probe, _delivery: Delivery) -> None:
        calls.append(event.n)

    harness.start(handler)
    value = os.urandom(200 * 1024)  # escaped as JSON text it would outgrow a Kafka request
    await harness.send_raw(value)
    await harness.publish(3)
    await eventually(lambda: calls == [3])
    await eventually(lambda: _is(harness.committed(), 2))
    [letter] = await harness.dead_letters()
    assert letter.payload_truncated
    assert letter.payload_bytes() == value[:MAX_PAYLOAD_BYTES]
    assert letter.payload_size == len(value)
    assert letter.payload_sha256 == hashlib.sha256(value).hexdigest()


async def test_an_infrastructure_outage_is_retried_past_max_attempts_and_never_dead_lettered(
    consumer_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    harness = await consumer_harness()
    outages = [ConnectionError("database refused"), ConnectionError("again")] + [
        InfrastructureError(f"storage away {i}") for i in range(3)
    ]
    waiting_seen: list[bool] = []
    done: list[int] = []
    consumer: EventConsumer | None = None

    async def handler(event: Probe, _delivery: Delivery) -> None:
        assert consumer is not None
        waiting_seen.append(consumer.waiting_on_infrastructure)
        if outages:
            raise outages.pop(0)
        done.append(event.n)

    consumer = harness.start(
        handler,
        retry=RetryPolicy(
            max_attempts=2, first_backoff_s=0.01, max_backoff_s=0.02, outage_max_backoff_s=0.04
        ),
    )
    await harness.publish(4)
    await eventually(lambda: done == [4])
    await eventually(lambda: _is(harness.committed(), 1))
    assert await harness.dead_letters() == []
    assert consumer.infrastructure_retries == 5
    assert waiting_seen == [False, True, True, True, True, True]
    assert not consumer.waiting_on_infrastructure
    tries = [r.getMessage() for r in caplog.records if "infrastructure unavailable" in r.getMessage()]
    assert [f"(try {n}," in line for n, line in enumerate(tries, 1)] == [True] * 5
    assert all(
        r.levelno == logging.WARNING for r in caplog.records if "infrastructure unavailable" in r.getMessage()
    )


async def test_stop_during_an_outage_hands_the_record_back_at_once(consumer_harness: HarnessFactory) -> None:
    harness = await consumer_harness()
    tries: list[int] = []

    async def handler(_event: Probe, delivery: Delivery) -> None:
        tries.append(delivery.attempt)
        raise ConnectionError("still down")

    consumer = harness.start(
        handler,
        retry=RetryPolicy(first_backoff_s=0.01, outage_max_backoff_s=60.0),
        shutdown_grace_s=60.0,
    )
    await harness.publish(5)
    await eventually(lambda: len(tries) >= 3)
    await harness.stop(consumer, within_s=10.0)  # neither the 60 s backoff nor the 60 s grace
    assert await harness.committed() is None
    assert await harness.dead_letters() == []


async def test_stop_past_the_grace_hands_the_record_in_hand_back_uncommitted(
    consumer_harness: HarnessFactory,
) -> None:
    harness = await consumer_harness()
    started: list[int] = []
    cancelled: list[int] = []

    async def handler(event: Probe, _delivery: Delivery) -> None:
        started.append(event.n)
        if event.n == 0:
            return
        try:
            await asyncio.Event().wait()  # a job far longer than the grace
        except asyncio.CancelledError:
            cancelled.append(event.n)
            raise

    consumer = harness.start(handler, shutdown_grace_s=0.5)
    await harness.publish(0)
    await harness.publish(1)
    await eventually(lambda: started == [0, 1])
    assert await harness.committed() == 1
    await harness.stop(consumer)
    assert cancelled == [1]
    assert await harness.committed() == 1


async def test_a_rebalance_mid_record_is_never_committed_by_the_old_owner(
    consumer_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    harness = await consumer_harness(partitions=1)
    deliveries: list[str] = []
    second_may_finish = asyncio.Event()

    def handler_of(name: str):  # type: ignore[no-untyped-def]
        async def handler(_event: Probe, _delivery: Delivery) -> None:
            deliveries.append(name)
            if len(deliveries) == 1:
                # A handler that ignores cancellation and returns as if done: the loop must still
                # not commit, since its partition has gone to the group's next owner.
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    deliveries.append(f"{name} cancelled")
                return
            await second_may_finish.wait()

        return handler

    harness.start(handler_of("first"), revoke_grace_s=0.5)
    await harness.publish(6)
    await eventually(lambda: deliveries == ["first"])
    # Joins the group (a rebalance) with an id that sorts first: the one partition moves to it.
    harness.start(handler_of("second"), revoke_grace_s=0.5, client_id="a-joiner")

    await eventually(lambda: "not committing" in caplog.text and "was revoked" in caplog.text, within_s=40)
    await eventually(lambda: len(deliveries) == 3, within_s=40)  # delivered again, to either member
    assert deliveries[:2] == ["first", "first cancelled"]
    assert await harness.committed() is None
    second_may_finish.set()
    await eventually(lambda: _is(harness.committed(), 1), within_s=20)
    assert await harness.dead_letters() == []


async def _is(committed: Awaitable[int | None], expected: int) -> bool:
    return (await committed) == expected


async def test_a_rebalance_that_gives_the_partition_back_lets_the_record_in_hand_carry_on(
    consumer_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shared.kafka.consumer")
    harness = await consumer_harness(partitions=1)
    deliveries: list[str] = []
    may_finish = asyncio.Event()

    def handler_of(name: str):  # type: ignore[no-untyped-def]
        async def handler(_event: Probe, _delivery: Delivery) -> None:
            deliveries.append(name)
            await may_finish.wait()

        return handler

    harness.start(handler_of("first"), revoke_grace_s=0.5)
    await harness.publish(1)
    await eventually(lambda: deliveries == ["first"])
    # Joins with an id that sorts last: the one partition stays with the member working on it.
    harness.start(handler_of("second"), revoke_grace_s=0.5, client_id="z-joiner")
    await eventually(lambda: "came back to this member" in caplog.text, within_s=40)
    may_finish.set()
    await eventually(lambda: _is(harness.committed(), 1), within_s=20)
    assert deliveries == ["first"]  # nothing redone
    assert "not committing" not in caplog.text
