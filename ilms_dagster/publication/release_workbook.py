"""The release workbook of a round: a contents sheet, then one formatted sheet per published indicator with its
observations country x year (the round's latest vintage of every value, as the ILOSTAT export publishes it:
ilms_dagster.ilostat.export.observations), its unit, source, notes and status flags; frozen headers, column
widths, and no text cell that a spreadsheet would take for a formula."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from ilms_dagster.ilostat.export import observations
from ilms_dagster.publication.inert import FORMULA_STARTS
from ilms_dagster.questionnaire.workbook import MARKER_NOTES
from ilms_dagster.registry import TABLES

HEADER_FILL = PatternFill("solid", fgColor="DCE6F1")
BOLD = Font(bold=True)
MARKER_OF = {note: marker for marker, note in MARKER_NOTES.items()}
KEYS = ["ref_area", "sex", "classif1", "classif2"]
COLUMNS = [
    "ref_area",
    "source",
    "indicator",
    "sex",
    "classif1",
    "classif2",
    "time",
    "obs_value",
    "obs_status",
    "note",
    "round",
]
IDX = {name: i for i, name in enumerate(COLUMNS)}
RIGHT = Alignment(horizontal="right")


@dataclass(frozen=True)
class Release:
    path: Path
    sheets: dict[str, int]  # indicator -> rows (series) on its sheet


def _table_of(indicator: str):
    for table in TABLES.values():
        if indicator in table.indicators:
            return table
    return None


def text_cell(ws, value, bold: bool = False) -> WriteOnlyCell:
    """A cell holding `value`; text stays text even when it starts like a formula (`=`, `+`, `-`, `@`)."""
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell.data_type = "s"  # openpyxl takes a leading '=' for a formula; stored as a string it is inert
        cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
    if bold:
        cell.font, cell.fill = BOLD, HEADER_FILL
    return cell


def _series(rows: list[tuple], labels: dict[str, str]) -> tuple[list[list], list[int]]:
    """Series of one indicator in rows (country, sex, category, basis), years in columns (values or markers),
    then source, notes, status flags and vintages."""
    years = sorted({r[IDX["time"]] for r in rows})
    grouped: dict[tuple, list[tuple]] = {}
    for r in rows:
        grouped.setdefault(tuple(r[IDX[k]] or "" for k in KEYS), []).append(r)
    out = []
    for key in sorted(grouped):
        series = grouped[key]
        by_year = {
            r[IDX["time"]]: r[IDX["obs_value"]]
            if r[IDX["obs_value"]] is not None
            else MARKER_OF.get(r[IDX["note"]], "..")
            for r in series
        }
        flags = "; ".join(f"{r[IDX['time']]}: {r[IDX['obs_status']]}" for r in series if r[IDX["obs_status"]])
        notes = "; ".join(
            sorted({r[IDX["note"]] for r in series if r[IDX["note"]] and r[IDX["note"]] not in MARKER_OF})
        )
        sources = "; ".join(sorted({r[IDX["source"]] for r in series if r[IDX["source"]]}))
        vintages = ", ".join(str(v) for v in sorted({int(r[IDX["round"]]) for r in series}))
        out.append(
            [
                *key[:3],
                labels.get(key[2], key[2]),
                key[3],
                *[by_year.get(y) for y in years],
                sources,
                notes,
                flags,
                vintages,
            ]
        )
    return out, years


def write_release(conn: duckdb.DuckDBPyConnection, round_: int, path: Path) -> Release:
    """Write round `round_`'s release workbook to `path` (replaced whole: written beside it, then renamed)."""
    frame = observations(conn, round_)
    frame = frame[frame.time <= round_ - 1].astype(object).where(frame.notna(), None)
    rows_by_indicator: dict[str, list[tuple]] = {}
    for r in frame[COLUMNS].itertuples(index=False, name=None):
        rows_by_indicator.setdefault(r[IDX["indicator"]], []).append(r)
    wb = Workbook(write_only=True)
    contents = wb.create_sheet("Contents")
    contents.freeze_panes = "A5"
    for column, width in enumerate([28, 28, 60, 14, 10, 14], start=1):
        contents.column_dimensions[get_column_letter(column)].width = width
    contents.append(
        [
            text_cell(
                contents,
                f"ILMS release, round {round_}: labour migration statistics of the reporting countries",
                bold=True,
            )
        ]
    )
    contents.append(
        [
            f"Latest vintage up to the round of every accepted or published value, reference years up to "
            f"{round_ - 1}. '..' not available, 'x' confidential. Status flags are ILOSTAT obs_status codes."
        ]
    )
    contents.append([])
    contents.append(
        [text_cell(contents, h, bold=True) for h in ("Sheet", "Indicator", "Title", "Unit", "Series", "Observations")]
    )
    sheets = {}
    for indicator in sorted(rows_by_indicator):
        table = _table_of(indicator)
        title, unit = (table.title, table.unit) if table else (indicator, "")
        series, years = _series(rows_by_indicator[indicator], table.categories if table else {})
        ws = wb.create_sheet(indicator[:31])
        ws.freeze_panes = "F3"
        widths = [8, 8, 24, 30, 18, *[11] * len(years), 12, 40, 30, 16, 14]
        for column, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(column)].width = width
        ws.append([text_cell(ws, f"{indicator}: {title}", bold=True)])
        ws.append(
            [
                text_cell(ws, h, bold=True)
                for h in [
                    "Country",
                    "Sex",
                    "Category code",
                    "Category",
                    "Migratory status",
                    *years,
                    "Unit",
                    "Source",
                    "Notes",
                    "Status flags",
                    "Vintage (round)",
                ]
            ]
        )
        for values in series:
            cells = [text_cell(ws, v) for v in [*values[: 5 + len(years)], unit, *values[5 + len(years) :]]]
            for cell in cells[5 : 5 + len(years)]:
                cell.number_format = "#,##0.000"
                cell.alignment = RIGHT
            ws.append(cells)
        sheets[indicator] = len(series)
        contents.append(
            [text_cell(contents, ws.title), indicator, title, unit, len(series), len(rows_by_indicator[indicator])]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    wb.save(tmp)
    tmp.replace(path)
    return Release(path, sheets)
