"""Decoding a whole batch of one topic's records at once, with the event model's own checks.

Why: one `model_validate_json` per record, plus building a frozen model the aggregator reads five
fields of, cost more than the consumer's own reading of the record (bench/metrics.py). Validating
the batch as one JSON array into plain dicts does the same checks at about a third of the cost.

The dict schema is derived from the event model, field by field (same types, same constraints, the
same fields required), so it cannot drift from `shared.events`. Models with validators of their own
are not eligible (`fields_view` refuses them): a derived schema would skip those checks.

A batch that fails as a whole (a bad record, a value that is not one JSON object) is decoded again
record by record with the model, so each bad record gets its own reason and goes to dead letters
while the good ones are still folded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, NotRequired, cast

from pydantic import BaseModel, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from shared.kafka.consumer import describe_validation_error

#: A decoded record: the event's fields by name; optional fields may be absent.
Row = dict[str, Any]


def fields_view(model: type[BaseModel]) -> TypeAdapter[list[Row]]:
    """A validator of JSON arrays of `model`'s records giving dicts, with `model`'s field checks."""
    decorators = model.__pydantic_decorators__
    if decorators.field_validators or decorators.model_validators or decorators.validators:
        raise TypeError(f"{model.__name__} has validators of its own: decode it with the model")
    annotations: dict[str, Any] = {}
    for name, spec in model.model_fields.items():
        annotation: Any = spec.annotation
        if spec.metadata:
            annotation = Annotated[(annotation, *spec.metadata)]
        annotations[name] = annotation if spec.is_required() else NotRequired[annotation]
    # Unknown keys are dropped, as the events' `extra="ignore"` does.
    view = TypedDict(f"{model.__name__}Fields", annotations)  # type: ignore[misc]
    return cast(TypeAdapter[list[Row]], TypeAdapter(list[view]))


class BatchDecoder:
    """Decodes one topic's records, a batch at a time, into `Row`s."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self._view = fields_view(model)

    def decode(self, values: Sequence[bytes | None]) -> tuple[list[Row], list[tuple[int, str]]]:
        """The good records as rows, and `(index, reason)` for each bad one."""
        if not values:
            return [], []
        try:
            rows = self._view.validate_json(b"[" + b",".join(v or b"" for v in values) + b"]")
        except ValidationError:
            return self._one_by_one(values)
        if len(rows) != len(values):  # one value held several objects: find it
            return self._one_by_one(values)
        return rows, []

    def _one_by_one(self, values: Sequence[bytes | None]) -> tuple[list[Row], list[tuple[int, str]]]:
        rows: list[Row] = []
        bad: list[tuple[int, str]] = []
        for index, value in enumerate(values):
            try:
                self.model.model_validate_json(value or b"")
                row = self._view.validate_json(b"[" + (value or b"") + b"]")
            except ValidationError as error:
                bad.append((index, _reason(self.model, error)))
                continue
            rows.extend(row)
        return rows, bad


def _reason(model: type[BaseModel], error: ValidationError) -> str:
    return f"invalid {model.__name__}: {describe_validation_error(error)}"
