"""Own the cluster rehearsal: dbt-clickhouse's cluster DDL, recorded as rendered, run on one chDB node.

chDB is one embedded node: no `remote_servers`, no Keeper, so `ON CLUSTER`, Replicated engines and
Distributed tables cannot execute there. With `MIGRATA_CLICKHOUSE__CLUSTER` and
`MIGRATA_CLICKHOUSE__CLUSTER_REHEARSAL=true` the chDB driver (dbt_chdb_shim) records every statement
dbt sends, exactly as dbt-clickhouse rendered it for the cluster, and executes `single_node(sql)`: the
same statement with only its cluster parts rewritten. What a rehearsal proves is the DDL text and that
the models build and run incrementally on one node; replication, inserts spread over shards and Keeper
need a real cluster.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# `ON CLUSTER "c"` / `ON CLUSTER c` (dbt-clickhouse quotes the name with double quotes)
_ON_CLUSTER = re.compile(r"\s+ON\s+CLUSTER\s+(\"[^\"]*\"|`[^`]*`|'[^']*'|[\w.-]+)", re.I)
_LITERAL = r"'(?:[^'\\]|\\.)*'"
# Replicated*MergeTree('zk path', 'replica'[, engine args]) -> *MergeTree([engine args])
_REPLICATED_ARGS = re.compile(
    rf"\bReplicated(\w*MergeTree)\s*\(\s*{_LITERAL}\s*,\s*{_LITERAL}\s*(?:,\s*)?", re.I
)
_REPLICATED_BARE = re.compile(r"\bReplicated(\w*MergeTree)\b", re.I)
# `as <local> ENGINE = Distributed('c', 'db', 'local'[, sharding key])`, the tail of the statement
_DISTRIBUTED = re.compile(
    rf"\bas\s+\S+\s+ENGINE\s*=\s*Distributed\s*\(\s*{_LITERAL}\s*,\s*({_LITERAL})\s*,\s*({_LITERAL}).*\Z",
    re.I | re.S,
)
# cluster('c', t) / clusterAllReplicas("c", t) -> t; the shard of a row on one node is 1
_CLUSTER_FUNCTION = re.compile(r"\bcluster(?:AllReplicas)?\s*\(\s*(\"[^\"]*\"|'[^']*'|\w+)\s*,\s*", re.I)
_SHARD_NUM = re.compile(r"\b_shard_num\b")
_SYNC_REPLICA = re.compile(r"^\s*SYSTEM\s+SYNC\s+REPLICA\b", re.I)

# session setting the rewritten Distributed tables need (Alias is experimental in ClickHouse 25-26)
SETTINGS = {"allow_experimental_alias_table_engine": 1}


def _without_cluster_function(sql: str) -> str:
    """`cluster(c, system.tables)` -> `system.tables`: drop the call and its closing parenthesis."""
    while match := _CLUSTER_FUNCTION.search(sql):
        depth, end = 1, match.end()
        while end < len(sql) and depth:
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        sql = sql[: match.start()] + sql[match.end() : end - 1] + sql[end:]
    return sql


def single_node(sql: str) -> str | None:
    """The statement as one node runs it, or None when it has nothing to do on one node.

    - `ON CLUSTER name` removed;
    - `Replicated*MergeTree('path', 'replica', args)` -> `*MergeTree(args)` (same ORDER BY, PARTITION);
    - a Distributed table over a local table -> an Alias of that local table (reads and inserts go to it);
    - `cluster(...)`/`clusterAllReplicas(...)` over a table -> the table, `_shard_num` -> 1;
    - `SYSTEM SYNC REPLICA` -> nothing (no replicas to wait for).
    """
    if _SYNC_REPLICA.match(sql):
        return None
    single = _ON_CLUSTER.sub("", sql)
    single = _REPLICATED_ARGS.sub(r"\1(", single)
    single = _REPLICATED_BARE.sub(r"\1", single)
    single = _DISTRIBUTED.sub(r"ENGINE = Alias(\1, \2)", single)
    single = _without_cluster_function(single)
    return _SHARD_NUM.sub("1", single)


def record(log: Path, sql: str, executed: str | None) -> None:
    """Append one statement, as rendered and as executed, to the rehearsal's JSON-lines log."""
    with log.open("a") as out:
        out.write(json.dumps({"sql": sql, "executed": executed}) + "\n")


def recorded(log: Path) -> list[dict[str, str | None]]:
    """The statements of a rehearsal log, in the order dbt sent them."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
