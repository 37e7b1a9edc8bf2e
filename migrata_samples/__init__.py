"""Sample data and generators for the demo, the tests and the benchmarks; not part of the product.

migrata itself (`python_ops`, `dagster_defs`) never imports this package and no production asset
writes sample data. Modules: `openlineage` (Marquez's food_delivery events), `lineage_store` (a
synthetic normalized lineage store at any scale), `archive_rows` (aged audit rows), `parquet_store`
(real parquet files with damaged cached footers), and `demo` (`python -m migrata_samples.demo`).
"""
