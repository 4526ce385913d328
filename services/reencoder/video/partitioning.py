"""Keys that put a job's tasks on different partitions of `video.tasks`, so different workers take them.

Hashing the task id would leave it to chance whether two tasks of one job share a partition (and so
one worker). Instead the planner picks, for the i-th task, a key that the producer's partitioner
(Kafka's murmur2, the same in every client) maps to partition `(offset + i) % partitions`. Consumer
groups assign partitions round-robin, so consecutive partitions belong to different workers; the
job-derived offset spreads the first tasks of different jobs too.
"""

from __future__ import annotations

from functools import cache

from aiokafka.partitioner import murmur2


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives `key`."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


@cache
def key_for_partition(partition: int, partitions: int) -> str:
    """The shortest key `t<n>` that lands on `partition`."""
    candidate = 0
    while partition_of(f"t{candidate}", partitions) != partition:
        candidate += 1
    return f"t{candidate}"


def spread_keys(job_id: str, count: int, partitions: int) -> list[str]:
    """`count` keys on consecutive partitions, starting at a partition derived from `job_id`."""
    start = partition_of(job_id, partitions)
    return [key_for_partition((start + index) % partitions, partitions) for index in range(count)]
