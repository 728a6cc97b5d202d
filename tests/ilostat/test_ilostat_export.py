"""Export of a round as ILOSTAT bulk CSV and SDMX-CSV (Dagster assets and `ilms export-ilostat`), on the real
published rows of ../shared/ilostat-sample and on a submitted round: export -> import gives the same
observations, and pysdmx re-reads the SDMX-CSV with the same observations."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from typer.testing import CliRunner

from ilms_dagster.assets.ilostat_files import ilostat_bulk_csv, sdmx_csv
from ilms_dagster.assets.sql_models import MODEL_ASSETS
from ilms_dagster.cli import app
from ilms_dagster.ilostat.export import DIMENSIONS, read_sdmx_csv
from ilms_dagster.ilostat.imports import COLUMNS, read_file
from tests.ilostat.test_ilostat import FILES, import_and_build, query, resources

runner = CliRunner()
OBS = ["ref_area", "indicator", "sex", "classif1", "classif2", "time", "obs_value", "obs_status", "note", "source"]


def latest(root: Path, round_: int | None = None) -> list[tuple]:
    """What staging.latest holds (or held as of a round), as comparable tuples, values to 0.001."""
    frame = query(
        root,
        f"SELECT {', '.join(OBS)} FROM staging.vintages WHERE round <= ? AND obs_value IS NOT NULL"
        " QUALIFY row_number() OVER (PARTITION BY table_id, ref_area, indicator, sex, classif1,"
        " classif2, time ORDER BY round DESC) = 1",
        [round_ or 9999],
    )
    return observations(frame)


def observations(frame: pd.DataFrame) -> list[tuple]:
    frame = frame[OBS].astype(object).where(frame[OBS].notna(), None)
    return sorted((*r[:6], round(r[6], 3), *r[7:]) for r in frame.itertuples(index=False, name=None))


@pytest.fixture(scope="module")
def exported(tmp_path_factory, ilostat_sample) -> tuple[Path, dg.ExecuteInProcessResult]:
    root = tmp_path_factory.mktemp("export")
    assert import_and_build(root).success
    result = dg.materialize([ilostat_bulk_csv, sdmx_csv], partition_key="2024", resources=resources(root))
    assert result.success
    return root, result


def test_export_assets_write_one_file_per_indicator_with_ilostat_columns(exported):
    root, result = exported
    out = root / "exports" / "2024"
    names = sorted(p.name for p in (out / "ilostat").iterdir())
    assert names == sorted(f.name for f in FILES)
    assert sorted(p.name for p in (out / "sdmx").iterdir()) == [f"DF_{n}" for n in names]
    flows = pd.read_csv(out / "ilostat" / "MNA_OEMP_SEX_ECO_NB.csv", dtype=str, keep_default_na=False)
    assert list(flows.columns) == [c for c in COLUMNS if c != "classif2"]  # one breakdown: no classif2
    stock = pd.read_csv(out / "ilostat" / "MST_TEMP_SEX_ECO_CBR_NB.csv", dtype=str, keep_default_na=False)
    assert list(stock.columns) == list(COLUMNS)
    row = stock[
        (stock.ref_area == "THA")
        & (stock.time == "2024")
        & (stock.sex == "SEX_T")
        & (stock.classif1 == "ECO_SECTOR_TOTAL")
        & (stock.classif2 == "CBR_BIR_TOTAL")
    ]
    assert row.obs_value.tolist() == ["40106.114"]  # thousands, as published (sample README)
    meta = result.asset_materializations_for_node("exports__ilostat_bulk_csv")[0].metadata
    assert meta["observations"].value == 3433


def test_export_then_import_gives_the_same_observations(exported, tmp_path):
    root, _ = exported
    files = sorted((root / "exports" / "2024" / "ilostat").glob("*.csv"))
    assert import_and_build(tmp_path, files).success  # a fresh warehouse fed only the export
    assert latest(tmp_path) == latest(root) and len(latest(root)) == 3433
    assert sum(read_file(f).rows_loaded for f in files) == 3433  # nothing of the export left out on import


def test_sdmx_csv_re_read_by_pysdmx_gives_the_same_observations(exported):
    root, _ = exported
    want = {}
    for r in latest(root):
        want.setdefault(f"Dataflow=ILO:DF_{r[1]}(1.0)", []).append(r)
    got = {}
    for path in sorted((root / "exports" / "2024" / "sdmx").glob("*.csv")):
        for urn, frame in read_sdmx_csv(path).items():
            assert list(frame.columns[:5]) == list(DIMENSIONS)
            indicator = urn.split(":DF_")[1].split("(")[0]
            got[urn] = observations(
                pd.DataFrame(
                    {
                        "ref_area": frame.REF_AREA,
                        "indicator": indicator,
                        "sex": frame.SEX,
                        "classif1": frame.CLASSIF1,
                        "classif2": frame.CLASSIF2.replace("_Z", None),
                        "time": frame.TIME_PERIOD.astype(int),
                        "obs_value": frame.OBS_VALUE.astype(float),
                        "obs_status": frame.OBS_STATUS.replace("", None),
                        "note": None,
                        "source": frame.SOURCE,
                    }
                )
            )
    assert got == {urn: sorted(rows) for urn, rows in want.items()}


@pytest.mark.usefixtures("ilostat_sample")
def test_a_submitted_round_is_exported_with_status_and_notes_and_round_trips(project):
    """A round's submission over the published history; a published value with a status and notes. The
    export of round 2021 carries the submitted values, that of 2020 the published ones; both round-trip."""
    cbr = next(f for f in FILES if f.stem == "MST_TEMP_SEX_ECO_CBR_NB")
    noted = project.root / "noted.csv"
    noted.write_text(
        "ref_area,source,indicator,sex,classif1,time,obs_value,obs_status,note_indicator,note_source\n"
        "PHL,BA:42,MNA_OEMP_SEX_ECO_NB,SEX_T,ECO_SECTOR_TOTAL,1999,12.345,B,T9:2104,R1:3902\n"
    )
    assert import_and_build(project.root, [cbr, noted]).success
    assert project.materialize("2021", "THA").success
    assert dg.materialize(MODEL_ASSETS, resources=project.resources).success
    for round_ in ("2020", "2021"):
        out = project.root / "out" / round_
        done = runner.invoke(app, ["export-ilostat", "--round", round_, "--out", str(out)])
        assert done.exit_code == 0, done.output
        assert f"Round {round_}: " in done.output
        phl = pd.read_csv(out / "ilostat" / "MNA_OEMP_SEX_ECO_NB.csv", dtype=str, keep_default_na=False)
        assert phl[phl.ref_area == "PHL"][
            ["source", "obs_value", "obs_status", "note_indicator", "note_source"]
        ].values.tolist() == [["BA:42", "12.345", "B", "T9:2104", "R1:3902"]]
        sdmx = read_sdmx_csv(out / "sdmx" / "DF_MNA_OEMP_SEX_ECO_NB.csv")["Dataflow=ILO:DF_MNA_OEMP_SEX_ECO_NB(1.0)"]
        assert sdmx[sdmx.REF_AREA == "PHL"][["OBS_STATUS", "NOTE_INDICATOR", "NOTE_SOURCE"]].values.tolist() == [
            ["B", "T9:2104", "R1:3902"]
        ]
        fresh = project.root / f"fresh{round_}"
        assert import_and_build(fresh, sorted((out / "ilostat").glob("*.csv"))).success
        assert latest(fresh) == latest(project.root, int(round_))
    key = (
        "ref_area = 'THA' AND indicator = 'MST_TEMP_SEX_ECO_CBR_NB' AND sex = 'SEX_T' AND classif1 = "
        "'ECO_SECTOR_TOTAL' AND classif2 = 'CBR_BIR_TOTAL' AND time = 2019"
    )
    submitted, published = (
        project.query(f"SELECT obs_value FROM ilmq.emp_by_activity WHERE round = {r} AND {key}")[0][0]
        for r in (2021, 0)
    )
    in_export = {
        r: project.query(
            f"SELECT obs_value FROM read_csv('{project.root}/out/{r}/ilostat/MST_TEMP_SEX_ECO_CBR_NB.csv') WHERE {key}"
        )[0][0]
        for r in ("2020", "2021")
    }
    assert in_export == {"2020": pytest.approx(published), "2021": pytest.approx(submitted)}


@pytest.mark.usefixtures("ilostat_sample")
def test_export_without_models_is_a_clear_error(project):
    runner.invoke(app, ["import-ilostat", str(FILES[0])])
    done = runner.invoke(app, ["export-ilostat", "--round", "2024", "--out", str(project.root / "o")])
    assert done.exit_code == 1 and "build the models first" in done.output
    done = runner.invoke(app, ["export-ilostat", "--round", "latest", "--out", str(project.root / "o")])
    assert done.exit_code == 1
