"""The Dagster UI for real: `dagster dev` (webserver + daemon) behind the front door (its token required) on a
temporary instance and data folder, a backfill launched through its GraphQL API with the token, and headless
Chromium (Debian's package, never a Playwright download), logged in by the token URL, on the asset catalog and an
ILMQ table's page.

Run alone: `uv run --frozen pytest tests/assets/test_ui.py`; the screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest
from playwright.sync_api import expect, sync_playwright

from ilms_dagster.definitions import defs
from ilms_dagster.intake.submissions import StagedSubmission
from ilms_dagster.orchestration.instance import instance_at
from ilms_dagster.partitions import submission_partitions
from ilms_dagster.registry import REPORTING_COUNTRIES, TABLES
from ilms_dagster.resources import IlmsStorage
from ilms_dagster.resources.warehouse import connect_read_only
from tests.support.dagster_dev import backfill_asset_keys, dagster_dev, ensure_partitions, lock_errors

pytestmark = pytest.mark.slow  # 4-10 min: dagster dev, a backfill of 20 partitions, a browser
ROUNDS = ["2023", "2024"]  # no DELIBERATE_MISTAKES in these rounds: every partition must succeed
TABLE = "emp_by_age"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # tests/artifacts
UI_TIMEOUT_MS = 60_000  # a loaded 2-core CI machine renders the catalog slowly


@pytest.fixture(scope="session")
def ui(tmp_path_factory):
    """One `dagster dev` for the session, on its own DAGSTER_HOME, data folder, empty inbox (so the bundled
    samples are used) and warehouse; its whole process group is stopped at the end."""
    root = tmp_path_factory.mktemp("ui")
    (root / "inbox").mkdir()
    with dagster_dev(root) as server:  # the shipped dagster.yaml turns off the "join the community" dialog
        yield server


@pytest.fixture(scope="session")
def backfill(ui):
    """A backfill of two rounds x ten countries launched through GraphQL, as the UI's Materialize button does,
    waited for; returns (partition keys, last backfill status)."""
    with instance_at(ui.home) as instance:
        keys = ensure_partitions(instance, ROUNDS, REPORTING_COUNTRIES)
    backfill_id = ui.launch_backfill(keys, backfill_asset_keys(defs), title=f"rounds {' and '.join(ROUNDS)}")
    return keys, ui.wait_for_backfill(backfill_id, timeout=900)


def test_graphql_backfill_of_two_rounds_lands_every_partition_in_duckdb(ui, backfill):
    keys, status = backfill
    assert status["status"] == "COMPLETED_SUCCESS", f"{status}\n{ui.log_tail()}"
    per_asset = {tuple(s["assetKey"]["path"]): s for s in status["assetBackfillData"]["assetBackfillStatuses"]}
    assert set(per_asset) == {tuple(k.path) for k in backfill_asset_keys(defs)}
    for path, n in per_asset.items():
        counts = (n["numPartitionsTargeted"], n["numPartitionsMaterialized"], n["numPartitionsFailed"])
        assert counts == (len(keys), len(keys), 0), path
    assert status["runs"] and all(run["status"] == "SUCCESS" for run in status["runs"])
    with instance_at(ui.home) as instance:
        assert lock_errors(instance, [run["runId"] for run in status["runs"]]) == []

    root = ui.home.parent
    storage = IlmsStorage(data_dir=str(root), inbox_dir=str(root / "inbox"))
    with connect_read_only(root / "warehouse.duckdb") as conn:  # the models' automation may hold the writer
        loaded = conn.execute("SELECT round, ref_area, sha256 FROM raw.submissions").fetchall()
        union = " UNION ALL ".join(f"SELECT round, ref_area FROM ilmq.{t}" for t in TABLES)
        counts = conn.execute(f"SELECT round, ref_area, count(*) FROM ({union}) GROUP BY ALL").fetchall()
    rows = {(r, c): n for r, c, n in counts}
    expected = {(int(r), c) for r in ROUNDS for c in REPORTING_COUNTRIES}
    assert {(r, c) for r, c, _ in loaded} == expected and len(loaded) == len(expected)
    for round_, country in sorted(expected):
        staged = StagedSubmission.load(storage, str(round_), country)
        assert rows.get((round_, country), 0) == sum(s["rows"] for s in staged.stats.values()) > 0, (round_, country)
        assert (round_, country, staged.submission["sha256"]) in loaded


def table_link(page, table: str):
    return page.get_by_role("link", name=f"ilmq / {table}").first  # the name repeats the key (full + truncated)


def partition_count(ui) -> int:
    """Every round x country partition the instance knows (what the UI counts as total)."""
    with instance_at(ui.home) as instance:
        return len(submission_partitions.get_partition_keys(dynamic_partitions_store=instance))


def test_browser_shows_the_catalog_and_an_ilmq_table_with_partitions_and_checks(ui, backfill):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (.ci/run does: apt-get install chromium)")
    keys, _ = backfill
    key = dg.AssetKey(["ilmq", TABLE])
    checks = sorted(c.name for c in defs.resolve_asset_graph().get_check_keys_for_assets({key}))
    total = partition_count(ui)
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(UI_TIMEOUT_MS)  # for clicks; assertions pass theirs
        try:
            page.goto(ui.login_url)  # the URL `ilms dev` prints: sets the front door's cookie
            page.goto(f"{ui.url}/assets")
            for table in (sorted(TABLES)[0], TABLE):  # the catalog lists the ILMQ tables as ilmq / <table>
                expect(table_link(page, table)).to_be_visible(timeout=UI_TIMEOUT_MS)
            expect(page.get_by_text(f"{total} partitions", exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
            page.screenshot(path=ARTIFACTS / "ui_asset_catalog.png", full_page=True)

            table_link(page, TABLE).click()
            expect(page).to_have_url(f"{ui.url}/assets/ilmq/{TABLE}", timeout=UI_TIMEOUT_MS)

            page.get_by_role("tab", name="Partitions").click()
            expect(page.get_by_text(f"{total} Partitions Selected")).to_be_visible(timeout=UI_TIMEOUT_MS)
            expect(page.get_by_text(f"Materialized ({len(keys)})")).to_be_visible(timeout=UI_TIMEOUT_MS)
            for dim in submission_partitions.partitions_defs:  # one column per dimension: round, country
                expect(page.get_by_placeholder(f"Filter by {dim.name}")).to_be_visible(timeout=UI_TIMEOUT_MS)
            page.screenshot(path=ARTIFACTS / f"ui_{TABLE}_partitions.png", full_page=True)

            page.get_by_role("tab", name="Checks").click()
            assert checks, "the registry generates validation checks for every ILMQ table"
            expect(page.get_by_text(f"Checks ({len(checks)})")).to_be_visible(timeout=UI_TIMEOUT_MS)
            for name in checks:
                expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
            # the selected check's latest evaluation: its partition, its verdict and the metadata of the findings
            expect(page.get_by_text("This is a blocking asset check.")).to_be_visible(timeout=UI_TIMEOUT_MS)
            expect(page.get_by_text("Passed", exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
            expect(page.get_by_text(re.compile(r"^[A-Z]{3}\|20(23|24)$")).first).to_be_visible(timeout=UI_TIMEOUT_MS)
            for field in ("errors", "warnings", "rules", "findings", "feedback_report"):
                expect(page.get_by_text(field, exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
            page.screenshot(path=ARTIFACTS / f"ui_{TABLE}_checks.png", full_page=True)
        except Exception:
            page.screenshot(path=ARTIFACTS / "ui_failure.png", full_page=True)  # what the browser showed
            raise
        finally:
            browser.close()


BLOCKED = ("2020", "PHL", "outflow_by_destination")  # a DELIBERATE_MISTAKE of the samples: blocks that table


@pytest.fixture(scope="session")
def blocked_backfill(ui, backfill):
    """A catalog backfill of one partition whose workbook fails a blocking rule, after the clean backfill."""
    round_, country, _ = BLOCKED
    with instance_at(ui.home) as instance:
        keys = ensure_partitions(instance, [round_], [country])
    backfill_id = ui.launch_backfill(keys, backfill_asset_keys(defs), title=f"blocked {country} {round_}")
    return keys[0], ui.wait_for_backfill(backfill_id, timeout=600)


def test_a_blocked_partition_fails_its_check_its_run_and_its_backfill(ui, blocked_backfill):
    key, status = blocked_backfill
    table = dg.AssetKey(["ilmq", BLOCKED[2]])
    assert status["status"] == "COMPLETED_FAILED", status
    assert [run["status"] for run in status["runs"]] == ["FAILURE"]
    per_asset = {tuple(s["assetKey"]["path"]): s for s in status["assetBackfillData"]["assetBackfillStatuses"]}
    assert per_asset[tuple(table.path)]["numPartitionsFailed"] == 1
    assert per_asset[("raw", "submissions")]["numPartitionsFailed"] == 1
    assert per_asset[("ilmq", "emp_by_age")]["numPartitionsMaterialized"] == 1  # its other tables load as usual
    assert ui.check_partition_statuses(table, "validation")[key] == "FAILED"
    assert ui.check_partition_statuses(dg.AssetKey(["raw", "submissions"]), "submission_validation")[key] == "FAILED"
    with instance_at(ui.home) as instance:  # what the asset's Partitions tab shows: failed, not missing
        for asset in (table, dg.AssetKey(["raw", "submissions"])):
            assert instance.get_status_by_partition(asset, [key], submission_partitions)[key].value == "FAILED"


def test_browser_walks_the_ui_paths_of_the_docs_and_shows_the_blocked_partition(ui, backfill, blocked_backfill):
    """The paths README.md and docs/operations.md give, clicked through from the navigation (Dagster 1.13's left
    sidebar: Overview, Runs, Catalog, Jobs, Automation, Lineage, Deployment)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (.ci/run does: apt-get install chromium)")
    key, status = blocked_backfill
    total = partition_count(ui)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(UI_TIMEOUT_MS)
        wait = {"timeout": UI_TIMEOUT_MS}
        try:
            # Runs -> Backfills: the blocked backfill, failed
            page.goto(ui.login_url)  # logged in by the printed URL, redirected to the UI's start page
            nav = lambda name: page.get_by_text(name, exact=True).first  # noqa: E731  (sidebar entries)
            nav("Runs").click()
            page.get_by_role("tab", name="Backfills").or_(
                page.get_by_role("link", name="Backfills", exact=True)
            ).first.click()
            expect(page).to_have_url(re.compile(r"/runs\?.*view=backfills"), **wait)
            expect(page.get_by_text(status["id"], exact=True).first).to_be_visible(
                **wait
            )  # the list names backfills by id
            expect(page.get_by_text(re.compile("fail", re.I)).first).to_be_visible(**wait)
            page.screenshot(path=ARTIFACTS / "ui_runs_backfills.png", full_page=True)

            # Jobs -> ingest_submissions -> Partitions, and its Materialize... (the job route of a backfill)
            nav("Jobs").click()
            page.get_by_role("link", name="ingest_submissions").first.click()
            page.get_by_role("tab", name="Partitions").or_(
                page.get_by_role("link", name="Partitions", exact=True)
            ).first.click()
            expect(page.get_by_role("button", name=re.compile(r"Materialize")).first).to_be_visible(**wait)
            # ... which counts what the backfills loaded or failed (range runs included) as not missing
            expect(page.get_by_text("Missing partitions", exact=True)).to_be_visible(**wait)
            expect(page.get_by_text(str(total - len(backfill[0]) - 1), exact=True).first).to_be_visible(**wait)
            page.screenshot(path=ARTIFACTS / "ui_job_partitions.png", full_page=True)

            # Catalog -> submission_file -> Materialize... (the catalog route)
            nav("Catalog").click()
            expect(page).to_have_url(re.compile(r"/(catalog|assets)"), **wait)
            page.goto(f"{ui.url}/assets/submission_file")  # its page (1.13's catalog opens on a health overview)
            expect(page).to_have_url(re.compile(rf"{re.escape(ui.url)}/assets/submission_file"), **wait)
            expect(page.get_by_role("button", name=re.compile(r"Materialize")).first).to_be_visible(**wait)

            # the blocked table's page -> Checks: its blocking check failed on the blocked partition
            page.goto(f"{ui.url}/assets/ilmq/{BLOCKED[2]}")
            page.get_by_role("tab", name="Checks").click()
            expect(page.get_by_text("This is a blocking asset check.")).to_be_visible(**wait)
            expect(page.get_by_text("Failed", exact=True).first).to_be_visible(**wait)
            expect(page.get_by_text(key, exact=True).first).to_be_visible(**wait)
            page.screenshot(path=ARTIFACTS / "ui_blocked_check.png", full_page=True)

            # ... and its own Partitions tab: the blocked partition counted failed (red), not missing
            page.goto(f"{ui.url}/assets/ilmq/{BLOCKED[2]}?view=partitions")
            expect(page.get_by_text("Failed (1)")).to_be_visible(**wait)
            page.screenshot(path=ARTIFACTS / "ui_blocked_partitions.png", full_page=True)

            # a model's page -> Automation: its condition
            page.goto(f"{ui.url}/assets/marts/stocks")
            page.get_by_role("tab", name="Automation").click()
            expect(page.get_by_text(re.compile(r"^(Not requested|Requested)$")).first).to_be_visible(
                **wait
            )  # its evaluations
            page.screenshot(path=ARTIFACTS / "ui_model_automation.png", full_page=True)
        except Exception:
            page.screenshot(path=ARTIFACTS / "ui_paths_failure.png", full_page=True)
            raise
        finally:
            browser.close()
