"""The single Definitions object of ilms-dagster."""

from __future__ import annotations

import os

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import warnings  # noqa: E402

import dagster as dg  # noqa: E402

warnings.filterwarnings("ignore", category=dg.BetaWarning)  # backfill_policy is beta but the documented way

from ilms_dagster.assets import MODEL_ASSETS, ilmq_tables, submission_file  # noqa: E402
from ilms_dagster.partitions import submission_partitions  # noqa: E402
from ilms_dagster.resources import default_storage, default_warehouse  # noqa: E402

ingest_job = dg.define_asset_job(
    "ingest_submissions",
    selection=dg.AssetSelection.assets(submission_file, ilmq_tables),
    partitions_def=submission_partitions,
    description="Archive, parse and load ILMQ submissions into the warehouse, per round x country.",
)

models_job = dg.define_asset_job(
    "build_models",
    selection=dg.AssetSelection.assets(*MODEL_ASSETS),
    description="Rebuild the SQL models of dbt_like_sql/ (staging and marts tables) from the accepted partitions.",
)

defs = dg.Definitions(
    assets=[submission_file, ilmq_tables, *MODEL_ASSETS],
    jobs=[ingest_job, models_job],
    resources={"storage": default_storage(), "warehouse": default_warehouse()},
)
