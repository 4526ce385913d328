"""Kafka helpers every service uses: one producer, one consumer loop, topic set-up."""

from shared.kafka.admin import ensure_topics
from shared.kafka.consumer import (
    Delivery,
    EventConsumer,
    RetryPolicy,
    Route,
    getmany_unless_stopped,
    unless_stopped,
)
from shared.kafka.failures import InfrastructureError, PermanentError, is_infrastructure_failure
from shared.kafka.producer import EventProducer, close_within

__all__ = [
    "Delivery",
    "EventConsumer",
    "EventProducer",
    "InfrastructureError",
    "PermanentError",
    "RetryPolicy",
    "Route",
    "close_within",
    "ensure_topics",
    "getmany_unless_stopped",
    "is_infrastructure_failure",
    "unless_stopped",
]
