{#
  The `where` clause choosing which runs an incremental lineage model (re)builds, `run_alias` being
  the runs relation and `updated_at` the expression of when a row last changed.
  - var `migrata_empty: true`: no run (the models create or evolve their tables, nothing else);
  - var `migrata_batch: true`: the runs listed in the session's temp table `pg_temp.migrata_batch_runs`
    (run_uuid). migrata compiles the models once with this var and runs their SQL itself for each
    micro-batch or backfill chunk (python_ops/lineage/batch.py): the one definition of these tables.
    The list is an array the runs' primary key probes, so a batch costs its own runs whatever the
    store's size: as `in (select …)` Postgres hash-joined it against a scan of every run, once per
    backfill chunk, which made a backfill grow with the square of the store;
  - vars `min_date`/`max_date` (a Dagster monthly partition window): only runs of that window;
  - first build, --full-refresh or `rebuild: true`: every run (of the window);
  - otherwise: runs changed since the newest row already built (of the window), minus a lookback
    (var `lookback_minutes`, default 10) so a transaction that committed late is not missed.
  The cut-off is read before the model runs and rendered as a constant: compared with a subquery,
  Postgres guesses a third of all runs changed and plans hash joins scanning every run; with a
  constant it estimates from the updated_at index and looks the few changed runs up.
#}
{% macro lineage_changed_runs_filter(run_alias, updated_at) %}
    {%- set min_date = var('min_date', none) -%}
    {%- set max_date = var('max_date', none) -%}
    {%- if var('migrata_empty', false) %}
    where false
    {%- elif var('migrata_batch', false) %}
    where {{ run_alias }}.run_uuid = any(array(select b.run_uuid from pg_temp.migrata_batch_runs b))
    {%- else %}
    where true
    {% if min_date and max_date %}
      and {{ run_alias }}.run_date >= '{{ min_date }}'::date and {{ run_alias }}.run_date < '{{ max_date }}'::date
    {% endif %}
    {% if execute and partitioned_is_incremental() and not var("rebuild", false) %}
      {%- set newest = run_query(
          "select extract(epoch from max(updated_at)
                  - interval '" ~ (var("lookback_minutes", 10) | int) ~ " minutes')::text from " ~ this
          ~ ((" where run_date >= '" ~ min_date ~ "'::date and run_date < '" ~ max_date ~ "'::date")
             if min_date and max_date else "")) -%}
      {%- set since = newest.columns[0].values()[0] -%}
      {% if since is not none %}
      and {{ updated_at }} > to_timestamp('{{ since }}'::double precision)
      {% endif %}
    {% endif %}
    {%- endif %}
{% endmacro %}
