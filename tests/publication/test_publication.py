"""The publication on the sample warehouse (the latest round's ten sample workbooks through the real intake,
checks and models: test_models_samples' fixture, built once for the module), made by its real Dagster assets with
the round's ILOSTAT exports: chart files, release workbook, formula-safe text, the report's PDF; then the pages in
real headless Chromium (Debian's package, launched as tests/assets/test_ui.py does): overview, a country profile on a
phone's viewport, the coordinator's and the download page open with no console error, show the marts' figures
(asserted on the DOM), load every chart and link to files that exist; screenshots in tests/artifacts/."""

from __future__ import annotations

import shutil
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import dagster as dg
import duckdb
import pandas as pd
import pytest
from openpyxl import load_workbook
from PIL import Image, ImageStat
from playwright.sync_api import sync_playwright
from pypdf import PdfReader

from ilms_dagster.assets.ilostat_files import ilostat_bulk_csv, sdmx_csv
from ilms_dagster.assets.release import PUBLICATION_ASSETS
from ilms_dagster.publication import PublicationError, load, release_path
from ilms_dagster.publication.charts import PNG_SCALE, chart_specs
from ilms_dagster.publication.inert import write_csv
from ilms_dagster.publication.pages import pct
from ilms_dagster.publication.release_workbook import write_release
from ilms_dagster.publication.report import report_sections
from ilms_dagster.registry import REPORTING_COUNTRIES, ROUNDS
from ilms_dagster.resources import IlmsStorage
from ilms_dagster.resources.warehouse import WarehouseResource
from tests.assets.test_ui import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.models.test_models_samples import samples  # noqa: F401  (the module's sample warehouse fixture)

ROUND = ROUNDS[-1]
COUNTRIES = sorted(REPORTING_COUNTRIES)
INJECTIONS = ['=HYPERLINK("http://example.invalid","x")', "+1+2", "-3+4", "@SUM(A1:A2)", "=1+1"]


def _publish(samples) -> tuple[Path, dg.ExecuteInProcessResult]:
    path, _ = samples
    root = path.parent
    storage = IlmsStorage(data_dir=str(root), inbox_dir=str(root / "inbox"))
    result = dg.materialize(
        [ilostat_bulk_csv, sdmx_csv, *PUBLICATION_ASSETS],
        partition_key=ROUND,
        resources={"storage": storage, "warehouse": WarehouseResource(database=str(path))},
    )
    return root / "publication" / ROUND, result


@pytest.fixture(scope="module")
def published(samples):  # noqa: F811
    return _publish(samples)


def _query(path: Path, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def test_every_publication_asset_materializes_and_the_ui_metadata_shows_the_charts(published):
    out, result = published
    assert result.success
    events = {tuple(e.asset_key.path): e.materialization.metadata for e in result.get_asset_materialization_events()}
    charts = events[("publication", "charts")]
    for name in (
        "migrant_workers",
        "outflows_by_destination",
        "corridor_matrix",
        "returnees_vs_outflows",
        "completeness_heatmap",
        "timeliness",
    ):
        assert "](data:image/png;base64," in charts[name].value, name  # the UI renders the markdown image
    assert events[("publication", "pages")]["overview"].value == str(out / "index.html")
    for name in (
        "index.html",
        "coordinator.html",
        "downloads.html",
        "report.html",
        "report.pdf",
        "style.css",
        f"ILMS_release_{ROUND}.xlsx",
    ):
        assert (out / name).stat().st_size > 0, name


def test_each_chart_is_a_valid_svg_and_png_of_the_expected_size_and_not_blank(samples, published):  # noqa: F811
    path, _ = samples
    out, _ = published
    with duckdb.connect(str(path), read_only=True) as conn:
        specs = chart_specs(load(conn, ROUND))
    assert len(specs) == 6 + 3 * 10  # six regional charts, three per country
    for spec in specs:
        svg = ET.parse(out / "charts" / f"{spec.name}.svg").getroot()
        assert svg.tag == "{http://www.w3.org/2000/svg}svg", spec.name
        width, height = int(float(svg.get("width"))), int(float(svg.get("height")))
        assert 300 <= width <= 1400 and 100 <= height <= 1400, (spec.name, width, height)
        texts = [t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text")]
        assert any(spec.title.split(",")[0] in t for t in texts), spec.name  # fonts render: the title is text
        with Image.open(out / "charts" / f"{spec.name}.png") as png:
            assert png.format == "PNG" and png.size == (width * PNG_SCALE, height * PNG_SCALE), spec.name
            variance = ImageStat.Stat(png.convert("L")).var[0]
            assert variance > 100, (spec.name, variance)  # not a blank (white) image
        if spec.empty:  # a country that reports nothing for a chart gets a chart that says so
            assert any("No data reported" in t for t in texts) and spec.name.split("_")[0] in {c for c in COUNTRIES}
    assert [s.name for s in specs[:6] if s.empty] == []  # the regional charts all have data


def test_the_charts_data_are_the_marts_values(samples, published):  # noqa: F811
    path, _ = samples
    out, _ = published
    csv = pd.read_csv(out / "charts" / "migrant_workers.csv")
    expected = _query(
        path,
        "SELECT ref_area, time, basis, migrant_workers_thousands FROM marts.stocks WHERE sex = 'SEX_T'"
        " AND migrant_workers_thousands IS NOT NULL AND time < ?",
        [int(ROUND)],
    )
    rows = {(r.ref_area, r.time, r.basis): r.migrant_workers_thousands for r in csv.itertuples()}
    assert rows and all(rows[(c, t, b)] == pytest.approx(v) for c, t, b, v in expected if (c, t, b) in rows)
    assert sorted({c for c, *_ in rows}) == sorted({c for c, *_ in expected})  # every country with migrant workers
    heat = pd.read_csv(out / "charts" / "completeness_heatmap.csv")
    filled = _query(
        path,
        "SELECT ref_area, table_id, count(*) FILTER (filled_in_round) FROM marts.completeness_grid"
        " WHERE round = ? GROUP BY ALL ORDER BY ALL",
        [int(ROUND)],
    )
    assert list(heat[["ref_area", "table_id", "years_filled"]].itertuples(index=False, name=None)) == filled


def test_the_release_workbook_holds_the_marts_values_with_frozen_headers(samples, published):  # noqa: F811
    path, _ = samples
    out, _ = published
    wb = load_workbook(release_path(out, int(ROUND)))
    indicators = [r[1] for r in wb["Contents"].iter_rows(min_row=5, values_only=True) if r[1]]
    assert indicators == sorted(indicators) and wb.sheetnames == ["Contents", *indicators]
    expected = _query(path, "SELECT DISTINCT indicator FROM staging.latest WHERE time < ? ORDER BY 1", [int(ROUND)])
    assert indicators == [i for (i,) in expected]
    stocks = _query(
        path,
        "SELECT ref_area, basis, time, migrant_workers_thousands FROM marts.stocks WHERE sex = 'SEX_T'"
        " AND migrant_workers_thousands IS NOT NULL AND time < ?",
        [int(ROUND)],
    )
    checked = 0
    for basis in ("CBR", "CCT"):
        ws = wb[f"MST_TEMP_SEX_AGE_{basis}_NB"]
        assert ws.freeze_panes == "F3" and ws.column_dimensions["D"].width >= 20
        header = [c.value for c in ws[2]]
        migrant = "CBR_BIR_FOREIGN" if basis == "CBR" else "CCT_CIT_NONCIT"
        for row in ws.iter_rows(min_row=3, values_only=True):
            if row[1] == "SEX_T" and row[2] == "AGE_AGGREGATE_TOTAL" and row[4] == migrant:
                for country, b, year, value in stocks:
                    if country == row[0] and b == basis and year in header:
                        assert row[header.index(year)] == pytest.approx(value), (country, basis, year)
                        assert row[header.index("Unit")] == "thousands"
                        checked += 1
    assert checked == len(stocks)  # the stocks mart takes migrant workers from the by-age table


def test_formula_injection_strings_come_out_as_inert_text(samples, tmp_path):  # noqa: F811
    path, _ = samples
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(path, copy)
    with duckdb.connect(str(copy)) as conn:
        series = [(c, s) for c in ("IDN", "PHL") for s in ("SEX_T", "SEX_M", "SEX_F")]
        for text, (country, sex) in zip(INJECTIONS, series):  # a focal point's notes and sources reach the workbook
            conn.execute(
                "UPDATE staging.vintages SET note = ?, source = ? WHERE indicator = 'MNA_OEMP_SEX_CDS_NB'"
                " AND ref_area = ? AND sex = ? AND classif1 = 'CDS_DES_TOTAL'",
                [text, text, country, sex],
            )
        release = write_release(conn, int(ROUND), tmp_path / "release.xlsx")
    with zipfile.ZipFile(release.path) as z:
        xml = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/"))
    assert "<f>" not in xml and "<f " not in xml  # no formula anywhere
    wb = load_workbook(release.path)
    ws = wb["MNA_OEMP_SEX_CDS_NB"]
    found = [
        c
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@"))
    ]
    assert sorted(c.value for c in found) == sorted(INJECTIONS * 2)  # as note and as source, each intact
    assert all(c.data_type == "s" and c.quotePrefix for c in found if c.value.startswith("="))
    csv = tmp_path / "data.csv"
    write_csv(pd.DataFrame({"note": INJECTIONS, "value": [-1.5, 2, -3, 4, 5]}), csv)
    lines = csv.read_text().splitlines()[1:]
    assert all(line.startswith("\"'") or line.startswith("'") for line in lines), lines  # text made inert
    assert [line.rsplit(",", 1)[1] for line in lines] == ["-1.5", "2.0", "-3.0", "4.0", "5.0"]  # numbers stay numbers


def test_the_report_pdf_has_a_page_per_section_in_order(samples, published):  # noqa: F811
    path, _ = samples
    out, _ = published
    with duckdb.connect(str(path), read_only=True) as conn:
        data = load(conn, ROUND)
    from ilms_dagster.publication.charts import rendered

    sections = report_sections(data, rendered(data, out / "charts"))
    pages = [
        " ".join(unicodedata.normalize("NFKC", p.extract_text() or "").split())  # NFKC: the 'ﬂ' ligature
        for p in PdfReader(out / "report.pdf").pages
    ]
    assert len(pages) >= len(sections)
    at = -1
    for title in sections:
        words = " ".join(title.split()[:4])
        later = [i for i, text in enumerate(pages) if i > at and words in text]
        assert later, f"{title!r} not on a page after page {at + 1}"
        at = later[0]  # each section starts a page of its own, in order
    assert sections[0].split(":")[0] in pages[0]


def test_a_round_the_marts_do_not_consider_is_a_clear_error(samples):  # noqa: F811
    path, _ = samples
    with (
        duckdb.connect(str(path), read_only=True) as conn,
        pytest.raises(PublicationError, match="not among the rounds"),
    ):
        load(conn, "2016")


PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium package (.ci/run does: apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _open(browser, path: Path, viewport: dict, shot: str):
    page = browser.new_page(viewport=viewport)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.goto(path.as_uri(), wait_until="load")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / shot, full_page=True)
    broken = page.eval_on_selector_all(
        "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert broken == [], broken
    return page, errors


def _links_exist(page, folder: Path) -> int:
    hrefs = page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
    local = [Path(unquote(urlparse(h).path)) for h in hrefs if h.startswith("file:")]
    assert [p for p in local if not p.exists()] == []
    return len(local)


def test_overview_shows_the_round_completeness_and_key_figures(browser, samples, published):  # noqa: F811
    path, _ = samples
    out, _ = published
    page, errors = _open(browser, out / "index.html", {"width": 1280, "height": 900}, "publication_overview.png")
    (expected,) = _query(
        path, "SELECT completeness_pct FROM marts.completeness WHERE level = 'round' AND round = ?", [int(ROUND)]
    )[0]
    assert page.inner_text("#round-completeness") == pct(expected)
    rows = page.eval_on_selector_all(
        "#key-figures-all tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.innerText))"
    )
    tha = [r for r in rows if r[0] == "THA" and r[1].startswith("Migrant workers")]
    (value,) = _query(
        path,
        "SELECT migrant_workers_thousands FROM marts.stocks WHERE ref_area = 'THA' AND sex = 'SEX_T'"
        " AND basis = 'CBR' AND time = ?",
        [int(ROUND) - 1],
    )[0]
    assert tha and tha[0][2] == f"{value:,.3f}" and tha[0][3] == str(int(ROUND) - 1) and tha[0][5] == ROUND
    assert page.locator("figure.chart img").count() == 4  # the overview's regional charts
    assert _links_exist(page, out) > 10 and errors == []


def test_a_country_profile_reads_on_a_phone_and_links_to_the_others(browser, samples, published):  # noqa: F811
    path, _ = samples
    out, _ = published
    page, errors = _open(browser, out / "THA.html", PHONE, "publication_profile_THA_phone.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    (expected,) = _query(
        path,
        "SELECT completeness_pct FROM marts.completeness WHERE level = 'country_round'"
        " AND round = ? AND ref_area = 'THA'",
        [int(ROUND)],
    )[0]
    assert page.inner_text("#country-completeness") == pct(expected)
    figures = page.eval_on_selector_all("#key-figures tbody tr", "rs => rs.map(r => r.cells[1].innerText)")
    assert figures[0].startswith("Migrant workers") and len(figures) >= 3
    assert page.locator("a[rel=prev]").get_attribute("href") == "SGP.html"
    assert page.locator("a[rel=next]").get_attribute("href") == "VNM.html"
    csv = page.locator("#chart-THA_migrant_workers figcaption a[download]").get_attribute("href")
    assert (out / csv).read_text().startswith("ref_area,time,basis")
    missing = _query(
        path,
        "SELECT count(DISTINCT table_id) FROM marts.completeness_grid WHERE round = ? AND"
        " ref_area = 'THA' AND NOT filled_in_round",
        [int(ROUND)],
    )[0][0]
    assert page.locator("#missing-table tbody tr").count() == missing
    assert _links_exist(page, out) > 0 and errors == []


def test_coordinator_page_shows_every_country_and_round_and_who_is_late(browser, samples, published):  # noqa: F811
    path, _ = samples
    out, _ = published
    page, errors = _open(
        browser, out / "coordinator.html", {"width": 1280, "height": 900}, "publication_coordinator.png"
    )
    rounds = [str(r) for (r,) in _query(path, "SELECT DISTINCT round FROM marts.timeliness ORDER BY 1")]
    header = page.eval_on_selector_all("#completeness-matrix thead th", "hs => hs.map(h => h.innerText)")
    assert header == ["country", *rounds]
    countries = page.eval_on_selector_all("#completeness-matrix tbody tr", "rs => rs.map(r => r.cells[0].innerText)")
    assert countries == [c for (c,) in _query(path, "SELECT iso3 FROM staging.reporting_countries ORDER BY 1")]
    late = _query(
        path,
        "SELECT ref_area FROM marts.timeliness WHERE round = ? AND status IN ('late', 'not submitted') ORDER BY 1",
        [int(ROUND)],
    )
    shown = page.eval_on_selector_all("#late-list li", "ls => ls.map(l => l.innerText.slice(0, 3))") if late else []
    assert shown == [c for (c,) in late]
    assert page.locator("#changes tbody tr").count() == len(countries) and errors == []


def test_download_page_links_the_rounds_exports_and_release_workbook(browser, published):  # noqa: F811
    out, _ = published
    page, errors = _open(browser, out / "downloads.html", {"width": 1280, "height": 900}, "publication_downloads.png")
    exports = sorted(p.stem for p in (out.parents[1] / "exports" / ROUND / "ilostat").glob("*.csv"))
    shown = page.eval_on_selector_all("#downloads tbody tr", "rs => rs.map(r => r.cells[0].innerText)")
    assert exports and shown == exports
    assert page.locator("#release-workbook").get_attribute("href") == f"ILMS_release_{ROUND}.xlsx"
    assert _links_exist(page, out) == 2 * len(exports) + 1 + 4 + 10 and errors == []  # + workbook, nav, profiles
