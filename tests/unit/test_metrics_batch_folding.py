"""The metrics reader's hot path: a batch of request events decoded at once and folded grouped gives
the figures (and the dead letters) that decoding and folding them one by one gave."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from ddsketch import DDSketch
from pydantic import BaseModel, field_validator

from services.metrics.aggregator import Aggregator
from services.metrics.decoding import BatchDecoder, fields_view
from services.metrics.sketch import SketchBatch, new_sketch
from services.metrics.view import summarise
from shared.events import RequestObserved

NOW = 1_800_000_000.0


def request(
    seconds_ago: float, latency_ms: float, status: int = 200, route: str = "/api/jobs"
) -> RequestObserved:
    return RequestObserved(
        correlation_id="c",
        occurred_at=datetime.fromtimestamp(NOW - seconds_ago, UTC),
        service="frontend",
        instance_id="f1",
        method="GET",
        route=route,
        status=status,
        latency_ms=latency_ms,
        bytes_out=100,
    )


def bins(sketch: DDSketch) -> dict[int, float]:
    store = sketch._store
    return {store.offset + i: w for i, w in enumerate(store.bins) if w}


def test_a_sketch_batch_gives_the_sketch_of_one_add_per_value() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(3, 1.5) for _ in range(3000)] + [0.0, 0.0, -2.5]
    one_by_one = new_sketch()
    for value in values:
        one_by_one.add(value)
    batched = new_sketch()
    batched.add(7.0)
    one_by_one.add(7.0)
    SketchBatch(values).apply(batched)
    assert bins(batched) == bins(one_by_one)
    assert batched.count == one_by_one.count
    assert batched.sum == pytest.approx(one_by_one.sum)
    assert (batched._min, batched._max, batched._zero_count) == (-2.5, one_by_one._max, 2)
    for q in (0.5, 0.95, 0.99):
        assert batched.get_quantile_value(q) == one_by_one.get_quantile_value(q)


#: Zones producers may write times in: the fold groups by second whatever the zone.
ZONES = (UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30)))


def test_folding_decoded_rows_matches_folding_the_events() -> None:
    rng = random.Random(5)
    events = [
        request(
            # Some from the future (they count as now); the same second written in several zones.
            rng.uniform(-3, 400),
            rng.lognormvariate(3, 1),
            rng.choice([200, 200, 404, 503]),
            rng.choice("ab"),
        )
        for _ in range(2000)
    ]
    events = [
        event.model_copy(update={"occurred_at": event.occurred_at.astimezone(rng.choice(ZONES))})
        for event in events
    ]
    one_by_one = Aggregator()
    for event in events:
        one_by_one.observe(event, NOW)
    rows, bad = BatchDecoder(RequestObserved).decode([e.model_dump_json().encode() for e in events])
    assert bad == []
    batched = Aggregator()
    batched.observe_requests(rows, NOW)
    assert (batched.events, batched.too_old) == (one_by_one.events, one_by_one.too_old)
    for ours, theirs in zip(batched.windows, one_by_one.windows, strict=True):
        mine, reference = ours.figures(NOW), theirs.figures(NOW)
        assert mine.routes.keys() == reference.routes.keys()
        for key, route in mine.routes.items():
            expected = reference.routes[key]
            assert (route.requests, route.errors, route.client_errors, route.bytes_out) == (
                expected.requests,
                expected.errors,
                expected.client_errors,
                expected.bytes_out,
            )
            assert bins(route.latency_ms) == bins(expected.latency_ms)


def test_each_bad_record_of_a_batch_is_named_and_the_good_ones_still_decode() -> None:
    good = request(1, 12.5).model_dump_json().encode()
    values = [
        good,
        good.replace(b'"status":200', b'"status":600'),  # out of range
        good.replace(b'"latency_ms":12.5', b'"latency_ms":-1'),
        b'{"route": "/"}',  # fields missing
        b"not json",
        None,  # a tombstone
        good + b"," + good,  # two objects in one record would shift the whole batch
        good,
    ]
    rows, bad = BatchDecoder(RequestObserved).decode(values)
    assert len(rows) == 2
    assert [index for index, _ in bad] == [1, 2, 3, 4, 5, 6]
    assert "status" in bad[0][1]
    assert "latency_ms" in bad[1][1]
    assert all(reason.startswith("invalid RequestObserved: ") for _, reason in bad)


def test_a_model_with_validators_of_its_own_is_not_decoded_by_a_derived_schema() -> None:
    class Checked(BaseModel):
        name: str

        @field_validator("name")
        @classmethod
        def lower(cls, value: str) -> str:
            return value.lower()

    with pytest.raises(TypeError, match="validators"):
        fields_view(Checked)


def test_own_figures_merged_as_tallies_give_the_summary_their_snapshot_gives() -> None:
    rng = random.Random(9)
    aggregator = Aggregator()
    now = datetime.now(UTC).timestamp()
    for _ in range(500):
        event = request(0, rng.lognormvariate(3, 1), rng.choice([200, 500]), rng.choice("ab"))
        aggregator.observe(
            event.model_copy(update={"occurred_at": datetime.fromtimestamp(now - 2, UTC)}), now
        )

    through_the_wire = summarise([aggregator.snapshot("m1", ("metrics.requests/0",), now)])
    header = aggregator.snapshot("m1", ("metrics.requests/0",), now, with_windows=False)
    as_tallies = summarise([header], local=aggregator.figures(now))

    assert header.windows == ()
    for span in (10, 60, 300):
        wire, local = through_the_wire.window(span), as_tallies.window(span)
        assert (local.requests, local.errors) == (wire.requests, wire.errors) == (500, local.errors)
        assert local.latency_ms == wire.latency_ms
