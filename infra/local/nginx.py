"""Debian's nginx as the load balancer of `make run-full`, running compose's own infra/nginx/nginx.conf.

The file stays the single source: rendering only points the upstream's `server <host>:<port>` line
at the local replicas (dropping `resolve`, which needs Docker's DNS and a newer nginx) and the
`listen` line at a loopback port, and adds where a non-container nginx keeps its pid, logs and
temporary files. Every other directive (body cap, buffering, forwarded headers, failover) is
exactly what compose's lb runs.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from infra.local.debian import ensure_debian_binary
from infra.local.processes import ManagedProcess, wait_for_port

NGINX_CONF = Path(__file__).resolve().parents[2] / "infra" / "nginx" / "nginx.conf"


def upstream_servers(conf: str) -> dict[str, str]:
    """`host:port` of each upstream's `server` line, by upstream name (compose's service names)."""
    servers: dict[str, str] = {}
    for name, body in re.findall(r"upstream\s+(\S+)\s*\{(.*?)\}", conf, flags=re.S):
        match = re.search(r"^\s*server\s+(\S+)", body, flags=re.M)
        if match:
            servers[name] = match.group(1)
    return servers


def render(conf: str, listen_port: int, upstreams: dict[str, Sequence[str]], state_dir: Path) -> str:
    """`conf` for loopback: `upstreams` maps a compose `host:port` to the local addresses serving it."""

    def server_lines(match: re.Match[str]) -> str:
        indent, address, parameters = match.group(1), match.group(2), match.group(3)
        if address not in upstreams:
            raise KeyError(f"nginx.conf's upstream server {address} has no local address")
        kept = " ".join(p for p in parameters.split() if p != "resolve")
        return "".join(f"{indent}server {local} {kept};\n".replace(" ;", ";") for local in upstreams[address])

    rendered, replaced = re.subn(r"^(\s*)server\s+(\S+:\d+)([^;]*);\n", server_lines, conf, flags=re.M)
    if replaced != len(upstreams):
        raise ValueError(f"expected {len(upstreams)} upstream server lines in nginx.conf, found {replaced}")
    rendered, listens = re.subn(
        r"^(\s*)listen\s+\d+;", rf"\1listen 127.0.0.1:{listen_port};", rendered, flags=re.M
    )
    if listens != 1:
        raise ValueError("expected one `listen <port>;` line in nginx.conf")
    temp = state_dir / "temp"
    local = [
        f"access_log {state_dir / 'access.log'};",
        *(
            f"{kind}_temp_path {temp / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
    ]
    return re.sub(
        r"^http\s*\{\n", "http {\n" + "".join(f"  {line}\n" for line in local), rendered, count=1, flags=re.M
    )


class NginxServer:
    """nginx in the foreground with the rendered config; its files under `state_dir`."""

    def __init__(
        self, state_dir: Path, port: int, upstreams: dict[str, Sequence[str]], log_path: Path
    ) -> None:
        self.state_dir = state_dir
        self.port = port
        self.upstreams = upstreams
        self.config_path = state_dir / "nginx.conf"
        binary = ensure_debian_binary("nginx", "nginx")
        self.process = ManagedProcess(
            name="lb",
            argv=[
                binary,
                "-p",
                str(state_dir),
                "-c",
                str(self.config_path),
                "-g",
                f"daemon off; pid {state_dir / 'nginx.pid'}; error_log {log_path} warn;",
            ],
            log_path=log_path,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        (self.state_dir / "temp").mkdir(parents=True, exist_ok=True)
        self._write_config()
        self.process.start()
        wait_for_port("127.0.0.1", self.port, timeout=timeout, process=self.process)

    def set_upstream(self, address: str, local: Sequence[str]) -> None:
        """Point compose's `address` (e.g. `frontend:8000`) at `local` now: `reencode scale frontend=N`.

        `nginx -s reload`: new workers take the new list at once, the old ones finish the requests
        they hold, so no request is dropped by the change itself."""
        if not local:
            raise ValueError(f"{address} needs at least one local address")
        self.upstreams = {**self.upstreams, address: list(local)}
        self._write_config()
        if self.process.is_running:
            self.reload()

    def reload(self) -> None:
        # The same -p/-c/-g as the server, so the signal reaches its pid file; a config nginx
        # cannot read is refused here, and the running one keeps the config it had.
        result = subprocess.run(
            [*self.process.argv, "-s", "reload"], capture_output=True, text=True, timeout=30, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"nginx -s reload failed: {result.stderr.strip()}")

    def _write_config(self) -> None:
        self.config_path.write_text(render(NGINX_CONF.read_text(), self.port, self.upstreams, self.state_dir))

    def stop(self) -> None:
        # SIGTERM is nginx's fast shutdown; SIGQUIT would wait for open event streams.
        self.process.stop(timeout=10)
