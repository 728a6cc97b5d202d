"""The status matrix on the samples, through real Dagster runs into a real DuckDB warehouse: round 2021 MYS
(blocked by a planted mistake), round 2022 THA (blocked, then accepted on review) and VNM, round 2024's ten
countries; round 2023 and the rounds after 2024 have no submission and their deadlines have passed (the
deadline of round R is 30 September R): they are missing. The submissions are dated as received on the day the
focal point declared (the samples' submission dates, some after the deadline)."""

from __future__ import annotations

import base64
import io
import json
from datetime import date

import dagster as dg
import duckdb
import pytest
from PIL import Image

from ilms_dagster.assets.sql_models import MODEL_ASSETS
from ilms_dagster.assets.status_report import DEADLINE_CHECK, STATUS_REPORT, status_alerts, status_matrix_report
from ilms_dagster.checks.reviews import Review, accept, open_errors
from ilms_dagster.definitions import build_defs
from ilms_dagster.orchestration.round_run import run_round
from ilms_dagster.partitions import ensure_countries
from ilms_dagster.publication.status import alert_message, matrix_markdown
from ilms_dagster.registry import REPORTING_COUNTRIES, deadline
from ilms_dagster.resources import IlmsStorage
from ilms_dagster.resources.warehouse import WarehouseResource, publish_read_copy

LOADED = {"2021": ["MYS"], "2022": ["THA", "VNM"], "2024": REPORTING_COUNTRIES}


@pytest.fixture(scope="module")
def status(tmp_path_factory):
    root = tmp_path_factory.mktemp("status")
    (root / "inbox").mkdir()
    path = root / "warehouse.duckdb"
    storage = IlmsStorage(data_dir=str(root), inbox_dir=str(root / "inbox"))
    resources = {"storage": storage, "warehouse": WarehouseResource(database=str(path))}
    defs = build_defs(resources)
    with dg.instance_for_test() as instance:
        ensure_countries(instance)
        outcomes = {
            (o.round, o.country): o.status
            for round_, countries in LOADED.items()
            for o in run_round(defs.resolve_job_def("ingest_submissions"), instance, round_, countries)
        }
        with duckdb.connect(str(path)) as conn:
            conn.execute("UPDATE raw.submissions SET received_at = submission_date::TIMESTAMP")  # as declared
            for table_id, rule in sorted({(e.table_id, e.rule) for e in open_errors(conn, 2022, "THA").itertuples()}):
                accept(conn, Review(2022, "THA", table_id, rule, None, "known census revision", "tester"))
        result = dg.materialize(
            [*MODEL_ASSETS, status_matrix_report], resources=resources, instance=instance, raise_on_error=False
        )
        with duckdb.connect(str(path)) as conn:
            publish_read_copy(conn)
            rows = conn.execute("SELECT * FROM marts.status_matrix").df()
            declared = dict(
                ((r, c), d)
                for r, c, d in conn.execute(
                    "SELECT round, ref_area, submission_date::DATE FROM raw.submissions"
                ).fetchall()
            )
        yield root, outcomes, result, rows, declared, instance, defs


def test_the_runs_block_and_accept_as_the_samples_say(status):
    _, outcomes, result, *_ = status
    assert outcomes[("2021", "MYS")] == outcomes[("2022", "THA")] == "blocked"
    assert all(outcomes[("2024", c)] == "ok" for c in REPORTING_COUNTRIES) and outcomes[("2022", "VNM")] == "ok"
    assert result.success


def test_every_round_and_country_has_its_status(status):
    _, _, _, rows, declared, *_ = status
    cell = {(r.round, r.ref_area): r for r in rows.itertuples()}
    today = date.today()
    rounds = sorted({r for r, _ in cell})
    assert rounds == list(range(2021, today.year + 1))  # from the first round received to the current one
    assert {c for _, c in cell} == set(REPORTING_COUNTRIES)
    assert cell[(2021, "MYS")].status == "blocked" and cell[(2021, "MYS")].blocked
    assert cell[(2022, "THA")].status == "reviewed" and cell[(2022, "THA")].accepted
    assert cell[(2022, "VNM")].status == "accepted"
    for country in REPORTING_COUNTRIES:
        assert cell[(2024, country)].status == "accepted"
        assert cell[(2023, country)].status == "missing" and cell[(2023, country)].missing  # a late round
        assert cell[(2023, country)].days_late == (today - deadline(2023)).days
    for round_ in range(2025, today.year + 1):
        expected = "missing" if today > deadline(round_) else "not yet due"
        assert {cell[(round_, c)].status for c in REPORTING_COUNTRIES} == {expected}
    for (round_, country), submitted in declared.items():
        late = submitted > deadline(round_)
        assert bool(cell[(round_, country)].late) == late, (round_, country)
        assert cell[(round_, country)].label.endswith(", late") == late
    assert any(bool(r.late) for r in rows.itertuples()) and not all(
        bool(r.late) for r in rows.itertuples() if r.submitted
    )


def test_the_report_shows_the_matrix_as_markdown_and_png_and_its_deadline_check_is_red(status):
    root, _, result, rows, _, instance, _ = status
    materialization = instance.get_latest_materialization_event(STATUS_REPORT).asset_materialization
    md = materialization.metadata["matrix"].value
    assert md == matrix_markdown(rows)
    header, _, *lines = md.split("\n\n")[0].split("\n")
    assert header == "| round | " + " | ".join(sorted(REPORTING_COUNTRIES)) + " |"
    assert [line.split(" | ")[0] for line in lines] == [f"| {r}" for r in sorted(rows["round"].unique(), reverse=True)]
    cells = {line.split(" | ")[0][2:]: line.strip("| ").split(" | ")[1:] for line in lines}
    assert dict(zip(sorted(REPORTING_COUNTRIES), cells["2021"]))["MYS"].startswith("blocked")
    assert cells["2023"] == ["missing"] * len(REPORTING_COUNTRIES)
    image = materialization.metadata["image"].value
    assert image.startswith("![status matrix](data:image/png;base64,")
    png = base64.b64decode(image.split(",", 1)[1].rstrip(")"))
    assert png == (root / "reports" / "status_matrix.png").read_bytes()
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.format == "PNG" and picture.width > 600 and picture.height > 200
    assert (
        materialization.metadata["blocked_cells"].value == 1 and materialization.metadata["reviewed_cells"].value == 1
    )
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == DEADLINE_CHECK]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    overdue = {
        f"{c}|{r}"
        for r in range(2021, date.today().year + 1)
        for c in REPORTING_COUNTRIES
        if (str(r), c) not in {(k, v) for k, vs in LOADED.items() for v in vs} and date.today() > deadline(r)
    }
    assert check.metadata["overdue_partitions"].value == len(overdue)
    assert all(key in check.description for key in overdue)


def test_the_sensor_reports_newly_blocked_late_and_missing_cells_once(status, monkeypatch):
    root, _, _, rows, _, instance, defs = status
    monkeypatch.setenv("ILMS_WAREHOUSE", str(root / "warehouse.duckdb"))
    context = dg.build_sensor_context(instance=instance, definitions=defs)
    first = status_alerts.evaluate_tick(context)
    assert first.run_requests == []
    alerting = {k: v for k, v in json.loads(first.cursor).items()}
    assert alerting["2021|MYS"].startswith("blocked") and alerting["2023|BRN"] == "missing"
    assert "2022|THA" not in alerting or alerting["2022|THA"].endswith("late")  # reviewed: alerts only if late
    assert "2021|MYS" in first.skip_message and "need attention" in first.skip_message
    second = status_alerts.evaluate_tick(
        dg.build_sensor_context(instance=instance, definitions=defs, cursor=first.cursor)
    )
    assert second.skip_message == "no newly blocked, late or missing submission" and second.cursor == first.cursor
    message = alert_message({"2021|MYS": "blocked", "2023|BRN": "missing"})
    assert message["text"] == "ILMS: 2 submission(s) need attention (blocked, late or missing)"
    assert message["blocks"][1]["text"]["text"] == "- 2021 MYS: blocked\n- 2023 BRN: missing"
    json.dumps(message)  # a JSON body, ready for a Slack webhook


def test_a_table_a_country_does_not_report_is_told_apart_from_a_reported_one(status):
    root, _, _, _, _, instance, _ = status
    from ilms_dagster.assets.ilmq import table_key
    from ilms_dagster.registry import TABLES

    told = 0
    with duckdb.connect(str(root / "warehouse_read.duckdb"), read_only=True) as conn:
        for table in sorted(TABLES):
            reporting = {
                c for (c,) in conn.execute(f"SELECT DISTINCT ref_area FROM ilmq.{table} WHERE round = 2024").fetchall()
            }
            event = instance.get_latest_materialization_event(table_key(table))  # the round 2024 run: ten countries
            metadata = event.asset_materialization.metadata
            silent = sorted(f"{c}|2024" for c in REPORTING_COUNTRIES if c not in reporting)
            assert metadata["reported_partitions"].value == len(reporting), table
            assert metadata["not_reported"].value == (
                ", ".join(silent) if silent else "none: every partition reported the table"
            ), table
            told += bool(silent)
    assert told  # the samples leave some tables unreported by some countries
