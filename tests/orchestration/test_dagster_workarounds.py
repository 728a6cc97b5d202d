"""Each workaround of ilms_dagster/orchestration/dagster_workarounds.py is for a Dagster bug that is still there: the
test of a workaround's bug fails on the day a Dagster release fixes it, and the workaround can then be deleted."""

from __future__ import annotations

import inspect
import logging

import dagster as dg
from dagster._core.execution import job_backfill
from dagster._core.execution.asset_backfill import backfill_runs_are_complete
from dagster._core.storage.tags import BACKFILL_ID_TAG, WILL_RETRY_TAG

from ilms_dagster.partitions import RANGE_END, RANGE_START, without_stale_dimension_tags


def test_bug_1_job_backfill_range_runs_still_take_the_first_partitions_tags():
    """dagster-io/dagster#28861, #30786: a job backfill's range run gets the first partition's tags minus only
    `dagster/partition`, so a multi-partitioned job's per-dimension tags stay."""
    source = inspect.getsource(job_backfill.submit_backfill_runs)
    assert "partition_set_execution_data.partition_data[0].tags.items()" in source
    assert "if k != PARTITION_NAME_TAG" in source


def test_workaround_1_drops_the_dimension_tags_of_range_runs_only():
    stale = {
        RANGE_START: "BRN|2024",
        RANGE_END: "VNM|2024",
        "dagster/partition/country": "BRN",
        "dagster/partition/round": "2024",
        "dagster/backfill": "b",
    }
    assert without_stale_dimension_tags(stale) == {
        RANGE_START: "BRN|2024",
        RANGE_END: "VNM|2024",
        "dagster/backfill": "b",
    }
    one = {"dagster/partition": "BRN|2024", "dagster/partition/country": "BRN", "dagster/partition/round": "2024"}
    assert without_stale_dimension_tags(one) == one and without_stale_dimension_tags(None) is None


@dg.asset
def fails() -> None:
    raise RuntimeError("the worker died")


def test_bug_2_dagster_still_stores_a_failure_before_its_retry_decision(tmp_path):
    """dagster-io/dagster#34204, on Dagster's own instance class: when the FAILURE status lands the run has no
    retry decision yet, and the backfill daemon's completion check already calls its backfill complete (the
    workaround's behaviour is tests/orchestration/test_run_retries.py)."""
    (tmp_path / "dagster.yaml").write_text(
        "run_retries:\n  enabled: true\n  max_retries: 2\n  retry_on_asset_or_op_failure: true\ntelemetry:\n  enabled: false\n"
    )
    seen = []
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance) is dg.DagsterInstance
        original = instance.run_storage.handle_run_event

        def probe(run_id, event, update_timestamp=None):
            original(run_id, event, update_timestamp)
            if event.is_run_failure:
                tags = instance.get_run_by_id(run_id).tags
                seen.append((tags.get(WILL_RETRY_TAG), backfill_runs_are_complete("b", instance, logging.getLogger())))

        instance.run_storage.handle_run_event = probe
        result = dg.materialize([fails], instance=instance, tags={BACKFILL_ID_TAG: "b"}, raise_on_error=False)
        assert not result.success
        assert instance.get_run_by_id(result.run_id).tags.get(WILL_RETRY_TAG) == "true"  # decided, but too late
    assert seen == [(None, True)]


def test_bug_3_a_check_result_still_has_no_partition():
    """dagster-io/dagster#17005: a step over a partition range cannot report a partitioned AssetCheckResult."""
    assert "partition" not in inspect.signature(dg.AssetCheckResult).parameters
