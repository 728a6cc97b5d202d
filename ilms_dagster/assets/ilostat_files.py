"""Published ILOSTAT data in and out as Dagster assets (thin wrappers of ilms_dagster/ilostat*.py).

- `raw/ilostat_imports` (group `ilostat`, unpartitioned): imports every `<data>/ilostat/*.csv[.gz]` as the
  published vintage (round 0) of the ILMQ tables, in one transaction; what was not loaded is in its metadata,
  by code. Not in the `ingest_submissions` job; the models depend on it (staging.ilmq_accepted reads
  raw.ilostat_imports), so they rebuild after an import.
- `exports/ilostat_bulk_csv` and `exports/sdmx_csv` (group `exports`, partitioned by round): the round's
  export under `<data>/exports/<round>/`. In no job: materialize them from the UI or with `ilms export-ilostat`.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from ilms_dagster.assets.sql_models import ILOSTAT_IMPORTS_KEY
from ilms_dagster.ilostat.export import export_round
from ilms_dagster.ilostat.imports import read_files, report_lines, write_files
from ilms_dagster.partitions import round_partitions
from ilms_dagster.resources import WAREHOUSE_POOL, IlmsStorage


def ilostat_files(storage: IlmsStorage) -> list:
    folder = storage.ilostat
    return sorted([*folder.glob("*.csv"), *folder.glob("*.csv.gz")]) if folder.is_dir() else []


def _md_table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]) if rows else "(none)"


@dg.asset(
    key=ILOSTAT_IMPORTS_KEY,
    group_name="ilostat",
    kinds={"csv", "duckdb"},
    owners=["team:data-engineering"],
    pool=WAREHOUSE_POOL,
    description="Published ILOSTAT bulk CSV files of <data>/ilostat/ (plain or .gz), imported in one transaction "
    "as the oldest vintage (round 0) of the ILMQ tables: one row per file in raw.ilostat_imports, the rows in "
    "ilmq.<table> (tables from the registry's indicators). Rows of other indicators or with codes outside the "
    "registry's lists are counted by code (metadata `not_loaded`, raw.ilostat_skipped), never dropped silently.",
    metadata={"dagster/table_name": "raw.ilostat_imports"},
)
def ilostat_imports(context: dg.AssetExecutionContext, storage: IlmsStorage, warehouse: DuckDBResource):
    parsed = read_files(ilostat_files(storage))  # every file read before the warehouse is opened
    with warehouse.get_connection() as conn:
        write_files(conn, parsed)
    context.log.info("\n".join(report_lines(parsed)) or f"no ILOSTAT files in {storage.ilostat}")
    loaded = sorted(
        (f.path.name, ind, year, n) for f in parsed for (ind, year), n in f.loaded_by("indicator", "time").items()
    )
    skipped = sorted(
        [(f.path.name, ind, "indicator", ind, n) for f in parsed for ind, n in f.other_indicators.items()]
        + [(f.path.name, ind, dim, code, n) for f in parsed for (ind, dim, code), n in f.unknown_codes.items()]
    )
    return dg.MaterializeResult(
        metadata={
            "files": len(parsed),
            "rows_read": sum(f.rows_read for f in parsed),
            "rows_loaded": sum(f.rows_loaded for f in parsed),
            "rows_not_loaded": sum(r[-1] for r in skipped),
            "loaded": dg.MetadataValue.md(_md_table(("file", "indicator", "year", "rows"), loaded)),
            "not_loaded": dg.MetadataValue.md(_md_table(("file", "indicator", "dimension", "code", "rows"), skipped)),
        }
    )


def _export_asset(name: str, what: str, pick: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["exports", name],
        deps=[dg.AssetKey(["staging", "vintages"])],
        group_name="exports",
        kinds={"csv"},
        owners=["team:data-engineering"],
        partitions_def=round_partitions,
        pool=WAREHOUSE_POOL,
        description=f"{what} of a round: the latest vintage up to the round of every accepted or published value, "
        "one file per indicator under <data>/exports/<round>/ (ilms_dagster/ilostat/export.py).",
    )
    def _export(context: dg.AssetExecutionContext, storage: IlmsStorage, warehouse: DuckDBResource):
        round_ = context.partition_key
        with warehouse.get_connection() as conn:
            done = export_round(conn, round_, storage.exports / round_)
        context.log.info("\n".join(done.lines()))
        files = [p for p in done.files if p.parent.name == pick]
        return dg.MaterializeResult(
            metadata={
                "observations": sum(done.rows.values()),
                "markers_not_exported": done.markers_skipped,
                "folder": dg.MetadataValue.path(str(done.out / pick)),
                "files": dg.MetadataValue.md(
                    _md_table(
                        ("file", "observations"), [(p.name, n) for p, n in zip(files, done.rows.values(), strict=True)]
                    )
                ),
            }
        )

    return _export


ilostat_bulk_csv = _export_asset("ilostat_bulk_csv", "ILOSTAT bulk CSV", "ilostat")
sdmx_csv = _export_asset("sdmx_csv", "SDMX-CSV 2.0 (dataflow ILO:DF_<indicator>(1.0), re-read with pysdmx)", "sdmx")
ILOSTAT_ASSETS = [ilostat_imports, ilostat_bulk_csv, sdmx_csv]
