"""Streaming quantiles with DDSketch (DataDog's `ddsketch`): bounded memory, mergeable, 1 % accurate.

A sorted list of every latency would grow with traffic and could not be merged across instances;
a DDSketch keeps logarithmic buckets, so any quantile is within `RELATIVE_ACCURACY` of the truth and
two sketches add up exactly. Sketches travel between instances as protobuf, base64 in JSON.
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from collections.abc import Iterable

from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping
from ddsketch.pb.ddsketch_pb2 import DDSketch as DDSketchMessage
from ddsketch.pb.proto import DDSketchProto

from shared.events import Distribution

RELATIVE_ACCURACY = 0.01
QUANTILES = (0.5, 0.95, 0.99)


def new_sketch() -> DDSketch:
    return DDSketch(relative_accuracy=RELATIVE_ACCURACY)


def to_distribution(sketch: DDSketch) -> Distribution:
    """The sketch as it travels in a `MetricsSnapshot`."""
    if sketch.count == 0:
        return Distribution()
    message = DDSketchProto.to_proto(sketch)  # type: ignore[no-untyped-call]
    encoded = base64.b64encode(message.SerializeToString()).decode()
    return Distribution(count=int(sketch.count), sum=float(sketch.sum), sketch=encoded)


def from_distribution(distribution: Distribution) -> DDSketch:
    """A sketch that can take part in merges again (empty for an empty distribution)."""
    sketch = new_sketch()
    if distribution.count and distribution.sketch:
        message = DDSketchMessage()
        message.ParseFromString(base64.b64decode(distribution.sketch))
        sketch.merge(DDSketchProto.from_proto(message))  # type: ignore[no-untyped-call]
        # The protobuf form carries the bins but not the sum; the Distribution has it exactly, and
        # totals (seconds encoded) read it after a snapshot's trip.
        sketch._sum = distribution.sum
    return sketch


def merged(sketches: Iterable[DDSketch]) -> DDSketch:
    """A new sketch holding every value of `sketches` (the inputs are left as they are)."""
    total = new_sketch()
    for sketch in sketches:
        if sketch.count:
            total.merge(sketch)
    return total


def quantiles(sketch: DDSketch, digits: int = 2) -> dict[str, float | None]:
    """`{"p50": .., "p95": .., "p99": ..}`; None where the sketch is empty."""
    figures: dict[str, float | None] = {}
    for q in QUANTILES:
        value = sketch.get_quantile_value(q) if sketch.count else None
        figures[f"p{round(q * 100)}"] = None if value is None else round(max(0.0, float(value)), digits)
    return figures


#: The bin layout every sketch of `new_sketch` shares.
_MAPPING = new_sketch()._mapping
assert type(_MAPPING) is LogarithmicMapping, "SketchBatch computes LogarithmicMapping's keys itself"


def _keys(values: list[float]) -> list[int]:
    """`_MAPPING.key(value)` for each value, the same arithmetic without two method calls a value."""
    log, ceil = math.log, math.ceil
    multiplier, offset = _MAPPING._multiplier, _MAPPING._offset
    return [int(ceil(log(value, 2) * multiplier) + offset) for value in values]


class SketchBatch:
    """Many values to add to several sketches: each value's bin is computed once, then every sketch
    takes one add per distinct bin instead of one per value.

    The metrics reader folds each request's latency into three windows; `DDSketch.add` is pure Python,
    so three adds per event cost more than decoding the event. At 1 % accuracy thousands of latencies
    share a few hundred bins, and `apply` gives exactly the sketch the one-by-one adds would.
    """

    def __init__(self, values: Iterable[float]) -> None:
        lowest = _MAPPING.min_possible
        self._values = list(values)
        positive = [value for value in self._values if value > lowest]
        negative = [-value for value in self._values if value < -lowest]
        self._bins = Counter(_keys(positive))
        self._negative_bins = Counter(_keys(negative))
        self._zeros = len(self._values) - len(positive) - len(negative)
        self._sum = math.fsum(self._values) if self._values else 0.0
        self._min = min(self._values, default=math.inf)
        self._max = max(self._values, default=-math.inf)

    def apply(self, sketch: DDSketch) -> None:
        """Add every value to `sketch` (one made by `new_sketch`, so its bins match)."""
        if not self._values:
            return
        for key, weight in self._bins.items():
            sketch._store.add(key, weight)
        for key, weight in self._negative_bins.items():
            sketch._negative_store.add(key, weight)
        sketch._zero_count += self._zeros
        sketch._count += len(self._values)
        sketch._sum += self._sum
        sketch._min = min(sketch._min, self._min)
        sketch._max = max(sketch._max, self._max)
