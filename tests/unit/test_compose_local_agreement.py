"""`make run-full` (infra/local/full.py) and docker-compose.yml agree: every compose service is run
locally or listed as left out, with compose's own command and environment, nothing left pointing at a
container host or path; and nginx.conf, which both run, passes what the site accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.local.compose_file import MissingVariable, interpolate, load_services, required_variables
from infra.local.full import (
    INFRASTRUCTURE,
    KAFKA_IMAGE,
    NOT_RUN,
    FullConfig,
    FullTopology,
    app_services,
    http_prefixes,
    instance_names,
)
from infra.local.nginx import NGINX_CONF, render, upstream_servers
from services.declarations import SERVICES as DEPLOYED
from shared.frame import HttpSettings
from shared.settings import MediaLimits, VideoLimits

CONF = NGINX_CONF.read_text()


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> FullTopology:
    state = tmp_path_factory.mktemp("full")
    return FullTopology(FullConfig.on_free_ports(state, state / "cache"))


def test_every_compose_service_is_run_locally_or_listed_as_left_out(topology: FullTopology) -> None:
    kafka = {name for name, s in topology.compose.items() if (s.image or "").startswith(KAFKA_IMAGE)}
    covered = set(topology.apps) | INFRASTRUCTURE | kafka | set(NOT_RUN)
    assert set(topology.compose) == covered
    assert not (INFRASTRUCTURE | set(NOT_RUN)) - set(topology.compose), "a name compose no longer has"


def test_every_deployed_service_runs_with_composes_command(topology: FullTopology) -> None:
    modules = {s.command[-1] for s in topology.apps.values() if s.command[:2] == ["python", "-m"]}
    assert modules == {f"services.{d.declaration.name}" for d in DEPLOYED}
    for service in topology.apps.values():
        argv = topology.argv(service)
        assert argv[1:] == service.command[1:]
        assert Path(argv[0]).is_file(), f"{service.name}: {argv[0]} is not installed"


def test_replicas_follow_compose(topology: FullTopology) -> None:
    for service in topology.apps.values():
        assert len(instance_names(service)) == service.replicas == len(topology.ports(service))
    assert topology.compose["frontend"].replicas == len(topology.config.frontend_ports) == 2
    assert topology.compose["reencoder"].replicas == 2


def test_every_service_gets_composes_variables_made_local(topology: FullTopology) -> None:
    container_hosts = re.compile(r"\b(kafka-\d|minio|postgres|metrics|monitoring|frontend):\d+")
    container_paths = {v.target for s in topology.compose.values() for v in s.volumes}
    for service in topology.apps.values():
        for instance, port in zip(instance_names(service), topology.ports(service), strict=True):
            env = topology.environment(service, instance, port)
            assert set(service.environment) <= set(env), f"{instance} lacks a variable compose sets"
            for key in service.environment:
                value = env[key]
                assert not container_hosts.search(value), f"{instance} {key}={value}"
                assert value != "0.0.0.0", f"{instance} {key} binds every interface"
                assert not any(value.startswith(path) for path in container_paths), (
                    f"{instance} {key}={value}"
                )
            assert env["INSTANCE_ID"] == instance
            if port is not None:
                prefix = http_prefixes()[service.command[-1].removeprefix("services.")]
                assert env[f"{prefix}PORT"] == str(port)


def test_the_database_url_finds_the_primary_among_both_servers(topology: FullTopology) -> None:
    from sqlalchemy import create_engine

    url = topology.environment(topology.compose["frontend"], "frontend-1", 1)["DATABASE_URL"]
    engine = create_engine(url)
    arguments = engine.dialect.create_connect_args(engine.url)[1]
    assert arguments["port"] == ",".join(str(p) for p in topology.config.postgres_ports)
    assert arguments["target_session_attrs"] == "read-write"
    assert arguments["password"] == topology.variables["POSTGRES_PASSWORD"]


def test_postgres_runs_with_composes_settings_and_the_log_folder_dblogs_reads(topology: FullTopology) -> None:
    settings = topology.postgres_settings()
    command = topology.compose["postgres"].command
    assert set(settings) == {pair.split("=")[0] for pair in command[2::2]}
    dblogs = topology.environment(topology.compose["dblogs"], "dblogs", None)
    assert settings["log_directory"] == dblogs["DBLOGS_LOG_DIR"] == str(topology.volume("pglogs"))


def test_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    first = FullTopology(FullConfig.on_free_ports(tmp_path, tmp_path / "cache")).variables
    again = FullTopology(FullConfig.on_free_ports(tmp_path, tmp_path / "cache")).variables
    for name in ("POSTGRES_PASSWORD", "STORAGE_ACCESS_KEY", "STORAGE_SECRET_KEY"):
        assert first[name] == again[name]
        assert len(first[name]) >= 16


def test_interpolation_follows_compose() -> None:
    assert interpolate("${A:-x}/${B-y}/$${C}", {"A": "", "B": ""}) == "x//${C}"
    assert interpolate("${A:?set A}", {"A": "1"}) == "1"
    with pytest.raises(MissingVariable, match="set A"):
        interpolate("${A:?set A}", {"A": ""})
    with pytest.raises(MissingVariable):
        load_services({})


def test_only_the_lb_address_may_forward_client_headers() -> None:
    assert HttpSettings().forwarded_allow_ips == "127.0.0.1"
    frontend = load_services(_secrets())["frontend"]
    assert frontend.environment["FRONTEND_FORWARDED_ALLOW_IPS"] != "*"
    assert app_services(load_services(_secrets()))["frontend"].environment.get("FRONTEND_FORWARDED_ALLOW_IPS")


# --- nginx.conf ---------------------------------------------------------------------------------


def _size(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", text.lower()).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def _location(pattern: str) -> str:
    match = re.search(r"location\s+" + pattern + r"\s*\{(.*?)\}", CONF, flags=re.S)
    assert match, f"no location {pattern}"
    return match.group(1)


def test_nginx_passes_the_largest_upload_the_site_accepts() -> None:
    cap = _size(re.search(r"client_max_body_size\s+(\w+);", CONF).group(1))  # type: ignore[union-attr]
    largest = max(VideoLimits().max_upload_bytes, MediaLimits().max_upload_bytes)
    assert cap >= largest + 64 * 1024
    assert "proxy_request_buffering off;" in _location(r"= /api/uploads")


def test_nginx_streams_job_events_unbuffered() -> None:
    body = _location(r"~ \^/api/jobs/\[\^/\]\+/events\$")
    assert "proxy_buffering off;" in body
    assert re.fullmatch(r"^/api/jobs/[^/]+/events$", "/api/jobs/abc/events")


def test_nginx_forwards_the_client_and_routes_around_a_dead_frontend() -> None:
    for header in ("X-Forwarded-For $remote_addr", "X-Real-IP $remote_addr", "X-Forwarded-Proto $scheme"):
        assert f"proxy_set_header {header};" in CONF
    assert re.search(r"proxy_next_upstream\s+error timeout", CONF)
    assert re.search(r"server frontend:8000 .*max_fails=\d+ fail_timeout=\w+;", CONF)


def test_nginx_exposes_storage_for_presigned_urls_but_not_the_sites_pages() -> None:
    pattern = r"~ \^/\(renditions/\|uploads/\[\^/\]\+/\)"
    body = _location(pattern)
    # The signature covers the Host; the site's credentials never reach storage; bytes stream.
    for line in ("proxy_pass http://minio;", "proxy_set_header Host $http_host;"):
        assert line in body
    for line in ('proxy_set_header Authorization "";', 'proxy_set_header Cookie "";'):
        assert line in body
    assert "proxy_buffering off;" in body
    assert "proxy_request_buffering off;" in body
    storage = re.compile(r"^/(renditions/|uploads/[^/]+/)")
    assert storage.match("/renditions/job/video/720p.mp4")
    assert storage.match("/uploads/job/original.mp4")
    assert not storage.match("/uploads/job")  # an upload's own page
    assert not storage.match("/api/uploads")


def test_the_local_lb_renders_the_same_file_for_loopback(tmp_path: Path) -> None:
    assert upstream_servers(CONF) == {"frontend": "frontend:8000", "minio": "minio:9000"}
    local = render(
        CONF,
        18000,
        {"frontend:8000": ["127.0.0.1:1", "127.0.0.1:2"], "minio:9000": ["127.0.0.1:3"]},
        tmp_path,
    )
    assert "server 127.0.0.1:1 max_fails=1 fail_timeout=5s;" in local
    assert "server 127.0.0.1:2 max_fails=1 fail_timeout=5s;" in local
    assert "server 127.0.0.1:3 max_fails=1 fail_timeout=5s;" in local
    assert "listen 127.0.0.1:18000;" in local
    assert not [line for line in local.splitlines() if "frontend:8000" in line.split("#")[0]]
    # Everything else is the file itself.
    significant = [
        line
        for line in CONF.splitlines()
        if "server frontend" not in line and "server minio" not in line and "listen" not in line
    ]
    assert all(line in local for line in significant)


def _secrets() -> dict[str, str]:
    # Every secret compose requires (the Kafka principals' passwords among them), a few by name.
    return dict.fromkeys(required_variables(), "pw") | {
        "STORAGE_ACCESS_KEY": "key",
        "STORAGE_SECRET_KEY": "secret-key",
        "POSTGRES_PASSWORD": "pw",
        "GRAFANA_ADMIN_PASSWORD": "pw",
    }


def test_every_prometheus_job_of_compose_has_local_targets_on_ports_of_their_own(
    topology: FullTopology,
) -> None:
    import yaml

    from infra.local.stack import REPO_ROOT

    jobs = yaml.safe_load((REPO_ROOT / "infra" / "prometheus" / "prometheus.yml").read_text())[
        "scrape_configs"
    ]
    targets = topology.prometheus_targets()
    assert set(targets) == {job["job_name"] for job in jobs}
    addresses = [address for local in targets.values() for address in local]
    assert len(addresses) == len(set(addresses))
    served = [port for ports in topology.served_ports.values() for port in ports.values()]
    assert len(served) == len(set(served))
