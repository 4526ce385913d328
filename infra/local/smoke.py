"""Start Kafka, MinIO and PostgreSQL for real, use each once, stop them, print how long it took.

    python -m infra.local.smoke                  # one Kafka node
    python -m infra.local.smoke --kafka-nodes 3  # three nodes: a topic with three replicas

Everything runs on free loopback ports in a temporary folder; downloads and builds are cached.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import sqlalchemy
from aiokafka.admin import NewTopic
from minio import Minio

from infra.local.kafka import CONSOLE_TOOLS, KafkaCluster, console_tool_argv, ensure_kafka_jars
from infra.local.objectstore import MinioServer, ensure_minio_binary
from infra.local.postgres import PostgresServer, ensure_postgres_installed
from infra.local.processes import free_port
from shared.kafka.clients import admin_client, kafka_consumer, kafka_producer
from shared.settings import KafkaSettings

DEFAULT_CACHE = Path(__file__).resolve().parents[2] / ".state" / "cache"
TOPIC = "smoke"

timings: dict[str, float] = {}


@contextmanager
def timed(step: str) -> Iterator[None]:
    print(f"... {step}", flush=True)
    started = time.monotonic()
    yield
    timings[step] = time.monotonic() - started


async def round_trip(bootstrap_servers: str, value: bytes, group: str) -> None:
    """Produce `value` with acks=all and read it back through a consumer group."""
    settings = KafkaSettings(bootstrap_servers=bootstrap_servers)
    producer = kafka_producer(settings, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(TOPIC, value)
    finally:
        await producer.stop()
    consumer = kafka_consumer(settings, TOPIC, group_id=group, auto_offset_reset="earliest")
    await consumer.start()
    try:
        async with asyncio.timeout(60):
            while (await consumer.getone()).value != value:
                pass
    finally:
        await consumer.stop()


async def create_topic(kafka: KafkaCluster) -> None:
    async with admin_client(KafkaSettings(bootstrap_servers=kafka.bootstrap_servers), "smoke") as admin:
        topic = NewTopic(TOPIC, num_partitions=3, replication_factor=kafka.replication_factor)
        await admin.create_topics([topic])


def check_kafka(kafka: KafkaCluster) -> None:
    with timed("kafka: create topic"):
        asyncio.run(create_topic(kafka))
    with timed("kafka: kafka-topics --describe (console tool)"):
        described = subprocess.run(
            console_tool_argv(
                kafka.jars_dir,
                CONSOLE_TOOLS["kafka-topics"],
                ["--bootstrap-server", kafka.bootstrap_servers, "--describe", "--topic", TOPIC],
            ),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        expected = f"ReplicationFactor: {kafka.replication_factor}"
        assert expected in described, f"expected {expected!r} in:\n{described}"
    with timed("kafka: produce + consume"):
        asyncio.run(round_trip(kafka.bootstrap_servers, b"first", group="smoke-1"))
    if len(kafka.nodes) >= 3:
        # min.insync.replicas=2 of 3: writes go on while one node is down.
        last = len(kafka.nodes) - 1
        with timed(f"kafka: kill node {last}, produce + consume"):
            kafka.kill_node(last)
            asyncio.run(round_trip(kafka.bootstrap_servers, b"second", group="smoke-2"))
        with timed(f"kafka: restart node {last}"):
            kafka.start_node(last)
            kafka.wait_ready(timeout=120)


def check_minio(minio: MinioServer, access_key: str, secret_key: str) -> None:
    with timed("minio: bucket + put + get"):
        client = Minio(minio.endpoint, access_key=access_key, secret_key=secret_key, secure=False)
        if not client.bucket_exists(TOPIC):
            client.make_bucket(TOPIC)
        body = b"hello from the smoke test"
        client.put_object(TOPIC, "hello.txt", io.BytesIO(body), length=len(body))
        response = client.get_object(TOPIC, "hello.txt")
        try:
            assert response.read() == body
        finally:
            response.close()
            response.release_conn()


def check_postgres(postgres: PostgresServer) -> None:
    with timed("postgres: create database + SELECT 1"):
        postgres.create_database(TOPIC)
        engine = sqlalchemy.create_engine(postgres.url(TOPIC))
        try:
            with engine.connect() as connection:
                assert connection.execute(sqlalchemy.text("SELECT 1")).scalar_one() == 1
        finally:
            engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.smoke",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kafka-nodes", type=int, default=1, choices=[1, 3])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="downloads and builds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (data and logs)")
    args = parser.parse_args()
    # aiokafka warns while a new consumer group's coordinator starts up, which is expected here.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)

    state = Path(tempfile.mkdtemp(prefix="reencode-smoke-"))
    access_key, secret_key = "smoke", "smoke-secret"
    with timed("prepare: Kafka jars, MinIO binary, PostgreSQL"):
        jars = ensure_kafka_jars(args.cache_dir)
        minio_binary = ensure_minio_binary(args.cache_dir)
        ensure_postgres_installed()
    logs = state / "logs"
    kafka = KafkaCluster(state / "kafka", jars, nodes=args.kafka_nodes, logs_dir=logs)
    minio = MinioServer(
        binary=minio_binary,
        data_dir=state / "minio",
        port=free_port(),
        console_port=free_port(),
        access_key=access_key,
        secret_key=secret_key,
        log_path=logs / "minio.log",
    )
    postgres = PostgresServer(state / "postgres", free_port(), fast=True, log_path=logs / "postgres.log")
    try:
        with ExitStack() as running:
            with timed("start all three (in parallel) until ready"):
                kafka.start()
                running.callback(kafka.stop)
                minio.start()
                running.callback(minio.stop)
                postgres.start()
                running.callback(postgres.stop)
                postgres.wait_ready()
                minio.wait_ready()
                kafka.wait_ready()
            check_kafka(kafka)
            check_minio(minio, access_key, secret_key)
            check_postgres(postgres)
            with timed("stop all three"):
                running.close()  # in reverse order: PostgreSQL, MinIO, then Kafka
    except BaseException:
        print(f"FAILED; data and logs kept in {state}", file=sys.stderr)
        raise
    if not args.keep:
        shutil.rmtree(state)

    print(f"\nsmoke test passed ({args.kafka_nodes} Kafka node(s)); seconds per step:")
    for step, seconds in timings.items():
        print(f"  {seconds:7.2f}  {step}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
