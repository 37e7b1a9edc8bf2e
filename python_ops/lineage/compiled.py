"""Own compiling the lineage models for batches: `dbt compile` once, cached by the project's content.

An edge function (it reads settings, as the CLI callback and Dagster resources do): the CLI, the
server, the data migrations and the benchmarks call `lineage_models(settings)` and hand the result to
the operations. dbt compiles the three models with the var `migrata_batch: true`; their
`compiled_code`, `unique_key`, `partition_by` (and `partition_by_never_increases`) and pre-hooks are
read from the manifest and cached as JSON under `$MIGRATA_HOME/dbt/lineage_batch/<hash>.json`, the
hash being that of every project file and of dbt's version, so a changed model is compiled again and
an unchanged one never is. The database name dbt renders into relation names is removed, so the SQL
runs on any database of the server (tests use many).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from importlib import metadata
from pathlib import Path

from python_ops.dbt_project import PROJECT_DIR, artifacts_dir, run_dbt
from python_ops.lineage.batch import MODELS, CompiledModel, LineageModels
from python_ops.settings import MigrataSettings


def project_hash() -> str:
    """Hash of the dbt project's files and dbt's version."""
    digest = hashlib.sha256(metadata.version("dbt-core").encode())
    for path in sorted(p for p in PROJECT_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(PROJECT_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _database(settings: MigrataSettings) -> str:
    from python_ops.dbt_project import dbt_env

    return dbt_env(settings)["MIGRATA_DBT_PG_DBNAME"]


def _compile(settings: MigrataSettings) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="migrata-compile-") as target:
        run_dbt(
            ["compile", "--quiet", "--target", "postgres", "--target-path", target, "--select", *MODELS,
             "--vars", json.dumps({"migrata_batch": True})],
            settings,
            capture=True,
        )  # fmt: skip
        manifest = json.loads((Path(target) / "manifest.json").read_text())
    prefix = f'"{_database(settings)}".'
    models = []
    for name in MODELS:
        node = manifest["nodes"][f"model.migrata.{name}"]
        config = node["config"]
        key = config["unique_key"]
        models.append(
            {
                "name": name,
                "sql": node["compiled_code"].replace(prefix, ""),
                "unique_key": [key] if isinstance(key, str) else list(key),
                "partition_by": config.get("partition_by"),
                "never_increases": bool(config.get("partition_by_never_increases", False)),
                "pre_hooks": [h["sql"] for h in config.get("pre-hook", [])],
            }
        )
    return models


def lineage_models(settings: MigrataSettings) -> LineageModels:
    """The compiled lineage models (from the cache, or compiled now), with dbt bound to create tables."""
    cache = artifacts_dir(settings) / "lineage_batch" / f"{project_hash()}.json"
    if cache.exists():
        raw = json.loads(cache.read_text())
    else:
        raw = _compile(settings)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{id(raw)}.tmp")
        tmp.write_text(json.dumps(raw, indent=1))
        tmp.replace(cache)  # atomic: concurrent workers never read half a file

    def create_tables() -> None:
        # the models (and the staging views they read) with no rows: dbt creates or evolves the tables
        selection = [f"+{name}" for name in MODELS]
        run_dbt(
            ["run", "--quiet", "--target", "postgres", "--select", *selection,
             "--vars", json.dumps({"migrata_empty": True})],
            settings,
            capture=True,
        )  # fmt: skip

    return LineageModels(
        tuple(
            CompiledModel(
                m["name"],  # type: ignore[arg-type]
                m["sql"],  # type: ignore[arg-type]
                tuple(m["unique_key"]),  # type: ignore[arg-type]
                m["partition_by"],  # type: ignore[arg-type]
                tuple(m["pre_hooks"]),  # type: ignore[arg-type]
                bool(m.get("never_increases", False)),
            )
            for m in raw
        ),
        create_tables,
    )
