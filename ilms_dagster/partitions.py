"""Partitions: one per collection round x reporting country, both dimensions open-ended.

- round: one yearly time window per collection round, keyed "2024". `end_offset=1` makes the round of the
  current year exist during its collection year, so a new round appears every 1 January with no code change.
- country: dynamic partitions (any ISO3 code), seeded with the ten ASEAN reporting countries wherever an
  instance is first used (`ensure_countries`) and grown by the inbox sensor when a workbook for a new
  country arrives.

A key's string form is "<country>|<round>" (dimensions in alphabetical order); read keys by dimension,
never by splitting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import dagster as dg

from ilms_dagster.registry import FIRST_ROUND, REPORTING_COUNTRIES

TIMEZONE = "UTC"

COUNTRY = "country"

round_partitions = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1 *", fmt="%Y", start=FIRST_ROUND, end_offset=1, timezone=TIMEZONE
)
country_partitions = dg.DynamicPartitionsDefinition(name=COUNTRY)
submission_partitions = dg.MultiPartitionsDefinition({"round": round_partitions, "country": country_partitions})

# Backfills launch one run per <= 10 partitions (of one round, or one country): few process starts, parsing in
# parallel across runs, the loads one at a time (pool duckdb_warehouse), and a bad workbook fails at most the
# other partitions of its run. Both ingestion assets use it, so a run carries both steps. docs/operations.md.
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=10)


RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
DIMENSION_TAG_PREFIX = "dagster/partition/"  # Dagster's per-dimension tags of one multi-partition key


def without_stale_dimension_tags(tags: Mapping[str, str] | None) -> dict[str, str] | None:
    """The tags of a run over a key range, without per-dimension partition tags.

    Dagster 1.13's job backfill (Jobs -> <job> -> Materialize..., `launchPartitionBackfill` with a partition set
    selector, `dagster job backfill`) gives every range run the tags of the range's first partition minus
    `dagster/partition`, so a multi-partitioned run keeps `dagster/partition/country` and `.../round` beside the
    range tags; the step context then prefers them and the run materializes that one partition (the range's other
    partitions are silently never loaded). A run with range tags and no `dagster/partition` tag is a range run:
    its per-dimension tags are dropped (`orchestration.dagster_workarounds.WorkaroundInstance.create_run`)."""
    if not tags or RANGE_START not in tags or "dagster/partition" in tags:
        return None if tags is None else dict(tags)
    return {k: v for k, v in tags.items() if not k.startswith(DIMENSION_TAG_PREFIX)}


def submission_key(round_: str, country: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"round": str(round_), "country": country})


def ensure_countries(instance: dg.DagsterInstance, also: Iterable[str] = ()) -> list[str]:
    """Add the reporting countries, and `also` these, to the instance's `country` partitions where missing;
    return every country it knows, in the order they were added."""
    known = list(instance.get_dynamic_partitions(COUNTRY))
    missing = [c for c in dict.fromkeys([*REPORTING_COUNTRIES, *also]) if c not in known]
    if missing:
        instance.add_dynamic_partitions(COUNTRY, missing)
    return known + missing


def partition_rounds_countries(context: dg.AssetExecutionContext) -> list[tuple[str, str]]:
    """(round, country) of every partition in the run: one for a normal run, many for a backfill run over a
    key range (a range "BRN|2024".."VNM|2024" covers every country between them, in the order the countries
    were added, for every round between them). Keys are read by dimension, never by splitting."""
    tags = context.run.tags
    if (
        RANGE_START in tags
        and "dagster/partition" not in tags
        and any(t.startswith(DIMENSION_TAG_PREFIX) for t in tags)
    ):
        raise dg.Failure(  # Dagster would load and record only the dimension tags' partition: never silently
            description=f"run {context.run_id} carries the key range {tags[RANGE_START]}..{tags.get(RANGE_END)} and "
            "per-dimension partition tags ("
            + ", ".join(f"{t}={v}" for t, v in sorted(tags.items()) if t.startswith(DIMENSION_TAG_PREFIX))
            + "): Dagster would run one "
            "partition of the range. Launch it on the project's instance (dagster.yaml instance_class WorkaroundInstance), "
            "which drops those tags; docs/operations.md, Backfills.",
            allow_retries=False,
        )
    keys = context.partition_keys if context.has_partition_key_range else [context.partition_key]
    pairs = []
    for key in keys:
        if not isinstance(key, dg.MultiPartitionKey):
            key = submission_partitions.get_partition_key_from_str(key)
        dims = key.keys_by_dimension
        pairs.append((dims["round"], dims["country"]))
    return sorted(pairs)
