"""Slow clients are timed out at both layers: nginx (the compose and run-full edge) and every HTTP
service's uvicorn, with the limits of HttpSettings."""

from __future__ import annotations

import re

from infra.local.nginx import NGINX_CONF
from shared.frame import HttpSettings
from shared.frame.slow_clients import HeaderDeadlineProtocol

CONF = NGINX_CONF.read_text()


def _seconds(directive: str) -> int:
    match = re.search(rf"^\s*{directive}\s+(\d+)s;", CONF, re.MULTILINE)
    assert match, f"nginx.conf sets no {directive}"
    return int(match.group(1))


def test_nginx_times_out_slow_headers_bodies_and_readers() -> None:
    settings = HttpSettings()
    assert _seconds("client_header_timeout") <= settings.header_timeout_s
    assert _seconds("client_body_timeout") <= settings.body_idle_timeout_s
    assert _seconds("send_timeout") <= 60
    assert re.search(r"^\s*reset_timedout_connection on;", CONF, re.MULTILINE)


def test_nginx_bounds_headers_as_the_frontends_do() -> None:
    match = re.search(r"large_client_header_buffers\s+\d+\s+(\d+)k;", CONF)
    assert match
    assert int(match.group(1)) * 1024 <= HttpSettings().max_header_bytes


def test_every_http_service_gets_a_header_deadline_and_bounded_headers() -> None:
    options = HttpSettings(header_timeout_s=3, keep_alive_timeout_s=4).server_options()
    assert issubclass(options["http"], HeaderDeadlineProtocol)
    assert options["http"].header_timeout_s == 3
    assert options["timeout_keep_alive"] == 4
    assert options["h11_max_incomplete_event_size"] == HttpSettings().max_header_bytes
