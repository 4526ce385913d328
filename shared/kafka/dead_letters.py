"""The one dead-letter builder: every consumer that gives up on a record describes it here.

A dead letter must always fit on the topic, whatever the record held, or the consumer could neither
handle nor set aside its record and would rewind it forever. So the value is stored as base64 (any
bytes survive, unlike text decoding) and only its first `MAX_PAYLOAD_BYTES` are kept; its full size
and sha256 are recorded, so an operator can still tell which record it was. The reason and the key
are cut as well. A truncated letter cannot be replayed (`dlq replay` says so and skips it).
"""

from __future__ import annotations

import base64
import hashlib

from aiokafka import ConsumerRecord

from shared.events import DeadLetter, new_id

#: Bytes of the original value kept in a letter (about 87 KB once in base64, far below the
#: producer's default 1 MiB max_request_size).
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_REASON_CHARS = 4096
MAX_KEY_CHARS = 1024


def dead_letter(
    record: ConsumerRecord[bytes, bytes],
    reason: str,
    *,
    attempts: int,
    consumer_group: str,
    correlation_id: str | None = None,
) -> DeadLetter:
    """The `DeadLetter` for `record`, which `consumer_group` gave up on after `attempts` for `reason`."""
    value = record.value or b""
    kept = value[:MAX_PAYLOAD_BYTES]
    key = None if record.key is None else record.key.decode("utf-8", errors="replace")
    return DeadLetter(
        correlation_id=correlation_id or new_id(),
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=None if key is None else _cut(key, MAX_KEY_CHARS),
        payload=base64.b64encode(kept).decode("ascii"),
        payload_encoding="base64",
        payload_size=len(value),
        payload_sha256=hashlib.sha256(value).hexdigest(),
        payload_truncated=len(kept) < len(value),
        reason=_cut(reason, MAX_REASON_CHARS),
        attempts=attempts,
        consumer_group=consumer_group,
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 20]}… ({len(text)} chars)"
