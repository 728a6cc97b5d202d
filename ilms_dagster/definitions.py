"""The single Definitions object of ilms-dagster."""

from __future__ import annotations

from ilms_dagster.orchestration import environment  # noqa: E402  (before Dagster is imported)

environment.apply()

import warnings  # noqa: E402

import dagster as dg  # noqa: E402

warnings.filterwarnings("ignore", category=dg.BetaWarning)  # backfill_policy is beta but the documented way

from ilms_dagster.assets import ILOSTAT_ASSETS, MODEL_ASSETS, ilmq_tables, submission_file  # noqa: E402
from ilms_dagster.assets.operations import (  # noqa: E402
    annual_round,
    inbox_sensor,
    ingest_job,
    models_automation_sensor,
    models_job,
)
from ilms_dagster.assets.release import PUBLICATION_ASSETS  # noqa: E402
from ilms_dagster.assets.status_report import (
    STATUS_ASSETS,
    daily_status,
    status_alerts,
    status_automation_sensor,
    status_job,
)  # noqa: E402
from ilms_dagster.assets.tabulations import microdata_workbook, tabulate_microdata_job  # noqa: E402
from ilms_dagster.orchestration.executor import run_executor  # noqa: E402
from ilms_dagster.resources import default_storage, default_warehouse  # noqa: E402


def build_defs(resources: dict) -> dg.Definitions:
    """Everything Dagster loads, on the given resources (tests pass their own folders and warehouse)."""
    return dg.Definitions(
        assets=[
            submission_file,
            ilmq_tables,
            *MODEL_ASSETS,
            microdata_workbook,
            *ILOSTAT_ASSETS,
            *STATUS_ASSETS,
            *PUBLICATION_ASSETS,
        ],
        jobs=[ingest_job, models_job, tabulate_microdata_job, status_job],
        schedules=[annual_round, daily_status],
        sensors=[inbox_sensor, models_automation_sensor, status_alerts, status_automation_sensor],
        resources=resources,
        # One process per run, not per step: ingestion steps run one after the other anyway and every
        # warehouse writer waits for the single slot of pool duckdb_warehouse, so a process per step only
        # adds start-up time (13 model steps took ~3 min); parallelism comes from concurrent runs.
        # `ilms deploy up` sends the steps to Celery workers instead (ilms_dagster/orchestration/executor.py).
        executor=run_executor(),
    )


defs = build_defs({"storage": default_storage(), "warehouse": default_warehouse()})
