"""Every way of launching a backfill loads exactly the partitions selected, nothing else (issue 16).

One real `dagster dev` (webserver + daemon, the shipped dagster.yaml) for the module; four backfills launched at
once, each over a round x country selection that is no contiguous range in either dimension (the countries'
order is the order they were added: BRN, KHM, IDN, LAO, MYS, MMR, PHL, SGP, THA, VNM), in rounds of its own:

- Jobs -> ingest_submissions -> Materialize... (the UI's LaunchAssetChoosePartitionsDialog for a job target):
  `launchPartitionBackfill` with the partition set selector, the job's assets and the partition names;
- Jobs -> ingest_submissions -> Partitions -> Launch backfill (BackfillSelector): the selector and the names;
- Assets -> select -> Materialize... (catalog): `launchPartitionBackfill` with assetSelection + partitionNames;
- the CLI: `dagster job backfill --partitions`, executed by the daemon.

Each selection holds sample partitions with DELIBERATE_MISTAKES: they are loaded (to be inspected) and must show as
failed blocking checks, failed runs and a failed backfill.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import dagster as dg
import duckdb
import pytest

from ilms_dagster.assets.ilmq import SUBMISSION_CHECK, SUBMISSIONS_KEY, TABLE_CHECK, table_key
from ilms_dagster.definitions import defs
from ilms_dagster.intake.submissions import StagedSubmission
from ilms_dagster.orchestration.instance import instance_at
from ilms_dagster.questionnaire.samples import DELIBERATE_MISTAKES
from ilms_dagster.registry import REPORTING_COUNTRIES, TABLES
from ilms_dagster.resources import IlmsStorage
from ilms_dagster.resources.storage import PROJECT_ROOT
from tests.support.dagster_dev import backfill_asset_keys, dagster_dev, ensure_partitions

pytestmark = pytest.mark.slow

ROUTES = {  # route -> (rounds, countries)
    "job_materialize_dialog": (["2020", "2023"], ["PHL", "SGP", "VNM"]),  # the selection of the report
    "job_partitions_tab": (["2017", "2021"], ["BRN", "LAO", "MYS"]),
    "catalog": (["2019", "2022"], ["KHM", "MMR", "THA"]),
    "cli": (["2016", "2018"], ["IDN", "SGP", "VNM"]),
}


def selected(route: str) -> set[tuple[int, str]]:
    rounds, countries = ROUTES[route]
    return {(int(r), c) for r in rounds for c in countries}


def key_of(round_: int | str, country: str) -> str:
    return str(dg.MultiPartitionKey({"round": str(round_), "country": country}))


def blocked_in(route: str) -> dict[tuple[int, str], str]:
    """{(round, country): table} of the planted mistakes in the route's selection: each blocks its table (THA 2019's
    jump, a warning itself, is a unit error that also breaks the blocking total_across_tables in the same table)."""
    return {
        (int(m.round), m.country): m.table for m in DELIBERATE_MISTAKES if (int(m.round), m.country) in selected(route)
    }


def test_every_route_selects_a_non_contiguous_grid_with_a_blocked_partition():
    order = REPORTING_COUNTRIES
    for route, (rounds, countries) in ROUTES.items():
        positions = sorted(order.index(c) for c in countries)
        assert positions[-1] - positions[0] + 1 > len(countries), route  # a gap between the countries
        assert int(rounds[-1]) - int(rounds[0]) + 1 > len(rounds), route  # and between the rounds
        assert blocked_in(route), route
    all_rounds = [r for rounds, _ in ROUTES.values() for r in rounds]
    assert len(all_rounds) == len(set(all_rounds))  # each route in rounds of its own


def _cli_backfill(ui, keys: list[str]) -> str:
    """`dagster job backfill` against the instance of the running `dagster dev`; the new backfill's id."""
    with instance_at(ui.home) as instance:
        before = {b.backfill_id for b in instance.get_backfills()}
    root = ui.home.parent
    env = os.environ | {
        "DAGSTER_HOME": str(ui.home),
        "ILMS_DATA_DIR": str(root),
        "ILMS_INBOX": str(root / "inbox"),
        "ILMS_WAREHOUSE": str(root / "warehouse.duckdb"),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "job",
            "backfill",
            "-w",
            str(PROJECT_ROOT / "workspace.yaml"),
            "-j",
            "ingest_submissions",
            "--partitions",
            ",".join(keys),
            "--noprompt",
        ],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with instance_at(ui.home) as instance:
        (new,) = [b.backfill_id for b in instance.get_backfills() if b.backfill_id not in before]
    return new


@pytest.fixture(scope="module")
def backfills(tmp_path_factory):
    """The four backfills on one `dagster dev`, launched together and waited for: {route: last status}."""
    root = tmp_path_factory.mktemp("routes")
    (root / "inbox").mkdir()  # empty: the bundled samples are used
    with dagster_dev(root) as ui:
        with instance_at(ui.home) as instance:
            keys = {route: ensure_partitions(instance, *ROUTES[route]) for route in ROUTES}
        assets = backfill_asset_keys(defs)
        ids = {
            "job_materialize_dialog": ui.launch_job_backfill(
                "ingest_submissions", keys["job_materialize_dialog"], assets
            ),
            "job_partitions_tab": ui.launch_job_backfill("ingest_submissions", keys["job_partitions_tab"]),
            "catalog": ui.launch_backfill(keys["catalog"], assets, title="catalog route"),
            "cli": _cli_backfill(ui, keys["cli"]),
        }
        statuses = {
            route: _wait_for_runs(ui, ui.wait_for_backfill(backfill_id, timeout=1200))
            for route, backfill_id in ids.items()
        }
        yield ui, statuses


RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}


def _wait_for_runs(ui, status: dict, timeout: float = 900) -> dict:
    """Until every run of the backfill has ended: a job backfill from the CLI is COMPLETED once its runs are
    submitted, while they may still be queued."""
    deadline = time.monotonic() + timeout
    while not all(run["status"] in RUN_DONE for run in status["runs"]):
        assert time.monotonic() < deadline, status
        time.sleep(2)
        status = ui.backfill(status["id"])
    return status


def _loaded(root) -> tuple[set[tuple[int, str]], dict[tuple[int, str], int]]:
    """(round, country) of raw.submissions and the ILMQ rows per partition, from the analysts' read copy (the
    models' automation may be writing the warehouse itself)."""
    deadline = time.monotonic() + 60
    while not (root / "warehouse_read.duckdb").exists() and time.monotonic() < deadline:
        time.sleep(1)
    with duckdb.connect(str(root / "warehouse_read.duckdb"), read_only=True) as conn:
        submissions = conn.execute("SELECT round, ref_area FROM raw.submissions").fetchall()
        union = " UNION ALL ".join(f"SELECT round, ref_area FROM ilmq.{t}" for t in TABLES)
        rows = conn.execute(f"SELECT round, ref_area, count(*) FROM ({union}) GROUP BY ALL").fetchall()
    assert len(submissions) == len(set(submissions))
    return set(submissions), {(r, c): n for r, c, n in rows}


def test_each_route_loads_exactly_the_selected_partitions_into_duckdb(backfills):
    ui, statuses = backfills
    root = ui.home.parent
    submissions, rows = _loaded(root)
    storage = IlmsStorage(data_dir=str(root), inbox_dir=str(root / "inbox"))
    for route, (rounds, _countries) in ROUTES.items():
        in_rounds = {(r, c) for r, c in submissions if str(r) in rounds}
        assert in_rounds == selected(route), (route, statuses[route]["runs"], ui.log_tail())  # all, and only them
        for round_, country in sorted(selected(route)):
            staged = StagedSubmission.load(storage, str(round_), country)
            assert rows.get((round_, country), 0) == sum(s["rows"] for s in staged.stats.values()) > 0, (
                route,
                round_,
                country,
            )
    assert submissions == set().union(*(selected(route) for route in ROUTES))  # nothing outside the selections
    assert {(r, c) for r, c in rows} == submissions


def test_dagster_records_the_selected_partitions_and_not_a_blocked_one_as_materialized(backfills):
    ui, _ = backfills
    with instance_at(ui.home) as instance:
        for route in ROUTES:
            blocked = blocked_in(route)
            ours = {key_of(r, c) for r, c in selected(route)}
            for table in sorted(set(sorted(TABLES)[:3]) | set(blocked.values())):
                materialized = set(instance.get_materialized_partitions(table_key(table))) & ours
                assert materialized == {key_of(r, c) for r, c in selected(route) if blocked.get((r, c)) != table}, (
                    route,
                    table,
                )
            submissions = set(instance.get_materialized_partitions(SUBMISSIONS_KEY)) & ours
            assert submissions == {key_of(r, c) for r, c in selected(route) - set(blocked)}, route


def test_a_blocked_partition_is_a_failed_blocking_check_and_fails_its_backfill(backfills):
    ui, statuses = backfills
    for route in ROUTES:
        status = statuses[route]
        # failed; a CLI job backfill ends COMPLETED once its runs are submitted
        assert status["status"] == ("COMPLETED" if route == "cli" else "COMPLETED_FAILED"), (route, status["status"])
        assert any(run["status"] == "FAILURE" for run in status["runs"]), route
        if status["assetBackfillData"]:  # the catalog route: counted per asset
            per_asset = {tuple(s["assetKey"]["path"]): s for s in status["assetBackfillData"]["assetBackfillStatuses"]}
            failed = per_asset[tuple(SUBMISSIONS_KEY.path)]["numPartitionsFailed"]
            assert failed == len(blocked_in(route)), route
        submission_checks = ui.check_partition_statuses(SUBMISSIONS_KEY, SUBMISSION_CHECK)
        for (round_, country), table in blocked_in(route).items():
            assert ui.check_partition_statuses(table_key(table), TABLE_CHECK).get(key_of(round_, country)) == "FAILED"
            assert submission_checks.get(key_of(round_, country)) == "FAILED", (route, round_, country)


def test_every_selected_partition_has_a_submission_check_status(backfills):
    """The UI shows a check's status where its evaluation targets the partition's latest materialization; the
    evaluations once named none, and every materialized partition showed no status (only blocked ones did)."""
    ui, _ = backfills
    with duckdb.connect(str(ui.home.parent / "warehouse_read.duckdb"), read_only=True) as conn:
        warned = set(
            conn.execute("SELECT round, ref_area FROM validation.partition_status WHERE warnings > 0").fetchall()
        )
    submission_checks = ui.check_partition_statuses(SUBMISSIONS_KEY, SUBMISSION_CHECK)
    for route in ROUTES:
        blocked = blocked_in(route)
        for r, c in selected(route):  # a warning fails a check too (severity WARN) without blocking
            expected = "FAILED" if (r, c) in blocked or (r, c) in warned else "SUCCEEDED"
            assert submission_checks.get(key_of(r, c)) == expected, (route, r, c, submission_checks.get(key_of(r, c)))


PARTITION_STATS = """query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode {
  partitionStats { numMaterialized numFailed numMaterializing numPartitions } } } }"""


def test_a_blocked_partition_is_failed_on_its_assets_partitions_tab_and_the_others_materialized(backfills):
    """What the asset's own Partitions tab reads (its partition stats through the UI's GraphQL), and Dagster's
    status of each partition: every blocked (round, country) is FAILED for its table and for raw/submissions,
    never "missing"; every other selected partition MATERIALIZED."""
    from ilms_dagster.partitions import submission_partitions

    ui, _ = backfills
    blocked = {pair: table for route in ROUTES for pair, table in blocked_in(route).items()}
    everything = set().union(*(selected(route) for route in ROUTES))
    with instance_at(ui.home) as instance:
        for key in sorted({table_key(t) for t in blocked.values()} | {SUBMISSIONS_KEY}, key=str):
            failed = {pair for pair, table in blocked.items() if key in (table_key(table), SUBMISSIONS_KEY)}
            stats = ui.graphql(PARTITION_STATS, {"path": key.path})["assetNodeOrError"]["partitionStats"]
            assert (stats["numFailed"], stats["numMaterialized"]) == (len(failed), len(everything - failed)), (
                key,
                stats,
            )
            status = instance.get_status_by_partition(key, [key_of(r, c) for r, c in everything], submission_partitions)
            assert {k: v.value for k, v in status.items()} == {
                key_of(r, c): "FAILED" if (r, c) in failed else "MATERIALIZED" for r, c in everything
            }, key
