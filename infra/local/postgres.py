"""A real PostgreSQL server as a local process, its cluster in a folder of our choosing.

The server binaries come from the system (Debian's `postgresql` package, installed with apt on
first use when missing); the data lives in `data_dir`, initialised once and kept across restarts.
PostgreSQL refuses to run as root, so as root every server command runs as the `postgres` user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

from infra.local.processes import ManagedProcess, wait_for_port

#: Where Debian and Ubuntu install the server binaries, one folder per major version.
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SERVER_USER = "postgres"


def ensure_postgres_installed() -> Path:
    """The folder with `initdb`, `postgres` and `pg_ctl`; installs the apt package if none is found."""
    found = _find_bin_dir()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError("PostgreSQL is not installed; please install it (apt-get install postgresql)")
    print("Installing PostgreSQL with apt-get (once)", file=sys.stderr)
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], env=env, check=True, stdout=sys.stderr)
    install = ["apt-get", "install", "--yes", "--no-install-recommends", "postgresql"]
    subprocess.run(install, env=env, check=True, stdout=sys.stderr)
    found = _find_bin_dir()
    if found is None:
        raise RuntimeError(f"apt-get installed postgresql, yet no initdb under {DEBIAN_BIN_GLOB}")
    return found


def _find_bin_dir() -> Path | None:
    """The newest Debian-layout version, else the folder of an `initdb` on the PATH."""

    def major(path: Path) -> int:
        version = path.parent.name
        return int(version) if version.isdigit() else 0

    candidates = [p for p in Path("/").glob(DEBIAN_BIN_GLOB.lstrip("/")) if (p / "initdb").is_file()]
    if candidates:
        return max(candidates, key=major)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PostgresServer:
    """One PostgreSQL cluster in `data_dir`, reachable only on 127.0.0.1:`port` by TCP.

    Creating one finds the server binaries, installing them first if need be (see
    `ensure_postgres_installed`). `fast=True` turns off fsync and friends: fine for throw-away
    test data, which a power cut may corrupt; never for data one wants to keep.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        fast: bool = False,
        log_path: Path | None = None,
        extra_settings: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.fast = fast
        self.bin_dir = ensure_postgres_installed()
        # As root, run the server as `postgres` (it refuses root); otherwise as ourselves.
        self._as_user = ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            # No Unix socket: its folder would have to be writable by the server user and its
            # path under 108 bytes, which temporary folders break. Every client uses TCP here.
            "unix_socket_directories": "",
        }
        if fast:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        settings |= extra_settings or {}
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        self.process = ManagedProcess(
            name="postgres",
            argv=[*self._as_user, str(self.bin_dir / "postgres"), "-D", str(data_dir), *options],
            log_path=log_path or data_dir.parent / "logs" / "postgres.log",
            # The server user may not be allowed into our working directory; it needs none.
            cwd=Path("/"),
        )

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of `database` (psycopg 3 driver, trusted loopback login)."""
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    @property
    def conninfo(self) -> str:
        """A libpq connection string for the `postgres` database (psycopg.connect takes it)."""
        return f"host=127.0.0.1 port={self.port} user={SERVER_USER} dbname=postgres"

    def start(self) -> None:
        """Initialise the cluster on first use, then start the server (see `wait_ready`)."""
        if not (self.data_dir / "PG_VERSION").is_file():
            self._initdb()
        elif self._as_user:
            # Again at every start: a parent may have lost the bit meanwhile (pytest makes its
            # base temporary folder 0700 at each session's start), and a restart would then fail.
            _allow_traversal(self.data_dir.parent)
        self.process.start()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Return once a query succeeds: the port opens before recovery has finished."""
        deadline = time.monotonic() + timeout
        wait_for_port("127.0.0.1", self.port, timeout, self.process)
        while True:
            try:
                with psycopg.connect(self.conninfo, connect_timeout=2) as connection:
                    connection.execute("SELECT 1")
                return
            except psycopg.OperationalError as error:
                if not self.process.is_running or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL not ready on port {self.port} ({error}); "
                        f"last lines of {self.process.log_path}:\n{self.process.log_tail()}"
                    ) from error
            time.sleep(0.2)

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown: open sessions are rolled back instead of waited for."""
        if self.process.is_running:
            pg_ctl = [*self._as_user, str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir)]
            pg_ctl += ["--mode", "fast", "--wait", "--timeout", str(int(timeout))]
            subprocess.run(pg_ctl, cwd="/", capture_output=True, check=False)
        # Reaps the process, or kills it if pg_ctl could not stop it.
        self.process.stop(timeout=5)

    def create_database(self, name: str) -> None:
        """Create database `name` unless it exists."""
        with psycopg.connect(self.conninfo, autocommit=True) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists is None:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._as_user:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
            _allow_traversal(self.data_dir.parent)
        argv = [*self._as_user, str(self.bin_dir / "initdb"), "-D", str(self.data_dir)]
        argv += ["--username", SERVER_USER, "--auth", "trust", "--encoding", "UTF8", "--no-locale"]
        if self.fast:
            argv.append("--no-sync")
        result = subprocess.run(argv, cwd="/", capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"initdb {self.data_dir} failed ({result.returncode}):\n{result.stderr}")


def _allow_traversal(folder: Path) -> None:
    """Let other users pass through `folder` and its parents (x, not r: no listing).

    The server user must reach its data folder, and temporary folders are created 0700.
    """
    for path in [folder, *folder.parents]:
        status = path.stat()
        if not status.st_mode & 0o001 and status.st_uid == os.geteuid():
            path.chmod(status.st_mode | 0o001)
