"""Operator tools behind `reencode topics|groups|dlq|tail`: read-only views of the cluster and a
dead-letter replay, built on the event catalogue so output speaks in events, not bytes."""
