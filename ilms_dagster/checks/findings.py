"""Findings of the validation of one submission: recorded in the warehouse, reported to the focal point.

`validation.findings` keeps every finding of every submission (re-checking a submission replaces its own);
`validation.partition_status` gets one row per check run, whose latest row decides whether the partition
feeds the models (errors = 0 for the submission loaded).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from ilms_dagster.registry import TABLES

FINDING_COLUMNS = ["table_id", "cell", "check_name", "rule", "severity", "expected", "found", "message"]
SEVERITY_ORDER = {"error": 0, "warning": 1, "reviewed": 2}  # reviewed: an error accepted by a reviewer
_REPORT_COLUMNS = [("severity", "Severity", 10), ("table_id", "Table", 26), ("sheet", "Sheet", 26), ("cell", "Cell", 8),
                   ("rule", "Rule", 24), ("expected", "Expected", 22), ("found", "Found", 16), ("message", "Message", 100)]  # fmt: skip


@dataclass
class Validation:
    """The verdict on one submission: its findings (FINDING_COLUMNS + sheet), sorted errors first."""

    round: int
    ref_area: str
    submission: dict
    findings: pd.DataFrame
    checked_at: datetime

    def __post_init__(self):
        frame = self.findings.assign(sheet=self.findings["table_id"].map(lambda t: TABLES[t].sheet))
        order = frame["severity"].map(SEVERITY_ORDER)
        self.findings = frame.assign(_o=order).sort_values(["_o", "table_id", "check_name", "rule", "cell"],
                                                           kind="stable").drop(columns="_o").reset_index(drop=True)  # fmt: skip

    @property
    def sha256(self) -> str:
        return self.submission["sha256"]

    @property
    def errors(self) -> int:
        return int((self.findings["severity"] == "error").sum())

    @property
    def warnings(self) -> int:
        return int((self.findings["severity"] == "warning").sum())

    @property
    def reviewed(self) -> int:
        return int((self.findings["severity"] == "reviewed").sum())

    @property
    def verdict(self) -> str:
        if self.errors:
            return f"blocked: {self.errors} error(s) to correct before the data can be used"
        notes = [f"{self.warnings} warning(s) to confirm"] * bool(self.warnings)
        notes += [f"{self.reviewed} error(s) accepted on review"] * bool(self.reviewed)
        return "accepted" + (", with " + " and ".join(notes) if notes else "")

    def of(self, table_id: str, check_name: str) -> pd.DataFrame:
        f = self.findings
        return f[(f["table_id"] == table_id) & (f["check_name"] == check_name)]


def record(conn: duckdb.DuckDBPyConnection, v: Validation) -> None:
    """Write the findings and the partition status (call inside the partition's load transaction)."""
    conn.execute("DELETE FROM validation.findings WHERE round = ? AND ref_area = ? AND submission_sha256 = ?",
                 [v.round, v.ref_area, v.sha256])  # fmt: skip
    rows = v.findings.assign(round=v.round, ref_area=v.ref_area, submission_sha256=v.sha256, checked_at=v.checked_at)
    conn.register("_findings", rows)
    try:
        conn.execute("INSERT INTO validation.findings BY NAME SELECT * FROM _findings")
    finally:
        conn.unregister("_findings")
    conn.execute("INSERT INTO validation.partition_status VALUES (?, ?, ?, ?, ?, ?)",
                 [v.round, v.ref_area, v.sha256, v.errors, v.warnings, v.checked_at])  # fmt: skip


def feedback_path(feedback_dir: Path, round_: str | int, ref_area: str, sha256: str) -> Path:
    """Where the focal point's report on one submission is written."""
    return Path(feedback_dir) / str(round_) / f"{ref_area}_feedback_{sha256[:12]}.xlsx"


def write_feedback(feedback_dir: Path, v: Validation) -> Path:
    """The focal point's report: a Summary sheet (verdict, counts by rule) and every finding with its cell."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    ws["A1"] = f"ILMQ validation feedback: {v.ref_area}, round {v.round}"
    ws["A1"].font = Font(bold=True, size=14)
    facts = [("File", v.submission.get("original_name")), ("sha256", v.sha256),
             ("Received", str(v.submission.get("received_at"))), ("Checked", v.checked_at.isoformat(timespec="seconds")),
             ("Verdict", v.verdict), ("Errors (must be corrected)", v.errors), ("Warnings (please confirm)", v.warnings)]  # fmt: skip
    for i, (label, value) in enumerate(facts, start=3):
        ws.cell(i, 1, label).font = Font(bold=True)
        ws.cell(i, 2, value)
    first = len(facts) + 5
    for j, head in enumerate(("Rule", "Severity", "Findings"), start=1):
        ws.cell(first - 1, j, head).font = Font(bold=True)
    counts = v.findings.groupby(["rule", "severity"], sort=False).size()
    for i, ((rule, severity), n) in enumerate(counts.items(), start=first):
        ws.cell(i, 1, rule), ws.cell(i, 2, severity), ws.cell(i, 3, int(n))
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width = 30, 70

    ws = wb.create_sheet("Findings")
    fill = {"error": PatternFill("solid", fgColor="F8D7DA"), "warning": PatternFill("solid", fgColor="FFF3CD"),
            "reviewed": PatternFill("solid", fgColor="E2E3E5")}  # fmt: skip
    for j, (_, head, width) in enumerate(_REPORT_COLUMNS, start=1):
        ws.cell(1, j, head).font = Font(bold=True)
        ws.column_dimensions[ws.cell(1, j).column_letter].width = width
    for i, row in enumerate(v.findings.itertuples(index=False), start=2):
        for j, (key, _, _) in enumerate(_REPORT_COLUMNS, start=1):
            ws.cell(i, j, getattr(row, key))
        ws.cell(i, 1).fill = fill[row.severity]
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:H{max(2, len(v.findings) + 1)}"

    path = feedback_path(feedback_dir, v.round, v.ref_area, v.sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    wb.save(tmp)
    os.replace(tmp, path)
    return path


def markdown(findings: pd.DataFrame, limit: int = 20) -> str:
    """A Markdown table of findings for the Dagster UI (the feedback workbook has them all)."""
    if findings.empty:
        return "No findings."
    shown = findings.head(limit)[["severity", "sheet", "cell", "rule", "expected", "found", "message"]]
    more = f"\n\n... and {len(findings) - limit} more in the feedback workbook." if len(findings) > limit else ""
    return shown.to_markdown(index=False) + more

