"""docker-compose.yml checked without an engine: schema, pinned images, and that it runs this code
with the same Kafka settings as the local cluster (infra/local/kafka.py)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic_settings import BaseSettings

from infra.local.cli import app as cli_app
from infra.local.kafka import KAFKA_VERSION, KafkaCluster
from infra.local.stack import REPO_ROOT
from infra.local.storage_events import TARGET_ARN, notification_env
from services.declarations import SERVICES as DEPLOYED
from shared.events import JOBS_REQUESTED, STORAGE_EVENTS
from shared.frame import HttpSettings
from shared.settings import StorageSettings


class ComposeLoader(yaml.SafeLoader):
    """YAML as Compose reads it: `!override` and `!reset` (merge controls) keep their value."""


ComposeLoader.add_multi_constructor(
    "!",
    lambda loader, _tag, node: (
        loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.MappingNode)
        else loader.construct_sequence(node, deep=True)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_scalar(node)
    ),
)


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((REPO_ROOT / name).read_text(), Loader=ComposeLoader)
    return loaded


COMPOSE = load("docker-compose.yml")
ZOOKEEPER = load("docker-compose.zookeeper.yml")
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_SERVICES = {name: s for name, s in SERVICES.items() if s.get("image") == "reencode-app:local"}
KAFKA_NODES = {name: s for name, s in SERVICES.items() if re.fullmatch(r"kafka-\d+", name)}
#: Every settings class some service's configuration reads (derived from the declarations).
SETTINGS: list[type[BaseSettings]] = [
    *{kind: None for service in DEPLOYED for kind in service.config.settings_classes()}
]
HTTP_SETTINGS: dict[str, type[HttpSettings]] = {
    service.declaration.name: kind
    for service in DEPLOYED
    if service.declaration.http
    for kind in service.config.settings_classes()
    if issubclass(kind, HttpSettings)
}


def _env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    return {(prefix + field).upper() for field in settings.model_fields}


def _kafka_properties(environment: dict[str, Any]) -> dict[str, str]:
    """The apache/kafka image's rule: KAFKA_FOO_BAR=x becomes foo.bar=x in server.properties."""
    return {
        key.removeprefix("KAFKA_").lower().replace("_", "."): str(value)
        for key, value in environment.items()
        if key.startswith("KAFKA_")
    }


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.zookeeper.yml"])
def test_compose_files_match_the_compose_specification(name: str) -> None:
    schema = json.loads((REPO_ROOT / "infra" / "compose" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(load(name))


def test_every_image_is_pinned() -> None:
    for name, service in {**SERVICES, **ZOOKEEPER["services"]}.items():
        image = service.get("image", "")
        if "build" in service or not image:
            continue  # built from this repository, or an override that keeps the main file's image
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: image {image!r} has no tag"
        assert not re.search(r":(latest|\d+)$", image), f"{name}: {image} is not pinned to a release"
    for dockerfile in (REPO_ROOT / "infra").rglob("Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("FROM "):
                base = line.split()[1]
                assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", base), f"{dockerfile}: {base} is not pinned"


def test_the_image_runs_as_a_non_root_user_without_build_tools() -> None:
    dockerfile = (REPO_ROOT / "infra" / "docker" / "Dockerfile").read_text()
    final_stage = dockerfile.split("\nFROM ")[-1]
    assert re.search(r"^USER (?!root)\S+", final_stage, re.MULTILINE), "the final stage runs as root"
    assert not re.search(r"apt-get install[^\n]*(gcc|build-essential)", final_stage)


def test_the_image_holds_every_python_package_of_the_project() -> None:
    dockerfile = (REPO_ROOT / "infra" / "docker" / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+) ", dockerfile, re.MULTILINE))
    # The chaos and fuzz runs start a private stack of their own: developer's tools, never run in a
    # container.
    developer_tools = {"infra/chaos", "infra/fuzz"}
    packages = {"shared", "services"} | {
        f"infra/{init.parent.name}" for init in (REPO_ROOT / "infra").glob("*/__init__.py")
    } - developer_tools
    assert packages <= copied, f"the image lacks {packages - copied}: `reencode` would not import"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_services_run_commands_that_exist(name: str) -> None:
    command = APP_SERVICES[name]["command"]
    if command[:2] == ["python", "-m"]:
        assert importlib.util.find_spec(command[2]) is not None, f"{name}: no module {command[2]}"
        assert importlib.util.find_spec(f"{command[2]}.__main__") is not None
    else:
        assert command[0] == "reencode"
        assert command[1] in {c.name or c.callback.__name__ for c in cli_app.registered_commands}  # type: ignore[union-attr]


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_services_set_only_variables_the_code_reads(name: str) -> None:
    known = set().union(*(_env_names(settings) for settings in SETTINGS))
    overrides = ZOOKEEPER["services"].get(name, {}).get("environment", {})
    unknown = (set(APP_SERVICES[name].get("environment", {})) | set(overrides)) - known
    assert not unknown, f"{name} sets variables no settings class reads: {unknown}"


def test_every_interpolated_variable_is_in_env_example() -> None:
    documented = {
        line.split("=", 1)[0]
        for line in (REPO_ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    for name in ("docker-compose.yml", "docker-compose.zookeeper.yml"):
        used = set(re.findall(r"(?<!\$)\$\{(\w+)", (REPO_ROOT / name).read_text()))
        assert used <= documented, f"{name} uses {used - documented}, missing from .env.example"


def test_compose_kafka_matches_the_local_broker_version() -> None:
    # Apache's image with the JMX exporter agent added (infra/kafka/Dockerfile).
    assert {s["build"]["dockerfile"] for s in KAFKA_NODES.values()} == {"infra/kafka/Dockerfile"}
    dockerfile = (REPO_ROOT / "infra" / "kafka" / "Dockerfile").read_text()
    assert re.findall(r"^FROM (apache/kafka:\S+)", dockerfile, re.MULTILINE) == [
        f"apache/kafka:{KAFKA_VERSION}"
    ]
    assert {s["image"] for s in KAFKA_NODES.values()} == {f"reencode-kafka:{KAFKA_VERSION}"}
    pom = (REPO_ROOT / "infra" / "kafka" / "pom.xml").read_text()
    assert f"<kafka.version>{KAFKA_VERSION}</kafka.version>" in pom


def test_compose_kafka_settings_match_the_local_three_node_cluster(tmp_path: Path) -> None:
    local = KafkaCluster(tmp_path, tmp_path, nodes=3)
    local_properties = dict(
        line.split("=", 1)
        for line in local._server_properties(local.nodes[0]).splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert len(KAFKA_NODES) == len(local.nodes) == 3
    shared_keys = [
        "process.roles",
        "default.replication.factor",
        "min.insync.replicas",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "auto.create.topics.enable",
        "group.initial.rebalance.delay.ms",
        "controller.listener.names",
    ]
    for name, node in KAFKA_NODES.items():
        compose = _kafka_properties(node["environment"])
        for key in shared_keys:
            assert compose.get(key) == local_properties[key], f"{name}: {key}"
        voters = compose["controller.quorum.voters"].split(",")
        assert len(voters) == 3, "every node is a voter of the controller quorum, as locally"
    app_env = APP_SERVICES["frontend"]["environment"]
    assert str(app_env["KAFKA_REPLICATION_FACTOR"]) == local_properties["default.replication.factor"]
    assert app_env["KAFKA_BOOTSTRAP_SERVERS"] == ",".join(f"{n}:29092" for n in sorted(KAFKA_NODES))


def test_zookeeper_topology_is_two_brokers_on_kafka_3_9_at_replication_factor_2() -> None:
    services = ZOOKEEPER["services"]
    brokers = {name: s for name, s in services.items() if re.fullmatch(r"kafka-\d+", name) and "image" in s}
    assert sorted(brokers) == ["kafka-1", "kafka-2"]
    assert services["kafka-3"]["profiles"], "the third KRaft node must stay off"
    for name, broker in brokers.items():
        assert broker["image"].startswith("apache/kafka:3.9.")
        properties = _kafka_properties(broker["environment"])
        assert "process.roles" not in properties, f"{name} must run in ZooKeeper mode"
        assert properties["zookeeper.connect"] == "zookeeper:2181"
        assert properties["default.replication.factor"] == "2"
    assert services["zookeeper"]["image"].startswith("zookeeper:3.8.")
    assert "kafka-3" not in services["init"]["depends_on"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["KAFKA_REPLICATION_FACTOR"] == 2
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka-1:29092,kafka-2:29092"


def test_services_start_in_order_on_health_not_on_sleeps() -> None:
    for name, service in SERVICES.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            one_shot = SERVICES[dependency].get("restart") == "no"
            wanted = "service_completed_successfully" if one_shot else "service_healthy"
            assert rule["condition"] == wanted, f"{name} -> {dependency}"
        if service.get("restart") != "no":
            assert "healthcheck" in service, f"{name} has no healthcheck"
        assert "sleep" not in json.dumps(service.get("command", "")), f"{name} waits with sleep"


def test_http_services_listen_on_the_ports_their_settings_default_to() -> None:
    for name, settings in HTTP_SETTINGS.items():
        port = settings.model_fields["port"].default
        assert f":{port}/healthz" in " ".join(SERVICES[name]["healthcheck"]["test"])


def test_only_the_load_balancer_is_published_and_tools_listen_on_loopback() -> None:
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            if name == "lb":
                continue
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
            assert "tools" in service.get("profiles", []), f"{name} publishes a port without being opt-in"
    assert SERVICES["lb"]["ports"] == ["8000:80"]


def test_everything_but_the_edge_lives_on_the_internal_network() -> None:
    assert COMPOSE["networks"]["backend"]["internal"] is True
    for name, service in SERVICES.items():
        networks = service.get("networks", [])
        assert "backend" in networks, f"{name} is not on the backend network"
        if "edge" in networks:
            assert name == "lb" or "tools" in service.get("profiles", []), f"{name} should not reach the edge"


def test_no_secret_has_a_default_value() -> None:
    for name in ("docker-compose.yml", "docker-compose.zookeeper.yml"):
        text = (REPO_ROOT / name).read_text()
        for variable, rule in re.findall(r"(?<!\$)\$\{(\w+)(:?[-?])?", text):
            if re.search(r"PASSWORD|SECRET|ACCESS_KEY", variable):
                assert rule == ":?", f"{name}: ${{{variable}}} must be required (:?), not defaulted"
    grafana = SERVICES["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def test_prometheus_scrapes_every_http_service_on_its_port() -> None:
    config = yaml.safe_load((REPO_ROOT / "infra" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: (sd["names"], sd["port"])
        for job in config["scrape_configs"]
        for sd in job["dns_sd_configs"]
    }
    for name, settings in HTTP_SETTINGS.items():
        assert targets[name] == ([name], settings.model_fields["port"].default)


def test_grafana_dashboards_use_the_provisioned_prometheus() -> None:
    grafana = REPO_ROOT / "infra" / "grafana"
    source = yaml.safe_load((grafana / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uids = {datasource["uid"] for datasource in source["datasources"]}
    dashboards = list((grafana / "dashboards").glob("*.json"))
    assert dashboards
    for path in dashboards:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] in uids, f"{path.name}: {panel['title']}"
            assert panel["targets"], f"{path.name}: {panel['title']} shows nothing"


def test_minio_announces_uploads_on_the_catalogue_topic_as_the_local_stack_does() -> None:
    env = SERVICES["minio"]["environment"]
    notify = {key: value for key, value in env.items() if key.startswith("MINIO_NOTIFY_")}
    bootstrap = APP_SERVICES["frontend"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"]
    queue = notify["MINIO_NOTIFY_KAFKA_QUEUE_DIR_PRIMARY"]
    # Less how MinIO signs in, which tests/unit/test_compose_kafka_security.py compares.
    assert {k: v for k, v in notify.items() if "_SASL_" not in k} == notification_env(bootstrap, queue)
    assert any(volume.endswith(f":{queue}") for volume in SERVICES["minio"]["volumes"])
    assert notify["MINIO_NOTIFY_KAFKA_TOPIC_PRIMARY"] == STORAGE_EVENTS.name
    subscribe = " ".join(SERVICES["storage-init"]["command"])
    bucket = StorageSettings.model_fields["uploads_bucket"].default
    assert f"local/{bucket} {TARGET_ARN}" in subscribe


def test_kafka_ui_watches_the_same_cluster() -> None:
    env = SERVICES["kafka-ui"]["environment"]
    assert (
        env["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"]
        == APP_SERVICES["frontend"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"]
    )


def test_topic_partitions_allow_the_compose_worker_count() -> None:
    assert SERVICES["reencoder"]["deploy"]["replicas"] <= JOBS_REQUESTED.partitions


def test_nginx_config_points_at_the_frontend_service() -> None:
    conf = Path(REPO_ROOT / "infra" / "nginx" / "nginx.conf").read_text()
    assert "server frontend:8000" in conf


@pytest.mark.parametrize("service", DEPLOYED, ids=lambda s: s.declaration.name)
def test_every_declared_service_runs_in_compose_from_its_own_module(service: Any) -> None:
    compose = SERVICES[service.declaration.name]
    assert compose["command"][:3] == ["python", "-m", service.module]


@pytest.mark.parametrize(
    "service", [s for s in DEPLOYED if s.declaration.http], ids=lambda s: s.declaration.name
)
def test_declared_http_services_are_checked_by_compose_on_their_health_route(service: Any) -> None:
    assert "/healthz" in " ".join(SERVICES[service.declaration.name]["healthcheck"]["test"])
