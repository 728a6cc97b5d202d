"""The SQL models on small hand-made inputs, compared with figures worked out by hand.

Rows go straight into a real DuckDB warehouse file (ilmq tables from ensure_schema, validation.partition_status
created here with the schema agreed with the checks), then every model of dbt_like_sql/ is built.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from ilms_dagster.models.build import build_all
from ilms_dagster.models.discovery import discover
from ilms_dagster.registry import REPORTING_COUNTRIES, TABLES, open_rounds, reference_years
from ilms_dagster.resources.warehouse import ensure_schema

# The quarantine contract, typed out by hand: the checks own this table.
PARTITION_STATUS = """
CREATE SCHEMA IF NOT EXISTS validation;
CREATE TABLE IF NOT EXISTS validation.partition_status (round INTEGER, ref_area VARCHAR, submission_sha256 VARCHAR,
    errors INTEGER, warnings INTEGER, checked_at TIMESTAMP)"""

F, N, T = "FOREIGN", "NATIVE", "TOTAL"  # CBR_BIR_* migratory status columns


class Warehouse:
    """A warehouse file with hand-typed ILMQ values, submissions and check results."""

    def __init__(self, path: Path):
        self.conn = duckdb.connect(str(path))
        ensure_schema(self.conn)
        self.conn.execute(PARTITION_STATUS)

    def values(self, table: str, country: str, round_: int, rows, sha: str | None = None) -> None:
        """rows: (year, classif1, sex, classif2, value); classif2 may be short (FOREIGN -> CBR_BIR_FOREIGN);
        a value '..' or 'x' is a marker (no value, a note)."""
        spec = TABLES[table]
        for year, classif1, sex, classif2, value in rows:
            if classif2 in (F, N, T):
                classif2 = f"CBR_BIR_{classif2}"
            indicator = spec.indicator.format(basis=classif2.split("_")[0]) if classif2 else spec.indicator
            note = {"..": "not available", "x": "confidential"}.get(value)
            self.conn.execute(
                "INSERT INTO ilmq." + table + " (ref_area, round, indicator, source, sex, classif1, classif2, time,"
                " obs_value, note, cell, submission_sha256) VALUES (?, ?, ?, 'BA:LFS', ?, ?, ?, ?, ?, ?, 'C11', ?)",
                [
                    country,
                    round_,
                    indicator,
                    sex,
                    classif1,
                    classif2,
                    year,
                    None if note else value,
                    note,
                    sha or f"{country}{round_}",
                ],
            )

    def submitted(
        self,
        country: str,
        round_: int,
        sha: str | None = None,
        on: date | None = None,
        received: datetime = datetime(2030, 1, 1),
    ) -> None:
        self.conn.execute(
            "INSERT INTO raw.submissions (sha256, round, ref_area, original_name, size_bytes, received_at, archive_path,"
            " submission_date) VALUES (?, ?, ?, 'x.xlsx', 1, ?, 'archive/x.xlsx', ?)",
            [sha or f"{country}{round_}", round_, country, received, on],
        )

    def checked(
        self, country: str, round_: int, errors: int = 0, sha: str | None = None, at: datetime = datetime(2030, 1, 1)
    ) -> None:
        self.conn.execute(
            "INSERT INTO validation.partition_status VALUES (?, ?, ?, ?, 0, ?)",
            [round_, country, sha or f"{country}{round_}", errors, at],
        )

    def accepted(self, country: str, round_: int, tables: dict[str, list], **submitted) -> None:
        """A partition received and passing the checks, with its values."""
        for table, rows in tables.items():
            self.values(table, country, round_, rows)
        self.submitted(country, round_, **submitted)
        self.checked(country, round_)

    def build(self) -> None:
        build_all(self.conn, discover())

    def rows(self, sql: str, params=None) -> list[tuple]:
        return self.conn.execute(sql, params or []).fetchall()

    def one(self, sql: str, params=None) -> dict:
        cursor = self.conn.execute(sql, params or [])
        rows = cursor.fetchall()
        assert len(rows) == 1, rows
        return dict(zip([d[0] for d in cursor.description], rows[0]))


@pytest.fixture
def wh(tmp_path):
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    yield warehouse
    warehouse.conn.close()


def test_only_partitions_accepted_by_the_checks_feed_the_models(wh):
    value = {"emp_by_age": [(2023, "AGE_AGGREGATE_TOTAL", "SEX_T", F, 10.0)]}
    wh.accepted("THA", 2024, value)
    wh.values("emp_by_age", "SGP", 2024, value["emp_by_age"])
    wh.checked("SGP", 2024, errors=2)  # blocking errors
    wh.values("emp_by_age", "MYS", 2024, value["emp_by_age"], sha="new")
    wh.checked("MYS", 2024, sha="old")  # the check passed an earlier submission, not the one loaded
    wh.values("emp_by_age", "PHL", 2024, value["emp_by_age"])  # never checked
    wh.values("emp_by_age", "VNM", 2024, value["emp_by_age"])
    wh.checked("VNM", 2024, at=datetime(2030, 1, 1))
    wh.checked("VNM", 2024, errors=1, at=datetime(2030, 1, 2))  # the latest check found an error
    wh.values("emp_by_age", "LAO", 2024, value["emp_by_age"])
    wh.checked("LAO", 2024, errors=3, at=datetime(2030, 1, 1))
    wh.checked("LAO", 2024, at=datetime(2030, 1, 2))  # fixed and re-checked
    wh.build()

    assert wh.rows("SELECT ref_area FROM staging.accepted_partitions ORDER BY 1") == [("LAO",), ("THA",)]
    assert wh.rows("SELECT DISTINCT ref_area FROM staging.ilmq_accepted ORDER BY 1") == [("LAO",), ("THA",)]
    assert wh.rows("SELECT ref_area FROM marts.stocks ORDER BY 1") == [("LAO",), ("THA",)]


def test_an_error_quarantines_the_table_it_names_not_the_partition_until_a_review_accepts_it(wh):
    emp = [(2023, "AGE_AGGREGATE_TOTAL", "SEX_T", F, 10.0)]
    wh.values("emp_by_age", "THA", 2024, emp)
    wh.values("lf_by_age", "THA", 2024, [(2023, "AGE_AGGREGATE_TOTAL", "SEX_T", F, 12.0)])
    wh.submitted("THA", 2024)
    wh.checked("THA", 2024, errors=1)
    wh.conn.execute(
        "INSERT INTO validation.findings VALUES (2024, 'THA', 'THA2024', 'emp_by_age', 'emp_by_age', 'C11',"
        " 'validation', 'sex_total', 'error', '9.000', '10.000', 'SEX_T is not M + F', '2030-01-01')"
    )
    wh.build()
    assert wh.rows("SELECT table_id FROM staging.accepted_tables") == [("lf_by_age",)]
    assert wh.rows("SELECT DISTINCT table_id FROM staging.ilmq_accepted") == [("lf_by_age",)]
    assert wh.rows("SELECT count(*) FROM staging.accepted_partitions") == [(0,)]

    from ilms_dagster.checks.reviews import Review, accept

    accepted = accept(wh.conn, Review(2024, "THA", "emp_by_age", "sex_total", "C11", "published so", "a reviewer"))
    assert list(accepted.cell) == ["C11"]
    wh.build()
    assert wh.rows("SELECT table_id FROM staging.accepted_tables ORDER BY 1") == [("emp_by_age",), ("lf_by_age",)]
    assert wh.rows("SELECT ref_area, errors FROM staging.accepted_partitions") == [("THA", 0)]
    assert wh.rows("SELECT reason, reviewer, found FROM validation.reviews") == [
        ("published so", "a reviewer", "10.000")
    ]


def test_every_vintage_is_kept_and_latest_takes_the_most_recent_round_that_reported_the_value(wh):
    total, young = "AGE_AGGREGATE_TOTAL", "AGE_AGGREGATE_Y15-24"
    wh.accepted(
        "THA",
        2023,
        {
            "emp_by_age": [
                (2020, total, "SEX_T", F, 90.0),
                (2021, total, "SEX_T", F, 100.0),
                (2021, young, "SEX_T", F, 20.0),
                (2022, total, "SEX_T", F, 105.0),
            ]
        },
    )
    wh.accepted(
        "THA",
        2024,
        {
            "emp_by_age": [
                (2021, total, "SEX_T", F, 110.0),
                (2022, total, "SEX_T", F, 120.0),
                (2021, young, "SEX_T", F, "x"),
            ]
        },
    )
    wh.build()

    # 2021 total: reported by 2023 (100) and revised by 2024 (110): latest 110, revision +10.
    assert wh.rows(
        "SELECT round, obs_value, vintage_rank, previous_value, revision FROM staging.vintages"
        " WHERE time = 2021 AND classif1 = ? ORDER BY round",
        [total],
    ) == [(2023, 100.0, 2, None, None), (2024, 110.0, 1, 100.0, 10.0)]
    latest = {
        (r[0], r[1]): r[2:]
        for r in wh.rows("SELECT time, classif1, round, obs_value, note, vintages, previous_value FROM staging.latest")
    }
    assert latest[(2020, total)] == (2023, 90.0, None, 1, None)  # only 2023 asked for 2020: its value stays
    assert latest[(2021, total)] == (2024, 110.0, None, 2, 100.0)
    assert latest[(2022, total)] == (2024, 120.0, None, 2, 105.0)
    # 2024 marked the cell confidential: the older number is not published.
    assert latest[(2021, young)] == (2024, None, "confidential", 2, 20.0)
    assert wh.rows("SELECT count(*) FROM staging.vintages") == [(7,)]
    assert wh.rows("SELECT time, migrant_workers_thousands, vintage_round FROM marts.stocks ORDER BY time") == [
        (2020, 90.0, 2023),
        (2021, 110.0, 2024),
        (2022, 120.0, 2024),
    ]


def test_stocks_shares_rates_female_share_and_earnings_gap(wh):
    total = "AGE_AGGREGATE_TOTAL"
    y = 2023
    wh.accepted(
        "THA",
        2024,
        {
            "wap_by_age": [
                (y, total, "SEX_T", N, 50000),
                (y, total, "SEX_T", F, 4000),
                (y, total, "SEX_T", T, 54100),
                (y, "AGE_AGGREGATE_Y15-24", "SEX_T", F, 999),
            ],  # not a total row: ignored
            "lf_by_age": [(y, total, "SEX_T", N, 34000), (y, total, "SEX_T", F, 3200), (y, total, "SEX_T", T, 37250)],
            "emp_by_age": [
                (y, total, "SEX_T", N, 33000),
                (y, total, "SEX_T", F, 3000),
                (y, total, "SEX_T", T, 36100),
                (y, total, "SEX_F", F, 1200),
            ],
            "unemp_by_age": [(y, total, "SEX_T", N, 1000), (y, total, "SEX_T", F, 200)],
            "earnings_employees": [(y, "CUR_TYPE_LCU", "SEX_T", N, 20000), (y, "CUR_TYPE_LCU", "SEX_T", F, 15000)],
            # the by-activity total disagrees, but employment comes from the by-age table first
            "emp_by_activity": [(y, "ECO_SECTOR_TOTAL", "SEX_T", F, 2990)],
        },
    )
    # KHM reports employment only by activity: its totals are used.
    wh.accepted(
        "KHM",
        2024,
        {"emp_by_activity": [(y, "ECO_SECTOR_TOTAL", "SEX_T", F, 40), (y, "ECO_SECTOR_TOTAL", "SEX_T", T, 10000)]},
    )
    # MYS reports by citizenship only.
    wh.accepted(
        "MYS",
        2024,
        {
            "emp_by_status": [
                (y, "STE_AGGREGATE_TOTAL", "SEX_T", "CCT_CIT_NONCIT", 2000),
                (y, "STE_AGGREGATE_TOTAL", "SEX_T", "CCT_CIT_TOTAL", 16000),
            ]
        },
    )
    wh.build()

    tha = wh.one("SELECT * FROM marts.stocks WHERE ref_area = 'THA' AND sex = 'SEX_T'")
    assert tha["basis"] == "CBR" and tha["migrants"] == "foreign-born"
    assert tha["migrant_workers_thousands"] == 3000 and tha["employment_thousands"] == 36100
    assert tha["migrant_share_of_employment_pct"] == pytest.approx(8.310249)  # 3000 / 36100
    assert tha["migrant_share_of_labour_force_pct"] == pytest.approx(8.590604)  # 3200 / 37250
    assert tha["female_share_of_migrant_workers_pct"] == pytest.approx(40.0)  # 1200 / 3000
    assert tha["lfpr_migrants_pct"] == pytest.approx(80.0)  # 3200 / 4000
    assert tha["lfpr_nonmigrants_pct"] == pytest.approx(68.0)  # 34000 / 50000
    assert tha["epr_migrants_pct"] == pytest.approx(75.0)  # 3000 / 4000
    assert tha["epr_nonmigrants_pct"] == pytest.approx(66.0)  # 33000 / 50000
    assert tha["ur_migrants_pct"] == pytest.approx(6.25)  # 200 / 3200
    assert tha["ur_nonmigrants_pct"] == pytest.approx(2.941176)  # 1000 / 34000
    assert tha["earnings_gap_pct"] == pytest.approx(25.0)  # (20000 - 15000) / 20000
    tha_f = wh.one("SELECT * FROM marts.stocks WHERE ref_area = 'THA' AND sex = 'SEX_F'")
    assert tha_f["migrant_workers_thousands"] == 1200 and tha_f["female_share_of_migrant_workers_pct"] is None

    khm = wh.one("SELECT * FROM marts.stocks WHERE ref_area = 'KHM'")
    assert khm["migrant_share_of_employment_pct"] == pytest.approx(0.4)  # 40 / 10000
    assert khm["lfpr_migrants_pct"] is None  # no labour force reported
    mys = wh.one("SELECT * FROM marts.stocks WHERE ref_area = 'MYS'")
    assert (mys["basis"], mys["migrants"]) == ("CCT", "non-citizens")
    assert mys["migrant_share_of_employment_pct"] == pytest.approx(12.5)  # 2000 / 16000


def test_employment_structure_distribution_and_migrant_share(wh):
    y = 2023
    wh.accepted(
        "THA",
        2024,
        {
            "emp_by_activity": [
                (y, "ECO_SECTOR_TOTAL", "SEX_T", F, 3000),
                (y, "ECO_SECTOR_TOTAL", "SEX_T", N, 33000),
                (y, "ECO_SECTOR_TOTAL", "SEX_T", T, 36100),
                (y, "ECO_SECTOR_AGR", "SEX_T", F, 1050),
                (y, "ECO_SECTOR_AGR", "SEX_T", N, 9900),
                (y, "ECO_SECTOR_AGR", "SEX_T", T, 10980),
                (y, "ECO_AGGREGATE_CON", "SEX_T", F, 600),
            ]
        },
    )
    wh.build()

    agr = wh.one("SELECT * FROM marts.employment_structure WHERE classif1 = 'ECO_SECTOR_AGR'")
    assert (agr["breakdown"], agr["code_list"], agr["category"]) == ("economic_activity", "ECO_SECTOR", "Agriculture")
    assert agr["migrant_distribution_pct"] == pytest.approx(35.0)  # 1050 / 3000
    assert agr["nonmigrant_distribution_pct"] == pytest.approx(30.0)  # 9900 / 33000
    assert agr["migrant_share_pct"] == pytest.approx(9.562842)  # 1050 / 10980
    con = wh.one("SELECT * FROM marts.employment_structure WHERE classif1 = 'ECO_AGGREGATE_CON'")
    assert con["code_list"] == "ECO_AGGREGATE" and con["migrant_distribution_pct"] == pytest.approx(20.0)  # 600/3000
    assert con["migrant_share_pct"] is None  # no all-status total for construction
    total = wh.one("SELECT * FROM marts.employment_structure WHERE is_total")
    assert total["migrant_distribution_pct"] == 100.0 and total["position"] == 1


def test_flows_shares_of_total_and_female_shares(wh):
    y = 2023
    wh.accepted(
        "PHL",
        2024,
        {
            "outflow_by_activity": [
                (y, "ECO_SECTOR_TOTAL", "SEX_T", None, 2000),
                (y, "ECO_SECTOR_TOTAL", "SEX_F", None, 1100),
                (y, "ECO_SECTOR_TOTAL", "SEX_M", None, 900),
                (y, "ECO_SECTOR_SER", "SEX_T", None, 1500),
                (y, "ECO_SECTOR_SER", "SEX_F", None, 1000),
                (y, "ECO_SECTOR_AGR", "SEX_T", None, "x"),
            ]
        },
    )
    wh.accepted("THA", 2024, {"inflow_by_occupation": [(y, "OCU_SKILL_TOTAL", "SEX_T", None, 100)]})
    wh.build()

    flows = {
        (r[0], r[1], r[2]): r[3:]
        for r in wh.rows(
            "SELECT ref_area, classif1, sex, flow, value_thousands, pct_of_total, female_share_pct FROM marts.flows"
        )
    }
    assert flows[("PHL", "ECO_SECTOR_SER", "SEX_T")] == pytest.approx(
        ("outflow", 1500, 75.0, 66.666667)
    )  # 1500/2000, 1000/1500
    assert flows[("PHL", "ECO_SECTOR_SER", "SEX_F")][2] == pytest.approx(90.909091)  # 1000 / 1100 (women's total)
    assert flows[("PHL", "ECO_SECTOR_TOTAL", "SEX_T")] == pytest.approx(("outflow", 2000, 100.0, 55.0))  # 1100/2000
    assert flows[("PHL", "ECO_SECTOR_TOTAL", "SEX_M")][3] is None  # female share only on SEX_T rows
    assert ("PHL", "ECO_SECTOR_AGR", "SEX_T") not in flows  # confidential: no value
    assert flows[("THA", "OCU_SKILL_TOTAL", "SEX_T")][:3] == ("inflow", 100, 100.0)


def test_returnees_and_return_ratio_against_outflows(wh):
    y = 2023
    wh.accepted(
        "KHM",
        2024,
        {
            "returns_by_previous_residence": [
                (y, "CPR_PRV_TOTAL", "SEX_T", None, 60),
                (y, "CPR_PRV_THA", "SEX_T", None, 45),
                (y, "CPR_PRV_KOR", "SEX_T", None, 5),
            ],
            "outflow_by_destination": [(y, "CDS_DES_TOTAL", "SEX_T", None, 100), (y, "CDS_DES_THA", "SEX_T", None, 75)],
        },
    )
    wh.build()

    rows = wh.rows(
        "SELECT partner, partner_name, returnees_thousands, outflows_thousands, return_ratio_pct"
        " FROM marts.returnees ORDER BY returnees_thousands DESC"
    )
    assert rows == [
        ("TOTAL", "Total", 60, 100, pytest.approx(60.0)),  # 60 / 100
        ("THA", "Thailand", 45, 75, pytest.approx(60.0)),  # 45 / 75
        ("KOR", "Republic of Korea", 5, None, None),
    ]  # no outflow to KOR reported


def test_corridors_combine_origin_and_destination_reports_with_the_mirror_discrepancy(wh):
    y, t = 2023, "SEX_T"
    wh.accepted(
        "KHM",
        2024,
        {
            "outflow_by_destination": [
                (y, "CDS_DES_TOTAL", t, None, 105),
                (y, "CDS_DES_THA", t, None, 80),
                (y, "CDS_DES_MYS", t, None, 5),
                (y, "CDS_DES_KOR", t, None, 12),
                (y, "CDS_DES_JPN", t, None, 6),
                (y, "CDS_DES_X", t, None, 2),
                (y, "CDS_DES_THA", "SEX_M", None, 50),
            ],  # other sexes are ignored
            "nationals_abroad_by_residence": [(y, "CRS_RES_THA", t, None, 1100)],
        },
    )
    wh.accepted(
        "THA",
        2024,
        {
            "inflow_by_citizenship": [
                (y, "CCT_CTZ_KHM", t, None, 50),
                (y, "CCT_CTZ_MMR", t, None, 70),
                (y, "CCT_CTZ_CHN", t, None, 7),
                (y, "CCT_CTZ_X", t, None, 3),
            ],
            # by birth only where there is no citizenship figure: KHM is taken by citizenship, LAO by birth
            "inflow_by_birth_country": [(y, "CBR_BRT_KHM", t, None, 55), (y, "CBR_BRT_LAO", t, None, 20)],
        },
    )
    wh.accepted("MYS", 2024, {"inflow_by_citizenship": [(y, "CCT_CTZ_KHM", t, None, 4)]})
    wh.accepted("PHL", 2024, {"outflow_by_destination": [(y, "CDS_DES_SGP", t, None, 10)]})
    wh.accepted("SGP", 2024, {"inflow_by_citizenship": [(y, "CCT_CTZ_PHL", t, None, 25)]})
    wh.build()

    got = {
        (r[0], r[1]): r[2:]
        for r in wh.rows(
            "SELECT origin, destination, origin_reported_thousands, destination_reported_thousands, destination_basis,"
            " mirror_discrepancy_thousands, mirror_discrepancy_pct, nationals_abroad_thousands FROM marts.corridors"
        )
    }
    assert got == {
        ("KHM", "THA"): (80, 50, "citizenship", 30, pytest.approx(37.5), 1100),  # 80 - 50; 30 / max(80, 50)
        ("KHM", "MYS"): (5, 4, "citizenship", 1, pytest.approx(20.0), None),  # 5 - 4; 1 / 5
        ("KHM", "ROW"): (20, None, None, None, None, None),  # KOR 12 + JPN 6 + X 2
        ("MMR", "THA"): (None, 70, "citizenship", None, None, None),  # MMR did not report
        ("LAO", "THA"): (None, 20, "birth", None, None, None),
        ("ROW", "THA"): (None, 10, "citizenship", None, None, None),  # CHN 7 + X 3
        ("PHL", "SGP"): (10, 25, "citizenship", -15, pytest.approx(-60.0), None),  # 10 - 25; -15 / max(10, 25)
    }
    assert wh.rows("SELECT origin_name, destination_name FROM marts.corridors WHERE origin = 'ROW'") == [
        ("Rest of the world", "Thailand")
    ]


def test_completeness_by_country_table_family_round_and_overall(wh):
    total = "AGE_AGGREGATE_TOTAL"
    # Round 2023 asks for 2020-2022, round 2024 for 2021-2023, ... up to the current round: the overall grid is
    # 10 countries x 24 tables x the years of rounds 2023..current; each round's grid is 10 x 24 x 3 = 720.
    rounds = [r for r in open_rounds() if r >= "2023"]
    years = len({y for r in rounds for y in reference_years(r)})
    wh.accepted("THA", 2023, {"emp_by_age": [(2020, total, "SEX_T", F, 1.0), (2021, total, "SEX_M", N, 2.0)]})
    wh.accepted(
        "THA",
        2024,
        {
            "emp_by_age": [
                (2021, total, "SEX_T", F, 1.5),
                (2022, total, "SEX_T", F, 1.0),
                (2023, total, "SEX_T", T, 1.0),
            ],
            "unemp_by_age": [(2023, total, "SEX_T", F, 0)],  # an explicit zero is data: filled
            "lf_by_age": [(2023, total, "SEX_T", F, "..")],  # a marker is not: empty
            "inflow_by_activity": [(2023, "ECO_SECTOR_AGR", "SEX_T", None, 5.0)],  # no total row: empty
        },
    )
    wh.accepted("KHM", 2023, {"outflow_by_destination": [(2022, "CDS_DES_TOTAL", "SEX_T", None, 100.0)]})
    wh.values("outflow_by_destination", "KHM", 2024, [(2023, "CDS_DES_TOTAL", "SEX_T", None, 110.0)])
    wh.submitted("KHM", 2024)
    wh.checked("KHM", 2024, errors=1)  # quarantined: does not count
    wh.build()

    def pct(level, **where):
        cond = " AND ".join([f"level = '{level}'"] + [f"{k} = ?" for k in where])
        return wh.rows(
            f"SELECT filled_cells, expected_cells, completeness_pct FROM marts.completeness WHERE {cond}",
            list(where.values()),
        )

    # Filled (country, table, year): THA emp_by_age 2020, 2021, 2022, 2023; THA unemp_by_age 2023; KHM outflow 2022.
    grid = 10 * 24 * years
    assert pct("overall") == [(6, grid, pytest.approx(600 / grid))]
    assert pct("country", ref_area="THA") == [(5, 24 * years, pytest.approx(500 / (24 * years)))]
    assert pct("country", ref_area="KHM") == [(1, 24 * years, pytest.approx(100 / (24 * years)))]
    assert pct("country", ref_area="BRN") == [(0, 24 * years, 0.0)]  # never submitted: still expected
    assert pct("table", table_id="emp_by_age") == [(4, 10 * years, pytest.approx(400 / (10 * years)))]
    assert pct("table", table_id="lf_by_age") == [(0, 10 * years, 0.0)]
    stock_tables = sum(t.family == "stock" for t in TABLES.values())
    assert pct("family", family="stock") == [
        (5, stock_tables * 10 * years, pytest.approx(500 / (stock_tables * 10 * years)))
    ]
    assert pct("family", family="outflow") == [(1, 40 * years, pytest.approx(100 / (40 * years)))]  # 4 outflow tables
    # A round counts what its own accepted submissions filled, so it does not drift as other rounds load.
    # Round 2023 (years 2020-2022): THA emp 2020, 2021 and KHM outflow 2022 -> 3 / 720.
    assert pct("round", round=2023) == [(3, 720, pytest.approx(0.416667))]
    # Round 2024 (2021-2023): THA emp 2021-2023 and unemp 2023; KHM's 2024 submission is quarantined -> 4 / 720.
    assert pct("round", round=2024) == [(4, 720, pytest.approx(0.555556))]
    assert pct("country_round", round=2024, ref_area="THA") == [(4, 72, pytest.approx(5.555556))]
    assert pct("country_round", round=2024, ref_area="KHM") == [(0, 72, 0.0)]
    assert pct("round", round=int(rounds[-1])) == [(0, 720, 0.0)]  # the current round: nothing received yet
    assert wh.rows("SELECT count(*) FROM marts.completeness_grid") == [(720 * len(rounds),)]
    assert wh.rows(
        "SELECT submitted, accepted, filled_in_round, filled_by_round FROM marts.completeness_grid"
        " WHERE (round, ref_area, table_id, time) = (2024, 'KHM', 'outflow_by_destination', 2022)"
    ) == [(True, False, False, True)]
    levels = {r[0] for r in wh.rows("SELECT DISTINCT level FROM marts.completeness")}
    assert levels == {"overall", "country", "family", "table", "round", "country_round", "family_round"}
    assert wh.rows("SELECT count(*) FROM marts.completeness WHERE level = 'country'") == [(len(REPORTING_COUNTRIES),)]


def test_timeliness_against_the_round_deadline(wh):
    # lateness is on the day received; the date typed on the Metadata sheet is shown beside it
    wh.accepted("THA", 2024, {}, on=date(2024, 9, 1), received=datetime(2024, 9, 21, 8))
    wh.submitted("KHM", 2024, sha="k1", received=datetime(2024, 10, 15, 10, 30))  # no date on the Metadata sheet
    wh.submitted("KHM", 2024, sha="k2", on=date(2024, 9, 29), received=datetime(2024, 11, 2))  # a resubmission
    wh.checked("KHM", 2024, sha="k2", errors=1)
    wh.submitted("NPL", 2024, received=datetime(2024, 9, 2))  # a country beyond the registry's ten
    wh.build()

    rows = {
        r[0]: r[1:]
        for r in wh.rows(
            "SELECT ref_area, deadline, first_submission_date, last_submission_date, declared_submission_date,"
            " submissions, days_late, status, accepted FROM marts.timeliness WHERE round = 2024"
        )
    }
    deadline = date(2024, 9, 30)
    assert rows["THA"] == (deadline, date(2024, 9, 21), date(2024, 9, 21), date(2024, 9, 1), 1, -9, "on time", True)
    assert rows["KHM"] == (
        deadline,
        date(2024, 10, 15),
        date(2024, 11, 2),
        None,
        2,
        15,
        "late",
        False,
    )  # Oct 15 - Sep 30
    overdue = (date.today() - deadline).days  # nothing received: the days since the deadline
    assert rows["BRN"] == (deadline, None, None, None, 0, overdue, "not submitted", False)
    assert rows["NPL"][5:7] == (-28, "on time")
    assert len(rows) == len(REPORTING_COUNTRIES) + 1
    # every round up to the current one is tracked: a round whose deadline has passed with nothing received is
    # overdue for every country, an open one not yet due
    current = open_rounds()[-1]
    statuses = {r[0] for r in wh.rows(f"SELECT DISTINCT status FROM marts.timeliness WHERE round = {current}")}
    assert statuses == ({"not submitted"} if date.today() > date(int(current), 9, 30) else {"not yet due"})
