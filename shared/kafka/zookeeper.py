"""ZooKeeper as a Kafka 3.x cluster in ZooKeeper mode uses it, as typed views: the server's health
(its four-letter words `ruok` and `mntr`), the controller broker and its epoch, and the brokers'
registrations (`/brokers/ids/<id>`, ephemeral znodes: one vanishes when its broker's session ends).

The one reader of ZooKeeper for monitoring, the operator CLI and the tests. Blocking: async callers
run `read_zookeeper` in a thread. An empty connect string means the cluster runs KRaft.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from pydantic import BaseModel, ConfigDict

#: The four-letter words this project asks; ZooKeeper answers only those its
#: `4lw.commands.whitelist` names (infra/local/zookeeper.py and docker-compose.zookeeper.yml).
FOUR_LETTER_WORDS = ("ruok", "mntr", "srvr")
#: The `mntr` figures worth showing; the rest (hundreds in 3.8) stay in ZooKeeper.
MNTR_SHOWN = (
    "zk_version",
    "zk_server_state",
    "zk_avg_latency",
    "zk_outstanding_requests",
    "zk_num_alive_connections",
    "zk_znode_count",
    "zk_ephemerals_count",
    "zk_watch_count",
)


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class BrokerRegistration(_View):
    """A broker's ephemeral znode: it exists while the broker holds a ZooKeeper session."""

    broker_id: int
    host: str | None = None
    port: int | None = None
    #: The listeners the broker advertises (`PLAINTEXT://127.0.0.1:9092`).
    endpoints: tuple[str, ...] = ()
    #: When the broker registered (ms since the epoch, as Kafka writes it).
    registered_at_ms: int | None = None


class ZooKeeperView(_View):
    """One look at ZooKeeper: is it there, is it well, and what Kafka keeps in it."""

    connect: str
    reachable: bool
    #: Why ZooKeeper could not be examined (only when `reachable` is false).
    error: str | None = None
    #: `ruok` answered `imok`: the server runs without an error state.
    ok: bool = False
    #: Selected `mntr` figures (zk_server_state: standalone, leader or follower).
    stats: dict[str, str] = {}
    #: The broker acting as controller (`/controller`); None while there is none.
    controller_id: int | None = None
    #: How many times a controller has been elected (`/controller_epoch`): a rise is a change.
    controller_epoch: int | None = None
    #: Set while a KRaft controller has taken over (a ZooKeeper-to-KRaft migration).
    kraft_controller_epoch: int | None = None
    registrations: tuple[BrokerRegistration, ...] = ()

    @property
    def registered_ids(self) -> set[int]:
        return {r.broker_id for r in self.registrations}


def four_letter_word(connect: str, word: str, timeout_s: float = 2.0) -> str:
    """ZooKeeper's answer to `word` (`ruok` -> `imok`), from the first server of `connect`."""
    host, _, port = connect.split(",")[0].rpartition(":")
    with socket.create_connection((host, int(port)), timeout=timeout_s) as conn:
        conn.sendall(word.encode())
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def parse_mntr(text: str) -> dict[str, str]:
    """`mntr`'s `key<TAB>value` lines as a mapping."""
    pairs = (line.split("\t", 1) for line in text.splitlines() if "\t" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def read_zookeeper(connect: str, timeout_s: float = 3.0) -> ZooKeeperView:
    """Health first (a dead server fails fast on a refused socket), then the znodes Kafka keeps."""
    try:
        ok = four_letter_word(connect, "ruok", timeout_s) == "imok"
        stats = parse_mntr(four_letter_word(connect, "mntr", timeout_s))
        znodes = _read_znodes(connect, timeout_s)
    except Exception as error:  # refused, timed out, session lost: all mean "not examinable now"
        reason = f"{type(error).__name__}: {error}".rstrip(": ")
        return ZooKeeperView(connect=connect, reachable=False, error=reason)
    shown = {key: stats[key] for key in MNTR_SHOWN if key in stats}
    return ZooKeeperView(connect=connect, reachable=True, ok=ok, stats=shown, **znodes)


def _read_znodes(connect: str, timeout_s: float) -> dict[str, Any]:
    # Kazoo logs every dropped connection at WARNING; the caller reports a failure once.
    client = KazooClient(hosts=connect, timeout=timeout_s, connection_retry={"max_tries": 0}, logger=_QUIET)
    client.start(timeout=timeout_s)
    try:
        controller = _json(client, "/controller")
        epoch = _text(client, "/controller_epoch")
        registrations = tuple(
            _registration(int(child), _json(client, f"/brokers/ids/{child}"))
            for child in sorted(_children(client, "/brokers/ids"), key=int)
        )
    finally:
        with contextlib.suppress(Exception):
            client.stop()
        client.close()
    return {
        "controller_id": _int(controller.get("brokerid")) if controller else None,
        # -1 (or absent) until a KRaft controller takes over during a migration.
        "kraft_controller_epoch": _positive(controller.get("kraftControllerEpoch")) if controller else None,
        "controller_epoch": _int(epoch),
        "registrations": tuple(r for r in registrations if r is not None),
    }


def _registration(broker_id: int, data: dict[str, Any] | None) -> BrokerRegistration | None:
    if data is None:  # the broker's session ended between listing and reading
        return None
    return BrokerRegistration(
        broker_id=broker_id,
        host=data.get("host"),
        port=_int(data.get("port")),
        endpoints=tuple(data.get("endpoints", ())),
        registered_at_ms=_int(data.get("timestamp")),
    )


def _text(client: KazooClient, path: str) -> str | None:
    try:
        data, _stat = client.get(path)
    except NoNodeError:
        return None
    return bytes(data).decode() if data else None


def _json(client: KazooClient, path: str) -> dict[str, Any] | None:
    text = _text(client, path)
    if not text:
        return None
    loaded = json.loads(text)
    return loaded if isinstance(loaded, dict) else None


def _children(client: KazooClient, path: str) -> list[str]:
    try:
        return list(client.get_children(path))
    except NoNodeError:
        return []


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _positive(value: Any) -> int | None:
    number = _int(value)
    return number if number is not None and number >= 0 else None


_QUIET = logging.getLogger("kazoo.quiet")
_QUIET.setLevel(logging.ERROR)
