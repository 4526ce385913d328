"""Kafka helpers every service uses: one producer, one consumer loop, topic set-up."""

from shared.kafka.admin import ensure_topics
from shared.kafka.consumer import (
    Delivery,
    EventConsumer,
    PermanentError,
    RetryPolicy,
    getmany_unless_stopped,
)
from shared.kafka.producer import EventProducer, close_within

__all__ = [
    "Delivery",
    "EventConsumer",
    "EventProducer",
    "PermanentError",
    "RetryPolicy",
    "close_within",
    "ensure_topics",
    "getmany_unless_stopped",
]
