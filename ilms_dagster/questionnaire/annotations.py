"""Observation status and notes: the template's Notes sheet, and how notes are stored in a value's `note`.

A focal point marks values in the `Notes` sheet, one line per note: the table id, then optionally a reference
year, a category code (a partner may be given by ISO3 code or name) and a column code. The blank fields match
everything, so a line with only the table id speaks of the whole table, one with every field of one cell.
A line may give an observation status (ILOSTAT `obs_status`, codes.yaml `obs_status`) and a note.

Stored notes follow ILOSTAT's three note columns, in one `note` text (`note_classif: ... | note_indicator: ...`):
a note on one cell is its `note_classif`, a note on more than one value (a table, a year, a row or a column) is
the `note_indicator` of each. A value with no user note keeps its marker's note ('not available',
'confidential'); a marker's note is kept in front of a cell's note. Exports split them back (ilostat_export.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ilms_dagster.registry import OBS_STATUS, TableSpec, find_country

NOTE_FIELDS = ("note_classif", "note_indicator", "note_source")
NOTES_SHEET = "Notes"
NOTES_HEADER_ROW = 4
NOTES_ROWS = 200  # input lines of the sheet
NOTES_COLUMNS = (
    ("table_id", "Table id", 26),
    ("year", "Reference year", 14),
    ("classif1", "Category code (partner: ISO3 code or name)", 30),
    ("column", "Column code", 30),
    ("obs_status", "Status", 10),
    ("note", "Note", 80),
)
NOTES_INSTRUCTIONS = (
    "One line per note. Give the table id, and a reference year, category code and column code to narrow it down "
    "(blank = all of them: only the table id speaks of the whole table). Status: one of the codes below, or blank "
    "for a normal value. The note is free text."
)


def join_notes(values: dict[str, str | None]) -> str | None:
    parts = [f"{name}: {values[name]}" for name in NOTE_FIELDS if isinstance(values.get(name), str) and values[name]]
    return " | ".join(parts) or None


def split_notes(note: str | None) -> dict[str, str | None]:
    """The three ILOSTAT notes of a stored `note`; a free-text note (not in that form) is the indicator's."""
    out: dict[str, str | None] = dict.fromkeys(NOTE_FIELDS)
    for part in (note or "").split(" | ") if note else []:
        name, sep, text = part.partition(": ")
        if sep and name in NOTE_FIELDS:
            out[name] = text
        else:
            return {**dict.fromkeys(NOTE_FIELDS), "note_indicator": note}
    return out


@dataclass(frozen=True)
class Annotation:
    """One line of the Notes sheet: which values (None = all) and what it says of them."""

    line: int  # the sheet row
    table_id: str
    year: int | None
    classif1: str | None
    column: str | None  # Column.code
    obs_status: str | None
    note: str | None

    @property
    def one_cell(self) -> bool:
        return None not in (self.year, self.classif1, self.column)


def read_annotations(
    grid: list[list[object]], tables: dict[str, TableSpec], years: tuple[int, ...], problems: list[tuple[str, str, str]]
) -> list[Annotation]:
    """The Notes sheet's lines (every problem appended, naming the cell)."""
    out = []
    for r in range(NOTES_HEADER_ROW + 1, min(len(grid), NOTES_HEADER_ROW + NOTES_ROWS) + 1):
        fields = {
            key: _text(grid[r - 1][j] if j < len(grid[r - 1]) else None) for j, (key, _, _) in enumerate(NOTES_COLUMNS)
        }
        if not any(fields.values()):
            continue
        before = len(problems)

        def problem(column: str, message: str) -> None:
            col = "ABCDEF"[[k for k, _, _ in NOTES_COLUMNS].index(column)]
            problems.append((NOTES_SHEET, f"{col}{r}", message))

        table = tables.get(fields["table_id"] or "")
        if table is None:
            problem(
                "table_id",
                f"table id {fields['table_id']!r} is not one of this workbook's tables "
                f"({', '.join(tables)}) (rule: a note names its table)",
            )
            continue
        year = None
        if fields["year"]:
            try:
                year = int(float(fields["year"]))
            except ValueError:
                year = -1
            if year not in years:
                problem(
                    "year",
                    f"reference year {fields['year']!r} is not one of the round's years "
                    f"{', '.join(map(str, years))} (rule: a note names a reference year of the round)",
                )
        classif1 = fields["classif1"]
        if classif1 and classif1 not in table.codes:
            iso = find_country(classif1) if table.partner_prefix else None
            if iso is None:
                problem(
                    "classif1",
                    f"{classif1!r} is not a category code of table {table.id} (see its column A)"
                    + (" nor a country's ISO3 code or name" if table.partner_prefix else "")
                    + " (rule: a note names a category of its table)",
                )
            classif1 = f"{table.partner_prefix}_{iso}" if iso else classif1
        column = fields["column"]
        if column and column not in {c.code for c in table.columns}:
            problem(
                "column",
                f"column code {column!r} is not one of table {table.id}'s (row 'Code' above its "
                f"values, e.g. {table.columns[0].code!r}) (rule: a note names a column of its table)",
            )
        status = (fields["obs_status"] or "").upper() or None
        if status and status not in OBS_STATUS:
            problem(
                "obs_status",
                f"status {fields['obs_status']!r} is not an observation status code "
                f"({', '.join(f'{k} {v}' for k, v in OBS_STATUS.items())}) (rule: ILOSTAT obs_status codes)",
            )
        if not status and not fields["note"]:
            problem("note", "the line gives neither a status nor a note (rule: a note line says something)")
        if len(problems) == before:
            out.append(Annotation(r, table.id, year, classif1, column, status, fields["note"]))
    return out


def apply_annotations(
    frame: pd.DataFrame,
    annotations: list[Annotation],
    tables: dict[str, TableSpec],
    problems: list[tuple[str, str, str]],
) -> pd.DataFrame:
    """Set `obs_status` and `note` of the values each annotation matches (`frame`: the tidy frame, table_id
    included); an annotation matching no value, or two statuses for one value, is a problem."""
    if not annotations:
        return frame
    frame = frame.copy()
    status_line: dict[int, int] = {}
    cell_notes: dict[int, str] = {}
    value_notes: dict[int, list[str]] = {}
    column_code = frame["sex"].where(frame["classif2"].isna(), frame["sex"] + " " + frame["classif2"].fillna(""))
    for a in annotations:
        mask = frame["table_id"] == a.table_id
        if a.year is not None:
            mask &= frame["time"] == a.year
        if a.classif1 is not None:
            mask &= frame["classif1"] == a.classif1
        if a.column is not None:
            mask &= column_code == a.column
        rows = frame.index[mask.fillna(False).to_numpy(dtype=bool)]
        if len(rows) == 0:
            problems.append(
                (
                    NOTES_SHEET,
                    f"A{a.line}",
                    f"no value of table {a.table_id} matches this line (year "
                    f"{a.year or 'any'}, category {a.classif1 or 'any'}, column {a.column or 'any'}): a note "
                    "needs a value; type '..' in a cell whose figure is not available (rule: a note speaks of values)",
                )
            )
            continue
        for i in rows:
            if a.obs_status:
                if i in status_line and frame.at[i, "obs_status"] != a.obs_status:
                    problems.append(
                        (
                            NOTES_SHEET,
                            f"E{a.line}",
                            f"status {a.obs_status} of cell {frame.at[i, 'cell']} "
                            f"contradicts line {status_line[i]} (rule: one status per value)",
                        )
                    )
                    break
                frame.at[i, "obs_status"], status_line[i] = a.obs_status, a.line
            if a.note and a.one_cell:
                cell_notes[i] = a.note
            elif a.note:
                value_notes.setdefault(i, []).append(a.note)
    for i in sorted(set(cell_notes) | set(value_notes)):
        marker = frame.at[i, "note"] if isinstance(frame.at[i, "note"], str) else None
        cell = "; ".join(n for n in (marker, cell_notes.get(i)) if n)
        frame.at[i, "note"] = join_notes(
            {"note_classif": cell or None, "note_indicator": "; ".join(value_notes.get(i, [])) or None}
        )
    return frame


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None
