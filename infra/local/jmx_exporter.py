"""The Prometheus JMX exporter's java agent for local Kafka brokers: fetched once with Maven from
its own pom (infra/kafka/jmx-exporter/pom.xml), configured by infra/kafka/jmx-exporter.yml.

Opt-in: `KafkaCluster(..., jmx_exporter=ensure_jmx_exporter(cache), metrics_ports=[...])` starts each
node with the agent serving /metrics on its port; without it the brokers start exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra.local.maven import maven_dependencies

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
    folder = maven_dependencies(POM, cache_dir / "jmx-exporter", "the Prometheus JMX exporter")
    (agent,) = folder.glob("jmx_prometheus_javaagent-*.jar")
    return JmxExporter(agent)
