"""Tabulations out through the normal path: a filled ILMQ workbook (template.write_workbook, so intake and
validation apply unchanged) and a sidecar of every cell with its sample count, flag and sampling error.

The template has no obs_status column yet (issue 15): the U flags, counts, standard errors and CVs are in
the sidecar `<workbook stem>.cells.csv` beside the workbook, one row per cell with its Excel reference.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ilms_dagster.microdata.mapping import MicrodataError
from ilms_dagster.microdata.tabulate import Tabulation
from ilms_dagster.questionnaire.template import write_workbook
from ilms_dagster.questionnaire.workbook import CONFIDENTIAL, NOT_AVAILABLE, SheetLayout, ValueKey
from ilms_dagster.registry import TABLES, reference_years

SIDECAR_SUFFIX = ".cells.csv"


def combine(tabulations: list[Tabulation], round_: str | int) -> pd.DataFrame:
    """The cells of several survey files (one per reference year) of one country and round, with cell refs."""
    years = reference_years(round_)
    seen: dict[int, Path] = {}
    for tab in tabulations:
        if tab.year not in years:
            raise MicrodataError(
                tab.file,
                [f"reference year {tab.year} is not asked for by round {round_} (years {years[0]}-{years[-1]})"],
            )
        if tab.year in seen:
            raise MicrodataError(tab.file, [f"reference year {tab.year} is also tabulated from {seen[tab.year].name}"])
        seen[tab.year] = tab.file
    if len({t.mapping.country for t in tabulations}) > 1:
        raise MicrodataError(tabulations[0].file, ["the survey files are of different countries"])
    frames = []
    for tab in sorted(tabulations, key=lambda t: t.year):
        frame = tab.cells.copy()
        frame.insert(0, "ref_area", tab.mapping.country)
        frame["source_file"] = tab.file.name
        frames.append(frame)
    cells = pd.concat(frames, ignore_index=True)
    layouts = {
        t: SheetLayout(TABLES[t], tuple(years), tabulations[0].mapping.country)
        for t in dict.fromkeys(cells["table_id"])
    }
    refs = {
        t: {
            (y, c1, s, c2): f"{_col(col)}{row}"
            for y, c1, row, col, column in lay.cells()
            for s, c2 in [(column.sex, column.classif2)]
        }
        for t, lay in layouts.items()
    }
    cells["cell"] = [
        refs[t][(y, c1, s, c2)]
        for t, y, c1, s, c2 in cells[["table_id", "time", "classif1", "sex", "classif2"]].itertuples(index=False)
    ]
    return cells


def _col(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


def workbook_values(cells: pd.DataFrame) -> dict[ValueKey, float | str]:
    """Template values: the estimate, 'x' for a suppressed cell, '..' for a mean nobody reported."""
    values: dict[ValueKey, float | str] = {}
    for r in cells.itertuples(index=False):
        key = (r.table_id, int(r.time), r.classif1, r.sex, r.classif2)
        if r.obs_status == "x":
            values[key] = CONFIDENTIAL
        elif pd.isna(r.estimate):
            values[key] = NOT_AVAILABLE
        else:
            values[key] = float(r.obs_value)
    return values


def write_outputs(
    tabulations: list[Tabulation], round_: str | int, workbook: Path, metadata: dict | None = None
) -> tuple[Path, Path, pd.DataFrame]:
    """Write the filled ILMQ workbook and its sidecar; return both paths and the cells."""
    cells = combine(tabulations, round_)
    first = tabulations[0].mapping
    meta = {"source_stocks": first.source} | dict(metadata or {})
    write_workbook(Path(workbook), first.country, round_, values=workbook_values(cells), metadata=meta)
    sidecar = Path(workbook).with_suffix(SIDECAR_SUFFIX)
    cells.to_csv(sidecar, index=False, float_format="%.6f", lineterminator="\n")
    return Path(workbook), sidecar, cells


def summary_lines(cells: pd.DataFrame) -> list[str]:
    """A few lines on what was tabulated: cells, flags, per table."""
    lines = []
    for table_id, group in cells.groupby("table_id", sort=False):
        flags = group["obs_status"].value_counts()
        lines.append(
            f"{table_id}: {len(group)} cells, {int(flags.get('U', 0))} U (unreliable), "
            f"{int(flags.get('x', 0))} x (suppressed)"
        )
    return lines
