"""A failed run of a backfill is retried even when the backfill daemon looks in the instant its failure lands:
`WorkaroundInstance` publishes the run's retry decision before its FAILURE status (dagster-io/dagster#34204). A real
failing run on a real instance; Dagster's own completion check is asked the moment the status is written. A run
that failed because validation blocked a partition is not retried (it would block it again)."""

from __future__ import annotations

import logging

import dagster as dg
from dagster._core.execution.asset_backfill import backfill_runs_are_complete
from dagster._core.storage.tags import BACKFILL_ID_TAG, RETRY_ON_ASSET_OR_OP_FAILURE_TAG, WILL_RETRY_TAG

from ilms_dagster.assets import ilmq_tables, submission_file
from ilms_dagster.partitions import ensure_countries, submission_key
from ilms_dagster.questionnaire.samples import DELIBERATE_MISTAKES

BACKFILL = "retrytest"


@dg.asset
def fails() -> None:
    raise RuntimeError("the worker died")


def _instance(tmp_path, retries: bool) -> dg.DagsterInstance:
    (tmp_path / "dagster.yaml").write_text(
        "instance_class:\n  module: ilms_dagster.orchestration.dagster_workarounds\n  class: WorkaroundInstance\n"
        f"run_retries:\n  enabled: {str(retries).lower()}\n  max_retries: 2\n  retry_on_asset_or_op_failure: true\n"
        "telemetry:\n  enabled: false\n"
    )
    return dg.DagsterInstance.from_config(str(tmp_path))


def _fail_a_backfill_run(instance: dg.DagsterInstance, **tags: str) -> tuple[dg.DagsterRun, list]:
    """Run `fails` as a run of backfill BACKFILL; return it and, for the moment its FAILURE status was
    written, (its will_retry tag, whether Dagster's backfill daemon would find the backfill's runs complete)."""
    seen = []
    storage = instance.run_storage
    original = storage.handle_run_event

    def probe(run_id, event, update_timestamp=None):
        original(run_id, event, update_timestamp)
        if event.is_run_failure:
            tags = instance.get_run_by_id(run_id).tags
            seen.append((tags.get(WILL_RETRY_TAG), backfill_runs_are_complete(BACKFILL, instance, logging.getLogger())))

    storage.handle_run_event = probe
    try:
        result = dg.materialize(
            [fails], instance=instance, tags={BACKFILL_ID_TAG: BACKFILL} | tags, raise_on_error=False
        )
    finally:
        storage.handle_run_event = original
    assert not result.success
    return instance.get_run_by_id(result.run_id), seen


def test_a_failed_backfill_run_is_waiting_to_retry_the_moment_its_failure_is_stored(tmp_path):
    with _instance(tmp_path, retries=True) as instance:
        run, seen = _fail_a_backfill_run(instance)
        assert seen == [("true", False)]  # tagged before the status: the backfill waits for its retry
        assert run.status == dg.DagsterRunStatus.FAILURE and run.is_complete_and_waiting_to_retry


def test_a_run_out_of_retries_is_decided_not_to_retry_and_its_backfill_can_end(tmp_path):
    with _instance(tmp_path, retries=True) as instance:
        run, seen = _fail_a_backfill_run(instance, **{"dagster/max_retries": "0"})
        assert seen == [("false", True)] and not run.is_complete_and_waiting_to_retry


def test_without_run_retries_no_decision_is_published(tmp_path):
    with _instance(tmp_path, retries=False) as instance:
        run, seen = _fail_a_backfill_run(instance)
        assert seen == [(None, True)] and WILL_RETRY_TAG not in run.tags


def test_a_run_blocked_by_validation_is_not_retried_and_a_clean_run_is_left_alone(project, tmp_path):
    blocking = next(m for m in DELIBERATE_MISTAKES if m.rule == "sex_total")  # PHL 2020: an error, not a warning
    (tmp_path / "home").mkdir()
    with _instance(tmp_path / "home", retries=True) as instance:  # retry_on_asset_or_op_failure: true
        ensure_countries(instance)

        def run(country: str) -> dg.DagsterRun:
            result = dg.materialize(
                [submission_file, ilmq_tables],
                partition_key=submission_key(blocking.round, country),
                resources=project.resources,
                instance=instance,
                raise_on_error=False,
            )
            return instance.get_run_by_id(result.run_id)

        blocked = run(blocking.country)
        assert blocked.status == dg.DagsterRunStatus.FAILURE  # the failed blocking check fails the step
        assert blocked.tags[RETRY_ON_ASSET_OR_OP_FAILURE_TAG] == "false" and blocked.tags[WILL_RETRY_TAG] == "false"
        assert not blocked.is_complete_and_waiting_to_retry
        clean = run("BRN")
        assert clean.status == dg.DagsterRunStatus.SUCCESS and RETRY_ON_ASSET_OR_OP_FAILURE_TAG not in clean.tags
