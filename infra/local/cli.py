"""`reencode`: the project's command line (`python -m infra.local` works too)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from pathlib import Path

import typer
from rich.console import Console

from infra.local.stack import LocalStack, StackConfig
from shared.database import create_schema, make_engine
from shared.events import ALL_TOPICS
from shared.kafka import ensure_topics
from shared.logs import configure_logging
from shared.settings import STATE_DIR, DatabaseSettings, KafkaSettings, StorageSettings
from shared.storage import MediaStore

app = typer.Typer(help="reencode: a media re-encoding website built as Kafka microservices.")
console = Console()


@app.callback()
def main() -> None:
    """Commands for running and operating the site."""


@app.command()
def init() -> None:
    """Create the topics, buckets and database schema the settings point at (idempotent)."""
    configure_logging("init")
    created = asyncio.run(ensure_topics(KafkaSettings()))
    MediaStore(StorageSettings()).ensure_buckets()
    create_schema(make_engine(DatabaseSettings()))
    console.print(f"ready; topics created now: {', '.join(created) or 'none'}")


@app.command()
def run(
    reencoders: int = typer.Option(2, help="How many re-encoding worker processes to start."),
    state_dir: Path = typer.Option(STATE_DIR, help="Where Kafka, MinIO and SQLite keep their data."),
) -> None:
    """Start Kafka, MinIO, the database and every service; stop them all with Ctrl-C."""
    configure_logging("stack")
    logging.getLogger("infra").setLevel(logging.INFO)
    config = StackConfig(
        state_dir=state_dir,
        cache_dir=state_dir / "cache",
        reencoders=reencoders,
        database_url=os.environ.get("DATABASE_URL"),
    )
    stack = LocalStack(config)
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        with console.status("starting Kafka and MinIO (the first run downloads and builds them)"):
            stack.start_infrastructure()
        with console.status("starting the services"):
            stack.start_services()
        console.print(
            f"[bold green]reencode is up:[/] {config.frontend_url}  (API: {config.frontend_url}/docs)"
        )
        console.print(
            f"  Kafka {config.kafka.bootstrap_servers} · topics {', '.join(t.name for t in ALL_TOPICS)}"
        )
        console.print(f"  MinIO http://{config.storage.endpoint} · database {config.sqlalchemy_url}")
        console.print(f"  logs in {stack.logs_dir} · Ctrl-C stops everything")
        while not stopping.wait(1.0):
            for name, process in list(stack.services.items()):
                if not process.is_running:
                    console.print(
                        f"[red]{name} exited ({process.returncode}); see {stack.logs_dir}/{name}.log"
                    )
                    stack.services.pop(name)
    finally:
        with console.status("stopping: services finish their work, then Kafka and MinIO"):
            stack.stop()
        console.print("stopped; data kept in", str(config.state_dir))
