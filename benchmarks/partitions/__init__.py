"""Partitions benchmarks: online repartitioning of the seed's chunks table; idle maintenance."""
