"""The S3 path: a real S3-protocol server (moto's server mode on 127.0.0.1) and an unreachable endpoint."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import psycopg
import pytest
from moto.server import ThreadedMotoServer

from migrata_samples.parquet_store import damage_store, generate_store
from python_ops.engines.context import Engines
from python_ops.engines.postgres import free_port
from python_ops.errors import PreconditionError
from python_ops.parquet_repair import repair, scan, verify
from python_ops.parquet_repair.models import EntryClass
from python_ops.parquet_repair.storage import Storage
from tests.python_ops.parquet_repair.conftest import STORE, entries


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # moto accepts any credentials; they come from the standard AWS variables, never from settings
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_scan_repair_verify_over_s3(
    conn: psycopg.Connection, s3_endpoint: str, s3_env: None, engines: Engines
) -> None:
    creator = Storage.from_url("s3://lake/tables", endpoint=s3_endpoint, allow_bucket_creation=True)
    creator.fs.create_dir("lake")
    storage = Storage.from_url("s3://lake/tables", endpoint=s3_endpoint, max_attempts=1)
    generated = generate_store(conn, STORE, storage, 12, max_rows=200)
    damage_store(
        conn, STORE, storage, generated, 0.5, mix={"legacy": 0.5, "truncated": 0.25, "missing": 0.25}
    )

    found = scan(engines, STORE, storage).details["counts"]
    legacy, truncated, missing = (len(generated.of(k)) for k in ("legacy", "truncated", "missing"))
    assert (legacy, truncated, missing) == (3, 2, 1)
    assert found[EntryClass.LEGACY] == legacy and found[EntryClass.CORRUPT] == truncated
    assert found[EntryClass.FILE_MISSING] == missing

    report = repair(engines, STORE, storage, batch_size=2, workers=4)
    assert report.details["migrated"] == legacy + truncated
    assert report.details["errors_file-missing"] == missing
    assert report.details["storage_requests"] >= 4  # footers came from ranged reads over HTTP
    for path in generated.of("missing"):
        storage.write(path, b"")  # put something back so verify can read every path
    checked = verify(engines, STORE, storage)
    assert checked.details["checked"] == 12
    assert {i["kind"] for i in checked.details["issues"]} == {"undecodable"}


def test_unreachable_endpoint_is_reported_and_nothing_changes(
    conn: psycopg.Connection,
    tmp_path,
    s3_env: None,
    engines: Engines,
) -> None:  # type: ignore[no-untyped-def]
    local = Storage.from_url(str(tmp_path / "objects"))
    generated = generate_store(conn, STORE, local, 6, max_rows=100)
    damage_store(conn, STORE, local, generated, 0.5, mix={"legacy": 1.0})
    before = entries(conn)
    dead = Storage.from_url(
        "s3://lake/x", endpoint=f"http://127.0.0.1:{free_port()}", timeout_s=1, max_attempts=1
    )

    scanned = scan(engines, STORE, dead)
    assert scanned.status == "failed"
    assert "storage-error" in scanned.details["storage_error"]
    assert scanned.details["counts"][EntryClass.LEGACY] == 3  # still classified from the cache

    with pytest.raises(PreconditionError, match=r"parquet storage is not reachable: s3://lake/x: .*NETWORK"):
        repair(engines, STORE, dead)  # a precondition, checked before the backup
    assert entries(conn) == before
    assert conn.execute("SELECT count(*) FROM migration_backups").fetchone() == (0,)
