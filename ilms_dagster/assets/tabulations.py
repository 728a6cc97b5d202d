"""microdata_workbook: the ILMQ workbook of a round x country tabulated from its survey files (a thin wrapper
around ilms_dagster.microdata). It writes the workbook into the inbox, where intake picks it up like any
submission (the inbox sensor, or `ilms run`); it is in group `microdata` and job `tabulate_microdata`, outside
the ingest job."""

from pathlib import Path

import dagster as dg

from ilms_dagster.microdata import MicrodataError, summary_lines
from ilms_dagster.microdata.files import default_mappings_dir, tabulate_partition
from ilms_dagster.partitions import partition_rounds_countries, submission_partitions
from ilms_dagster.resources import IlmsStorage

MICRODATA_GROUP = "microdata"


class MicrodataConfig(dg.Config):
    mappings_dir: str = ""  # default: ILMS_MICRODATA_MAPPINGS, else the project's microdata/ folder
    out_dir: str = ""  # default: the inbox
    threads: int = 0  # DuckDB threads (0: all cores)


@dg.asset(
    partitions_def=submission_partitions,
    group_name=MICRODATA_GROUP,
    kinds={"duckdb", "excel"},
    owners=["team:data-engineering"],
    description="The ILMQ workbook of a round x country tabulated from its labour force survey files "
    "(`<data>/microdata/<round>/<ISO3>_<SURVEY>_<YEAR>.{csv,parquet,dta,sav}`, mapped by "
    "`microdata/<ISO3>_<SURVEY>.yaml`): every stock table, weights summed in DuckDB, small cells flagged U or "
    "suppressed, written into the inbox for intake and validation. Flags, sample counts and standard errors "
    "are in the `.cells.csv` beside it (the template has no obs_status column yet, issue 15).",
)
def microdata_workbook(
    context: dg.AssetExecutionContext, config: MicrodataConfig, storage: IlmsStorage
) -> dg.MaterializeResult:
    mappings = Path(config.mappings_dir) if config.mappings_dir else default_mappings_dir()
    out_dir = Path(config.out_dir) if config.out_dir else storage.inbox
    outputs, failures = [], []
    for round_, country in partition_rounds_countries(context):
        try:
            out = tabulate_partition(
                storage.microdata, round_, country, mappings, out_dir, threads=config.threads or None
            )
        except MicrodataError as exc:
            context.log.error(str(exc))
            failures.append(str(exc))
            continue
        for tab in out.tabulations:
            context.log.info(
                f"{country} {round_}: {tab.file.name} ({tab.persons:,} persons aged 15+, year {tab.year}): "
                f"{len(tab.tables)} tables" + (f"; skipped {tab.skipped}" if tab.skipped else "")
            )
        outputs.append(out)
    if failures:
        raise dg.Failure(description="\n\n".join(failures), allow_retries=False)
    cells = [o.cells for o in outputs]
    flagged = [c[c["obs_status"] != ""] for c in cells]
    preview = "\n".join(
        f"- {r.ref_area} {r.table_id} {r.time} {r.cell} {r.sex} {r.classif1} {r.classif2}: "
        f"{r.obs_status} (n={r.n_obs}{'' if r.cv != r.cv or r.cv is None else f', cv={r.cv:.2f}'})"
        for f in flagged
        for r in f.head(30).itertuples()
    )
    return dg.MaterializeResult(
        metadata={
            "workbooks": dg.MetadataValue.md("\n".join(f"- `{o.workbook}` (cells: `{o.sidecar}`)" for o in outputs)),
            "cells": sum(len(c) for c in cells),
            "unreliable_U": sum(int((c["obs_status"] == "U").sum()) for c in cells),
            "suppressed_x": sum(int((c["obs_status"] == "x").sum()) for c in cells),
            "persons": sum(t.persons for o in outputs for t in o.tabulations),
            "tables": dg.MetadataValue.md("\n".join(f"- {line}" for o in outputs for line in summary_lines(o.cells))),
            "flagged_cells": dg.MetadataValue.md(preview or "(none)"),
        }
    )


tabulate_microdata_job = dg.define_asset_job(
    "tabulate_microdata",
    selection=dg.AssetSelection.assets(microdata_workbook),
    description="Tabulate labour force survey files into ILMQ workbooks in the inbox, per round x country.",
)
