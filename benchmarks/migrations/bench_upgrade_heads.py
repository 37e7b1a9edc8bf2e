"""Upgrading an empty repository to every component's head through `migrate()` (lock, plan, declarations,
one transaction per revision) against Alembic's bare `command.upgrade(heads)`; plus `status` and the drift
`check` at heads."""

from __future__ import annotations

import uuid

import psycopg
from alembic import command
from psycopg import sql
from psycopg.conninfo import make_conninfo

from benchmarks.common import Figure, Session, timed
from python_ops import migrations
from python_ops.migrations.config import alembic_config

NAME = "bench_upgrade_heads"


def _database(dsn: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(make_conninfo(dsn, dbname="postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(dsn, dbname=name)


def run(session: Session, scale: str) -> list[Figure]:
    repeat = 5 if scale == "full" else 2
    ours, bare = [], []
    for _ in range(repeat):
        target = _database(session.dsn)
        ours.append(timed(lambda target=target: migrations.migrate(target, "heads"))[0])
        plain = _database(session.dsn)
        bare.append(timed(lambda plain=plain: command.upgrade(alembic_config(plain), "heads"))[0])
    revisions = len(migrations.plan_upgrade(_database(session.dsn)).steps)
    status_s, _ = timed(lambda: migrations.status(session.dsn))
    check_s, report = timed(lambda: migrations.check(session.dsn))
    best_ours, best_bare = min(ours), min(bare)
    return [
        Figure(
            NAME,
            f"migrate(empty → heads), {revisions} revisions",
            best_ours,
            "s",
            best_bare,
            "Alembic command.upgrade('heads') on the same trees",
            "< 1.5x bare Alembic",
        ),
        Figure(NAME, "migrate status", status_s, "s", best_ours, "the upgrade itself", "< 0.5 s"),
        Figure(
            NAME,
            f"migrate check (scratch database + compare), ok={report.ok}",
            check_s,
            "s",
            best_ours,
            "the upgrade itself",
            "< 10 s",
        ),
    ]
