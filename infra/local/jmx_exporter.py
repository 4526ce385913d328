"""The Prometheus JMX exporter's java agent for local Kafka brokers: fetched once with Maven from
its own pom (infra/kafka/jmx-exporter/pom.xml), configured by infra/kafka/jmx-exporter.yml.

Opt-in: `KafkaCluster(..., jmx_exporter=ensure_jmx_exporter(cache), metrics_ports=[...])` starts each
node with the agent serving /metrics on its port; without it the brokers start exactly as before.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_KAFKA_DIR = Path(__file__).resolve().parents[1] / "kafka"
POM = _KAFKA_DIR / "jmx-exporter" / "pom.xml"
CONFIG = _KAFKA_DIR / "jmx-exporter.yml"
#: Where compose's brokers serve the agent's /metrics (EXTRA_ARGS in docker-compose.yml).
COMPOSE_PORT = 7071


@dataclass(frozen=True)
class JmxExporter:
    """The agent jar and the exporter's configuration."""

    agent: Path
    config: Path = CONFIG

    def jvm_option(self, port: int, host: str = "127.0.0.1") -> str:
        """`-javaagent:` serving the broker's metrics on http://host:port/metrics."""
        return f"-javaagent:{self.agent}={host}:{port}:{self.config}"


def ensure_jmx_exporter(cache_dir: Path) -> JmxExporter:
    """The agent, fetched with Maven on first use (and again whenever its pom changes)."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    folder = cache_dir / "jmx-exporter"
    marker = folder / ".complete"
    if not (marker.is_file() and marker.read_text() == digest):
        _fetch(folder, digest)
    (agent,) = folder.glob("jmx_prometheus_javaagent-*.jar")
    return JmxExporter(agent)


def _fetch(folder: Path, digest: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven ('mvn') is needed once, to download the JMX exporter; please install it")
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    print(f"Downloading the Prometheus JMX exporter from Maven Central (once) into {folder}", file=sys.stderr)
    result = subprocess.run(
        [
            mvn,
            "--batch-mode",
            "--quiet",
            "-Dstyle.color=never",
            "--file",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr).strip()[-4000:]
        raise RuntimeError(f"fetching the JMX exporter failed ({result.returncode}):\n{output}")
    (partial / ".complete").write_text(digest)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
