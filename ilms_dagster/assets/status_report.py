"""What engineers and coordinators see first: the status matrix (round x country) as an asset with its deadline
check, a daily job and schedule that rebuild it (a deadline passes without new data), and the sensor that reports
newly blocked, late or missing submissions. The content is `marts.status_matrix`; the rendering is
ilms_dagster/publication/status.py.
"""

import base64
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
from dagster_duckdb import DuckDBResource

from ilms_dagster.assets.sql_models import MODEL_ASSETS, MODELS_AUTOMATION
from ilms_dagster.partitions import TIMEZONE
from ilms_dagster.publication.status import alert_message, matrix_markdown, matrix_png, new_alerts, overdue
from ilms_dagster.resources import WAREHOUSE_POOL, IlmsStorage
from ilms_dagster.resources.warehouse import read_copy_path, warehouse_path

STATUS_MODEL = dg.AssetKey(["marts", "status_matrix"])
TIMELINESS_MODEL = dg.AssetKey(["marts", "timeliness"])
STATUS_REPORT = dg.AssetKey(["reports", "status_matrix"])
DEADLINE_CHECK = "deadlines"


def _rows(conn) -> pd.DataFrame:
    return conn.execute("SELECT * FROM marts.status_matrix ORDER BY round, ref_area").df()


@dg.asset(
    key=STATUS_REPORT,
    deps=[STATUS_MODEL],
    group_name="reports",
    kinds={"duckdb", "altair"},
    owners=["team:data-engineering"],
    pool=WAREHOUSE_POOL,  # it opens the warehouse file
    automation_condition=MODELS_AUTOMATION,
    check_specs=[
        dg.AssetCheckSpec(
            DEADLINE_CHECK,
            asset=STATUS_REPORT,
            blocking=False,
            description="Fails (red) while a round's deadline has passed and a country of the collection has sent "
            "nothing: the overdue round x country cells, with their days overdue, in the metadata.",
        )
    ],
    description="The collection's status, round x country (submitted, accepted, blocked, accepted on review, late, "
    "missing) from marts.status_matrix: a Markdown matrix and a PNG in the metadata; the check `deadlines` is red "
    "while any partition is overdue. Rebuilt after new data and daily (schedule daily_status).",
)
def status_matrix_report(context: dg.AssetExecutionContext, warehouse: DuckDBResource, storage: IlmsStorage):
    with warehouse.get_connection() as conn:
        rows = _rows(conn)
    png = matrix_png(rows)
    path = Path(storage.data_dir) / "reports" / "status_matrix.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    image = f"![status matrix](data:image/png;base64,{base64.b64encode(png).decode()})"
    late = overdue(rows)
    counts = rows["status"].value_counts()
    context.log.info(f"status matrix: {len(rows)} cells, {len(late)} overdue; PNG {path}")
    yield dg.MaterializeResult(
        metadata={
            "matrix": dg.MetadataValue.md(matrix_markdown(rows)),
            "image": dg.MetadataValue.md(image),
            "png": dg.MetadataValue.path(str(path)),
            "rounds": ", ".join(str(r) for r in sorted(rows["round"].unique())) if len(rows) else "",
            **{
                f"{status.replace(' ', '_')}_cells": int(counts.get(status, 0))
                for status in ("accepted", "reviewed", "submitted", "blocked", "missing", "not yet due")
            },
            "late_cells": int(rows["late"].sum()) if len(rows) else 0,
        }
    )
    yield dg.AssetCheckResult(
        check_name=DEADLINE_CHECK,
        passed=late.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        description="no round x country overdue"
        if late.empty
        else f"{len(late)} round x country overdue: " + ", ".join(f"{r.ref_area}|{r.round}" for r in late.itertuples()),
        metadata={
            "overdue": dg.MetadataValue.md(late.to_markdown(index=False) if len(late) else "none"),
            "overdue_partitions": len(late),
        },
    )


status_job = dg.define_asset_job(
    "status_report",
    selection=dg.AssetSelection.assets(TIMELINESS_MODEL, STATUS_MODEL, STATUS_REPORT),
    description="Rebuild marts.timeliness, marts.status_matrix and the status matrix report (deadline check).",
)


@dg.schedule(
    name="daily_status",
    job=status_job,
    cron_schedule="30 0 * * *",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every day at 00:30 UTC: the status matrix and its deadline check, so a deadline that "
    "passes turns its missing partitions red without waiting for new data.",
)
def daily_status(_context):
    return dg.RunRequest()


def read_status_rows(path: Path | None = None) -> pd.DataFrame | None:
    """marts.status_matrix from the analysts' read copy (a sensor must never hold the warehouse file); None
    before the first models build."""
    copy = read_copy_path(path or warehouse_path())
    if not copy.exists():
        return None
    with duckdb.connect(str(copy), read_only=True) as conn:
        if not conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = 'marts' AND table_name = 'status_matrix'"
        ).fetchall():
            return None
        return _rows(conn)


@dg.sensor(
    name="status_alerts",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reports round x country cells newly blocked, late or missing (marts.status_matrix in the "
    "read copy): a warning on the tick and a Slack-ready message body (ilms_dagster/publication/status.py alert_message). "
    "Cursor: JSON {'<round>|<country>': label} of the cells alerting at the last tick.",
)
def status_alerts(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    rows = read_status_rows()
    if rows is None:
        return dg.SensorResult(skip_reason="no marts.status_matrix in the read copy yet (models not built)")
    alerts, cursor = new_alerts(rows, context.cursor)
    if not alerts:
        return dg.SensorResult(skip_reason="no newly blocked, late or missing submission", cursor=cursor)
    message = alert_message(alerts)
    context.log.warning(message["text"] + ":\n" + message["blocks"][1]["text"]["text"])
    return dg.SensorResult(skip_reason=message["text"] + ": " + ", ".join(alerts), cursor=cursor)


status_automation_sensor = dg.AutomationConditionSensorDefinition(
    "status_after_models",
    target=dg.AssetSelection.assets(STATUS_REPORT),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    emit_backfills=False,
    description="Rebuilds the status matrix report once marts.status_matrix has been rebuilt.",
)

STATUS_ASSETS = [status_matrix_report]
assert STATUS_MODEL in {k for a in MODEL_ASSETS for k in a.keys}, "dbt_like_sql/status_matrix.sql makes the model"
