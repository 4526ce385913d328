"""A standalone ZooKeeper server as a local JVM process, for the design's own cluster
(`make run-zookeeper`: ZooKeeper and two Kafka 3.9 brokers; see infra/local/zookeeper_cluster.py).

It runs from the Kafka 3.9 jars, as the Kafka distribution's `bin/zookeeper-server-start.sh` does:
`kafka_2.13:3.9.x` depends on `org.apache.zookeeper:zookeeper` 3.8, the version compose's
`zookeeper:3.8` image runs. Its data lives in `data_dir`, so znodes survive restarts.
"""

from __future__ import annotations

import time
from pathlib import Path

from infra.local.kafka import java_executable
from infra.local.processes import ManagedProcess
from shared.kafka.zookeeper import FOUR_LETTER_WORDS, four_letter_word

ZOOKEEPER_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
LOG_CONFIG = Path(__file__).resolve().parents[1] / "kafka" / "log4j2-3.9.properties"

#: What this server shares with compose's `zookeeper` service (whose image spells them
#: ZOO_4LW_COMMANDS_WHITELIST, ZOO_TICK_TIME, ...); tests/unit/test_zookeeper_compose.py compares them.
SHARED_SETTINGS: dict[str, str] = {
    # Monitoring's health check: `ruok` (alive, no error state) and `mntr` (figures); `srvr` for people.
    "4lw.commands.whitelist": ",".join(FOUR_LETTER_WORDS),
    "tickTime": "2000",
    # Old snapshots and logs are purged every hour, keeping three.
    "autopurge.snapRetainCount": "3",
    "autopurge.purgeInterval": "1",
    # The AdminServer would take port 8080 on every interface; the four-letter words suffice.
    "admin.enableServer": "false",
}
#: The official image's variable for each shared setting (docker-compose.zookeeper.yml sets these).
COMPOSE_VARIABLES = {
    "4lw.commands.whitelist": "ZOO_4LW_COMMANDS_WHITELIST",
    "tickTime": "ZOO_TICK_TIME",
    "autopurge.snapRetainCount": "ZOO_AUTOPURGE_SNAPRETAINCOUNT",
    "autopurge.purgeInterval": "ZOO_AUTOPURGE_PURGEINTERVAL",
    "admin.enableServer": "ZOO_ADMINSERVER_ENABLED",
}


class ZooKeeperServer:
    """One standalone ZooKeeper on 127.0.0.1:`port`."""

    def __init__(self, jars_dir: Path, data_dir: Path, port: int, log_path: Path, heap: str = "128m") -> None:
        self.data_dir = data_dir
        self.port = port
        self.config_path = data_dir.parent / "zoo.cfg"
        self.process = ManagedProcess(
            name="zookeeper",
            argv=[
                java_executable(),
                f"-Xms{heap}",
                f"-Xmx{heap}",
                f"-Dlog4j2.configurationFile={LOG_CONFIG}",
                "-cp",
                f"{jars_dir}/*",
                ZOOKEEPER_MAIN,
                str(self.config_path),
            ],
            log_path=log_path,
        )

    @property
    def connect(self) -> str:
        """The connect string brokers and monitoring use."""
        return f"127.0.0.1:{self.port}"

    def settings(self) -> dict[str, str]:
        return {
            **SHARED_SETTINGS,
            "dataDir": str(self.data_dir),
            "clientPort": str(self.port),
            "clientPortAddress": "127.0.0.1",
            # Brokers, monitoring and tools all come from loopback: no per-address connection cap.
            "maxClientCnxns": "0",
        }

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lines = ["# Written by infra.local.zookeeper on every start; edits are overwritten."]
        lines += [f"{key}={value}" for key, value in self.settings().items()]
        self.config_path.write_text("\n".join(lines) + "\n")
        self.process.start()

    def is_ok(self) -> bool:
        """`ruok` answered `imok`."""
        try:
            return four_letter_word(self.connect, "ruok", timeout_s=1.0) == "imok"
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.is_running:
                raise RuntimeError(
                    f"zookeeper exited with code {self.process.returncode}; last lines of "
                    f"{self.process.log_path}:\n{self.process.log_tail()}"
                )
            if self.is_ok():
                return
            time.sleep(0.2)
        raise RuntimeError(f"ZooKeeper not ready after {timeout:.0f}s:\n{self.process.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        self.process.stop(timeout)
