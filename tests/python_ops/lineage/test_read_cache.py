"""The server's snapshot-validated read cache (python_ops/lineage/read_cache.py) on a real Postgres: a
repeated read with nothing committed is answered from the cache, any commit retires it, a read during
which something committed is not kept, the size bound holds, and through HTTP a POST is seen at once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import psycopg
import pytest

from python_ops.engines.context import Engines
from python_ops.lineage.read_cache import ReadCache
from python_ops.lineage.server import ServerConfig, create_app
from tests.python_ops.lineage.conftest import serve_in_thread


def _counting(conn: psycopg.Connection) -> tuple[list[int], object]:
    calls = [0]

    def read(c: psycopg.Connection) -> str:
        calls[0] += 1
        row = c.execute("SELECT count(*)::text FROM cache_probe").fetchone()
        assert row is not None
        return row[0]

    return calls, read


@pytest.fixture
def probe(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute("CREATE TABLE cache_probe (v int)")
    return conn


def test_a_repeat_is_a_hit_until_something_commits(probe: psycopg.Connection, dsn: str) -> None:
    cache = ReadCache(1024)
    calls, read = _counting(probe)
    assert cache.read(probe, "k", read) == b"0"  # type: ignore[arg-type]
    assert cache.read(probe, "k", read) == b"0"  # type: ignore[arg-type]
    assert calls == [1] and cache.stats()["hits"] == 1
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("INSERT INTO cache_probe VALUES (1)")
    assert cache.read(probe, "k", read) == b"1"  # type: ignore[arg-type]  # the commit retired the entry
    assert calls == [2]


def test_a_read_during_which_something_committed_is_not_kept(probe: psycopg.Connection, dsn: str) -> None:
    cache = ReadCache(1024)
    calls = [0]

    def read(c: psycopg.Connection) -> str:
        calls[0] += 1
        answer = c.execute("SELECT count(*)::text FROM cache_probe").fetchone()[0]  # type: ignore[index]
        with psycopg.connect(dsn, autocommit=True) as other:  # a writer commits while the read runs
            other.execute("INSERT INTO cache_probe VALUES (1)")
        return answer

    assert cache.read(probe, "k", read) == b"0"
    assert cache.stats()["entries"] == 0
    cache.read(probe, "k", read)
    assert calls == [2]


def test_the_size_bound_evicts_the_least_recent_and_zero_turns_it_off(probe: psycopg.Connection) -> None:
    cache = ReadCache(10)
    for key, text in (("a", "aaaa"), ("b", "bbbb"), ("a", "aaaa"), ("c", "cccc")):
        cache.read(probe, key, lambda _c, t=text: t)
    assert cache.stats()["entries"] == 2 and cache.stats()["bytes"] == 8
    hits = cache.stats()["hits"]
    cache.read(probe, "a", lambda _c: "changed")  # "a" was used last before "c": still cached
    assert cache.stats()["hits"] == hits + 1
    assert cache.read(probe, "b", lambda _c: "bbbb2") == b"bbbb2"  # "b" was evicted: read again
    off = ReadCache(0)
    calls, read = _counting(probe)
    off.read(probe, "k", read)  # type: ignore[arg-type]
    off.read(probe, "k", read)  # type: ignore[arg-type]
    assert calls == [2]
    with pytest.raises(ValueError, match="negative"):
        ReadCache(-1)


@pytest.fixture
def url(engines: Engines) -> Iterator[str]:
    with serve_in_thread(create_app(engines, None, ServerConfig(refresher=False))) as base:
        yield base


def test_over_http_a_post_is_seen_by_the_next_read(url: str) -> None:
    def namespaces() -> list[str]:
        answer = httpx.get(f"{url}/api/v1/namespaces")
        assert answer.status_code == 200
        return [n["name"] for n in answer.json()["namespaces"]]

    before = namespaces()
    assert namespaces() == before
    assert httpx.get(f"{url}/api/v1/health").json()["read_cache"]["hits"] >= 1
    event = {
        "eventType": "START", "eventTime": datetime.now(UTC).isoformat(),
        "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "cache_ns", "name": "j"},
        "producer": "https://example.com/test",
    }  # fmt: skip
    assert httpx.post(f"{url}/api/v1/lineage", json=event).status_code == 201
    assert "cache_ns" in namespaces() and "cache_ns" not in before  # no stale answer after a 201
