"""Kafka helpers every service uses: one producer, one consumer loop, topic set-up."""

from shared.kafka.admin import ensure_topics
from shared.kafka.consumer import Delivery, EventConsumer, PermanentError, RetryPolicy
from shared.kafka.producer import EventProducer

__all__ = [
    "Delivery",
    "EventConsumer",
    "EventProducer",
    "PermanentError",
    "RetryPolicy",
    "ensure_topics",
]
