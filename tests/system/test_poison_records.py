"""Malformed records on every topic every running service consumes: each group dead-letters them and
goes on. Bytes that are no JSON, JSON of another schema, a 200 KB binary value, with a key and
without one; then an upload must still end done."""

from __future__ import annotations

import asyncio

from infra.chaos.faults import LARGE_POISON_BYTES, consumed_in_groups, produce_poison
from infra.chaos.invariants import undelivered
from services.declarations import SERVICES
from tests.eventually import eventually
from tests.system.conftest import Site

VALUES = [
    b"\x00poison: not an event \xff{",
    b'{"event_id": "poison", "schema_version": 99, "what": "an event of no schema"}',
    bytes(range(256)) * (LARGE_POISON_BYTES // 256),
]


def test_every_consumer_dead_letters_malformed_records_and_goes_on(small_site: Site) -> None:
    stack = small_site.stack
    running = {name.split("-")[0] for name in stack.services}
    declarations = tuple(d.declaration for d in SERVICES if d.declaration.name in running)
    topics = consumed_in_groups(declarations)
    assert len(topics) >= 6, topics  # the frontend's, the workers', monitoring's, webhooks', ...

    written = asyncio.run(produce_poison(stack.config.kafka, topics, VALUES, keys=(b"poison", None)))
    eventually(
        lambda: undelivered(stack.config.kafka, written),
        until=lambda missing: not missing,
        timeout=120,
        interval=2.0,
        what="every malformed record dead-lettered by every group that reads its topic",
    )
    assert [name for name, process in stack.services.items() if not process.is_running] == []
    assert small_site.wait_for(small_site.upload_ok())["status"] == "done"
