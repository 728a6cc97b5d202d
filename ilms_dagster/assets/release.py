"""The publication as Dagster assets, partitioned by round, downstream of the marts (thin wrappers of
ilms_dagster/publication): `publication/charts` (SVG + PNG + CSV, the regional charts shown in the metadata),
`publication/release_workbook`, `publication/pages` (overview, profiles, coordinator, downloads; after the
round's ILOSTAT exports) and `publication/report` (HTML + PDF). Each reads the warehouse in its own connection,
in the warehouse pool, and writes `<data>/publication/<round>/`. A backfill of rounds, or a new round, refreshes
them; `ilms publish --round R` builds the same files from the command line."""

import base64

import dagster as dg
from dagster_duckdb import DuckDBResource

from ilms_dagster.partitions import round_partitions
from ilms_dagster.publication import build_charts, load, release_path
from ilms_dagster.publication.pages import write_pages
from ilms_dagster.publication.release_workbook import write_release
from ilms_dagster.publication.report import print_pdf, write_report_html
from ilms_dagster.resources import WAREHOUSE_POOL, IlmsStorage

MARTS = [
    dg.AssetKey(["marts", n])
    for n in ("stocks", "flows", "returnees", "corridors", "completeness", "completeness_grid", "timeliness")
]
EXPORTS = [dg.AssetKey(["exports", "ilostat_bulk_csv"]), dg.AssetKey(["exports", "sdmx_csv"])]
CHARTS_KEY, WORKBOOK_KEY = dg.AssetKey(["publication", "charts"]), dg.AssetKey(["publication", "release_workbook"])
COMMON = {
    "group_name": "publication",
    "owners": ["team:data-engineering"],
    "partitions_def": round_partitions,
    "pool": WAREHOUSE_POOL,
}


def _out(storage: IlmsStorage, round_: str):
    return storage.publication / round_


def _png_md(path) -> str:
    return f"![{path.stem}](data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()})"


@dg.asset(
    key=CHARTS_KEY,
    deps=MARTS,
    kinds={"svg", "png"},
    **COMMON,
    description="The round's charts (Altair, rendered by vl-convert without a browser) as SVG, PNG and the CSV "
    "of their data, in <data>/publication/<round>/charts/; the regional ones shown here.",
)
def publication_charts(context: dg.AssetExecutionContext, storage: IlmsStorage, warehouse: DuckDBResource):
    with warehouse.get_connection() as conn:
        data = load(conn, context.partition_key)
    charts = build_charts(data, _out(storage, context.partition_key))
    metadata = {
        "charts": len(charts),
        "folder": dg.MetadataValue.path(str(_out(storage, context.partition_key) / "charts")),
    }
    for c in charts:
        if c.name.split("_", 1)[0] not in data.names:  # regional charts in the UI; the per-country ones on the pages
            metadata[c.name] = dg.MetadataValue.md(f"**{c.title}**\n\n{_png_md(c.png)}")
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=WORKBOOK_KEY,
    deps=[dg.AssetKey(["staging", "vintages"])],
    kinds={"excel"},
    **COMMON,
    description="The round's release workbook: a contents sheet and one formatted sheet per published indicator "
    "(country x year, unit, source, notes, status flags), formula-safe.",
)
def release_workbook(context: dg.AssetExecutionContext, storage: IlmsStorage, warehouse: DuckDBResource):
    round_ = context.partition_key
    with warehouse.get_connection() as conn:
        release = write_release(conn, int(round_), release_path(_out(storage, round_), int(round_)))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(release.path)),
            "sheets": len(release.sheets),
            "series": sum(release.sheets.values()),
        }
    )


@dg.asset(
    key=["publication", "pages"],
    deps=[CHARTS_KEY, WORKBOOK_KEY, *EXPORTS],
    kinds={"html"},
    **COMMON,
    description="The round's static pages: regional overview (index.html), country profiles, the coordinator's "
    "page and the download page linking the round's ILOSTAT CSV and SDMX-CSV exports.",
)
def publication_pages(context: dg.AssetExecutionContext, storage: IlmsStorage, warehouse: DuckDBResource):
    round_, out = context.partition_key, _out(storage, context.partition_key)
    with warehouse.get_connection() as conn:
        data = load(conn, round_)
    from ilms_dagster.publication.charts import rendered  # Altair loads when the asset runs

    pages = write_pages(
        data, out, rendered(data, out / "charts"), release_path(out, int(round_)), storage.exports / round_
    )
    return dg.MaterializeResult(metadata={"overview": dg.MetadataValue.path(str(pages[0])), "pages": len(pages)})


@dg.asset(
    key=["publication", "report"],
    deps=[CHARTS_KEY],
    kinds={"html", "pdf"},
    **COMMON,
    description="The round's report (report.html and report.pdf, printed by headless Chromium): key figures, "
    "the regional charts and their tables, completeness and timeliness.",
)
def publication_report(context: dg.AssetExecutionContext, storage: IlmsStorage, warehouse: DuckDBResource):
    round_, out = context.partition_key, _out(storage, context.partition_key)
    with warehouse.get_connection() as conn:
        data = load(conn, round_)
    from ilms_dagster.publication.charts import rendered

    html = write_report_html(data, out, rendered(data, out / "charts"))
    pdf = print_pdf(html, out / "report.pdf")
    return dg.MaterializeResult(
        metadata={"html": dg.MetadataValue.path(str(html)), "pdf": dg.MetadataValue.path(str(pdf))}
    )


PUBLICATION_ASSETS = [publication_charts, release_workbook, publication_pages, publication_report]
