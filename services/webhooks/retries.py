"""When a failed webhook is tried again: one Kafka topic per delay, then dead letters.

A failed try is never retried by sleeping in a consumer: the message is written to the retry topic
of its next delay with the time it is due, and that topic's consumer holds it until then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.events import WEBHOOK_RETRIES, Topic, WebhookDelivery, new_id


@dataclass(frozen=True)
class RetrySchedule:
    """`delays_s[i]` is the wait before retry i+1, written to `topics[i]`."""

    delays_s: tuple[float, ...]
    topics: tuple[Topic[WebhookDelivery], ...] = WEBHOOK_RETRIES

    def __post_init__(self) -> None:
        if len(self.delays_s) > len(self.topics):
            raise ValueError(f"at most {len(self.topics)} retry delays (one per retry topic)")
        if any(delay < 0 for delay in self.delays_s):
            raise ValueError("retry delays cannot be negative")

    def after_failure(
        self, failed: WebhookDelivery, now: datetime
    ) -> tuple[Topic[WebhookDelivery], WebhookDelivery] | None:
        """Where and when to try `failed` again, or None when its retries are spent."""
        if failed.stage >= len(self.delays_s):
            return None
        retry = failed.model_copy(
            update={
                "event_id": new_id(),
                "stage": failed.stage + 1,
                "attempt": failed.attempt + 1,
                "due_at": now + timedelta(seconds=self.delays_s[failed.stage]),
            }
        )
        return self.topics[failed.stage], retry
