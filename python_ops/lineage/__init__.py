"""Own lineage: OpenLineage events → normalized tables → denormalized, monthly-partitioned tables."""
