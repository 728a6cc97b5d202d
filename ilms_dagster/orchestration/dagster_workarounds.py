"""Workarounds for three named Dagster 1.13 bugs and limits; each goes when Dagster fixes it, and a test in
`tests/orchestration/test_dagster_workarounds.py` fails on that day.

1. Job-backfill range runs carry the first partition's dimension tags (dagster-io/dagster#28861, #30786): the
   job backfill (Jobs -> <job> -> Materialize..., `launchPartitionBackfill` with a partition set selector,
   `dagster job backfill`) gives every run over a range of a multi-partitioned job the tags of the range's first
   partition minus `dagster/partition`; the step then sees that one partition and the range's others are never
   loaded. `WorkaroundInstance.create_run` drops those tags from a run with range tags and no
   `dagster/partition` tag (`partitions.without_stale_dimension_tags`).
2. The retry decision is stored after the failure (dagster-io/dagster#34204): Dagster stores a failing run's
   FAILURE status before its `dagster/will_retry` tag; a backfill daemon pass in between finds no run in
   progress and none waiting to retry, ends the backfill, and the retry daemon then refuses to retry a run of
   an ended backfill: a killed worker's partitions were lost. `WorkaroundInstance` tags the run with Dagster's
   own decision before the failure is stored (Dagster tags it again after, with the same decision).
3. `AssetCheckResult` has no partition (dagster-io/dagster#17005, partitioned checks are a preview): a step
   over a partition range cannot report a partitioned check result; Dagster gives it no partition and no target.
   `range_check_evaluations` builds the evaluations as `AssetCheckResult.to_asset_check_evaluation` does for a
   one-partition step: the partition's latest materialization, from the instance's public records API.

`WorkaroundInstance` is selected by `instance_class` in both dagster.yaml files; it changes nothing else.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.execution.retries import auto_reexecution_should_retry_run
from dagster._core.storage.tags import WILL_RETRY_TAG

from ilms_dagster.partitions import without_stale_dimension_tags


class WorkaroundInstance(dg.DagsterInstance):
    """Dagster's instance with workarounds 1 and 2 of this module. An `instance_class` must name its settings and
    defaults (`config_schema`, `config_defaults`): none of its own, Dagster's defaults."""

    @classmethod
    def config_schema(cls):
        return {}

    @staticmethod
    def config_defaults(base_dir: str):
        from dagster._core.instance.ref import InstanceRef

        return InstanceRef.config_defaults(base_dir)

    def create_run(self, *, tags=None, **kwargs):
        return super().create_run(tags=without_stale_dimension_tags(tags), **kwargs)

    def handle_new_event(self, event, *, batch_metadata=None) -> None:
        if self.run_retries_enabled and event.is_dagster_event and event.get_dagster_event().is_run_failure:
            self._publish_retry_decision(event)
        super().handle_new_event(event, batch_metadata=batch_metadata)

    def _publish_retry_decision(self, event) -> None:
        run = self.get_run_by_id(event.run_id)
        if run is None:
            return
        reason = getattr(event.get_dagster_event().event_specific_data, "failure_reason", None)
        decision = auto_reexecution_should_retry_run(self, run.with_status(dg.DagsterRunStatus.FAILURE), reason)
        self.add_run_tags(run.run_id, {WILL_RETRY_TAG: str(decision).lower()})


def range_check_evaluations(
    instance: dg.DagsterInstance, evaluations: list[dg.AssetCheckEvaluation]
) -> list[dg.AssetCheckEvaluation]:
    """The evaluations of partitioned checks in a range run, each targeting its partition's latest materialization
    (none for a partition never materialized), as Dagster targets a one-partition step's check result. One query an
    asset for its partitions' newest materializations; a partition not among them (blocked in this run, so its
    latest is older) is asked for alone."""
    targets: dict[tuple[dg.AssetKey, str], AssetCheckEvaluationTargetMaterializationData | None] = {}
    by_asset: dict[dg.AssetKey, set[str]] = {}
    for e in evaluations:
        by_asset.setdefault(e.asset_key, set()).add(e.partition)
    for key, partitions in by_asset.items():
        newest = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=sorted(partitions)), limit=len(partitions)
        ).records
        for record in newest:  # newest first
            targets.setdefault((key, record.partition_key), _target(record))
        for partition in partitions - {p for k, p in targets if k == key}:
            latest = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
            ).records
            targets[(key, partition)] = _target(latest[0]) if latest else None
    return [
        dg.AssetCheckEvaluation(
            asset_key=e.asset_key,
            check_name=e.check_name,
            passed=e.passed,
            metadata=e.metadata,
            target_materialization_data=targets[(e.asset_key, e.partition)],
            severity=e.severity,
            description=e.description,
            blocking=e.blocking,
            partition=e.partition,
        )
        for e in evaluations
    ]


def _target(record) -> AssetCheckEvaluationTargetMaterializationData:
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id, run_id=record.event_log_entry.run_id, timestamp=record.timestamp
    )
