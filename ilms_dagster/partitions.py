"""Partitions: one per collection round x reporting country."""

from __future__ import annotations

import dagster as dg

from ilms_dagster.registry import REPORTING_COUNTRIES, ROUNDS

round_partitions = dg.StaticPartitionsDefinition(ROUNDS)
country_partitions = dg.StaticPartitionsDefinition(REPORTING_COUNTRIES)
submission_partitions = dg.MultiPartitionsDefinition({"round": round_partitions, "country": country_partitions})


def partition_rounds_countries(context: dg.AssetExecutionContext) -> list[tuple[str, str]]:
    """(round, country) of every partition in the run: one for a normal run, many for a single-run
    backfill (which hands the asset a key range). Keys are read by dimension, never by splitting."""
    keys = context.partition_keys if context.has_partition_key_range else [context.partition_key]
    pairs = []
    for key in keys:
        if not isinstance(key, dg.MultiPartitionKey):
            key = submission_partitions.get_partition_key_from_str(key)
        dims = key.keys_by_dimension
        pairs.append((dims["round"], dims["country"]))
    return sorted(pairs)
