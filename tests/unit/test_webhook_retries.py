"""Failed webhooks are retried through one topic per delay, each try later than the last, then dead-lettered;
the message id and body never change between tries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.webhooks.retries import RetrySchedule
from shared.events import WEBHOOK_RETRIES, WebhookDelivery
from shared.webhooks.messages import new_secret, signed_headers, webhook_id

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def first_try() -> WebhookDelivery:
    return WebhookDelivery(
        correlation_id="c1",
        endpoint_id="e1",
        webhook_id=webhook_id("job.done", "job1", "e1"),
        event_type="job.done",
        source_event_id="ev1",
        body='{"type":"job.done"}',
    )


def test_each_retry_goes_to_the_next_topic_due_after_its_delay_then_none() -> None:
    schedule = RetrySchedule((10.0, 60.0, 600.0, 3600.0))
    message, seen = first_try(), []
    while (retry := schedule.after_failure(message, NOW)) is not None:
        topic, message = retry
        seen.append((topic.name, message.attempt, message.due_at - NOW))
    assert seen == [
        (WEBHOOK_RETRIES[0].name, 2, timedelta(seconds=10)),
        (WEBHOOK_RETRIES[1].name, 3, timedelta(seconds=60)),
        (WEBHOOK_RETRIES[2].name, 4, timedelta(seconds=600)),
        (WEBHOOK_RETRIES[3].name, 5, timedelta(seconds=3600)),
    ]
    assert message.webhook_id == first_try().webhook_id
    assert message.body == first_try().body


def test_fewer_delays_mean_fewer_retries() -> None:
    schedule = RetrySchedule((0.1,))
    retry = schedule.after_failure(first_try(), NOW)
    assert retry is not None
    assert schedule.after_failure(retry[1], NOW) is None


def test_more_delays_than_retry_topics_are_refused() -> None:
    with pytest.raises(ValueError, match="at most 4"):
        RetrySchedule((1.0,) * 5)


def test_a_messages_id_is_stable_per_event_and_endpoint() -> None:
    assert webhook_id("job.done", "j", "e") == webhook_id("job.done", "j", "e")
    assert (
        len(
            {
                webhook_id("job.done", "j", "e"),
                webhook_id("job.failed", "j", "e"),
                webhook_id("job.done", "j", "f"),
            }
        )
        == 3
    )


def test_signatures_verify_with_the_standard_webhooks_library() -> None:
    from standardwebhooks import Webhook

    secret = new_secret()
    assert secret.startswith("whsec_")
    headers = signed_headers(secret, "msg_1", '{"a":1}')
    assert Webhook(secret).verify('{"a":1}', headers) == {"a": 1}
