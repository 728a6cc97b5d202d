"""Findings of the validation of one submission: recorded in the warehouse, reported to the focal point.

`validation.findings` keeps every finding of every submission (re-checking a submission replaces its own);
`validation.partition_status` gets one row per check run, whose latest row decides whether the partition
feeds the models (errors = 0 for the submission loaded).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

import duckdb
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from ilms_dagster.registry import CODE_LABELS, TABLES

FINDING_COLUMNS = ["table_id", "cell", "check_name", "rule", "severity", "expected", "found", "message"]
SEVERITY_ORDER = {"error": 0, "warning": 1, "reviewed": 2}  # reviewed: an error accepted by a reviewer
_REPORT_COLUMNS = [
    ("severity", "Severity", 10),
    ("table", "Table", 40),
    ("sheet", "Sheet", 26),
    ("cell", "Cell", 8),
    ("rule", "Rule", 24),
    ("expected", "Expected", 22),
    ("found", "Found", 16),
    ("message", "Message", 100),
    ("fix", "Suggested fix", 70),
]
_CODE = re.compile(r"\b[A-Z]{3}_[A-Z0-9]+(?:_[A-Z0-9-]+)*\b")
REJECTED_FIX = "Correct this in the workbook and send the whole workbook again: nothing of it was loaded."


def label_codes(text: object) -> object:
    """`text` with every registry code followed by its label: 'AGE_AGGREGATE_Y15-24' -> 'AGE_AGGREGATE_Y15-24 (15-24)'."""
    if not isinstance(text, str):
        return text
    return _CODE.sub(
        lambda m: f"{m.group(0)} ({CODE_LABELS[m.group(0)]})" if m.group(0) in CODE_LABELS else m.group(0), text
    )


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
        self.findings = (
            frame.assign(_o=order)
            .sort_values(["_o", "table_id", "check_name", "rule", "cell"], kind="stable")
            .drop(columns="_o")
            .reset_index(drop=True)
        )

    @property
    def sha256(self) -> str:
        return self.submission["sha256"]

    @cached_property
    def _severities(self) -> Counter:
        """Counted once: the findings are fixed when the Validation is made."""
        return severity_counts(self.findings)

    @property
    def errors(self) -> int:
        return self._severities["error"]

    @property
    def warnings(self) -> int:
        return self._severities["warning"]

    @property
    def reviewed(self) -> int:
        return self._severities["reviewed"]

    @cached_property
    def verdict(self) -> str:
        if self.errors:
            return f"blocked: {self.errors} error(s) to correct before the data can be used"
        notes = [f"{self.warnings} warning(s) to confirm"] * bool(self.warnings)
        notes += [f"{self.reviewed} error(s) accepted on review"] * bool(self.reviewed)
        return "accepted" + (", with " + " and ".join(notes) if notes else "")

    def of(self, table_id: str, check_name: str) -> pd.DataFrame:
        f = self.findings
        return f[(f["table_id"] == table_id) & (f["check_name"] == check_name)]


def severity_counts(findings: pd.DataFrame) -> Counter:
    """Findings by severity ("error", "warning", "reviewed"; 0 for one that does not occur)."""
    return Counter(findings["severity"])


def record(conn: duckdb.DuckDBPyConnection, v: Validation) -> None:
    """Write the findings and the partition status (call inside the partition's load transaction)."""
    conn.execute(
        "DELETE FROM validation.findings WHERE round = ? AND ref_area = ? AND submission_sha256 = ?",
        [v.round, v.ref_area, v.sha256],
    )
    rows = v.findings.assign(round=v.round, ref_area=v.ref_area, submission_sha256=v.sha256, checked_at=v.checked_at)
    conn.register("_findings", rows)
    try:
        conn.execute("INSERT INTO validation.findings BY NAME SELECT * FROM _findings")
    finally:
        conn.unregister("_findings")
    conn.execute(
        "INSERT INTO validation.partition_status VALUES (?, ?, ?, ?, ?, ?)",
        [v.round, v.ref_area, v.sha256, v.errors, v.warnings, v.checked_at],
    )


def feedback_path(feedback_dir: Path, round_: str | int, ref_area: str, sha256: str) -> Path:
    """Where the focal point's report on one submission is written."""
    return Path(feedback_dir) / str(round_) / f"{ref_area}_feedback_{sha256[:12]}.xlsx"


def write_feedback(feedback_dir: Path, v: Validation) -> Path:
    """The focal point's report: a Summary sheet (verdict, counts by rule) and every finding with its cell,
    codes with their labels and a suggested fix per rule."""
    from ilms_dagster.checks.rules import RULES

    facts = [
        ("File", v.submission.get("original_name")),
        ("sha256", v.sha256),
        ("Received", str(v.submission.get("received_at"))),
        ("Checked", v.checked_at.isoformat(timespec="seconds")),
        ("Verdict", v.verdict),
        ("Errors (must be corrected)", v.errors),
        ("Warnings (please confirm)", v.warnings),
    ]
    findings = v.findings.assign(
        table=v.findings["table_id"].map(lambda t: f"{TABLES[t].title} ({t})"),
        fix=v.findings["rule"].map(lambda r: RULES[r].fix if r in RULES else ""),
    )
    for column in ("expected", "found", "message"):
        findings[column] = findings[column].map(label_codes)
    return _save_report(
        feedback_path(feedback_dir, v.round, v.ref_area, v.sha256),
        f"ILMQ validation feedback: {v.ref_area}, round {v.round}",
        facts,
        findings,
    )


def rejection_path(feedback_dir: Path, round_: str | int, ref_area: str, sha256: str) -> Path:
    """Where the report on a workbook that could not be read as the template is written."""
    return Path(feedback_dir) / str(round_) / f"{ref_area}_rejected_{sha256[:12]}.xlsx"


def write_rejection(
    feedback_dir: Path, round_: str | int, ref_area: str, manifest: dict, problems: list[tuple[str, str, str]]
) -> Path:
    """The focal point's report on a rejected workbook: every problem the parser found, at its sheet and cell."""
    rules = [m.group(1) if (m := re.search(r"\(rule: ([^)]+)\)", msg)) else "template layout" for _, _, msg in problems]
    findings = pd.DataFrame(
        {
            "severity": "error",
            "table": [TABLES[s].title if s in TABLES else "" for s, _, _ in problems],
            "sheet": [s for s, _, _ in problems],
            "cell": [c for _, c, _ in problems],
            "rule": rules,
            "expected": None,
            "found": None,
            "message": [label_codes(m) for _, _, m in problems],
            "fix": REJECTED_FIX,
        }
    )
    facts = [
        ("File", manifest.get("original_name")),
        ("sha256", manifest.get("sha256")),
        ("Received", str(manifest.get("received_at"))),
        ("Verdict", f"rejected: {len(problems)} problem(s) to correct; the workbook was not loaded"),
    ]
    return _save_report(
        rejection_path(feedback_dir, round_, ref_area, manifest["sha256"]),
        f"ILMQ submission rejected: {ref_area}, round {round_}",
        facts,
        findings,
    )


def _save_report(path: Path, title: str, facts: list[tuple[str, object]], findings: pd.DataFrame) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    ws["A1"] = title
    ws["A1"].font = Font(bold=True, size=14)
    for i, (label, value) in enumerate(facts, start=3):
        ws.cell(i, 1, label).font = Font(bold=True)
        ws.cell(i, 2, value)
    first = len(facts) + 5
    for j, head in enumerate(("Rule", "Severity", "Findings", "Suggested fix"), start=1):
        ws.cell(first - 1, j, head).font = Font(bold=True)
    counts = findings.groupby(["rule", "severity"], sort=False).agg(n=("fix", "size"), fix=("fix", "first"))
    for i, ((rule, severity), row) in enumerate(counts.iterrows(), start=first):
        ws.cell(i, 1, rule), ws.cell(i, 2, severity), ws.cell(i, 3, int(row["n"])), ws.cell(i, 4, row["fix"])
    ws.column_dimensions["A"].width, ws.column_dimensions["B"].width, ws.column_dimensions["D"].width = 30, 70, 90

    ws = wb.create_sheet("Findings")
    fill = {
        "error": PatternFill("solid", fgColor="F8D7DA"),
        "warning": PatternFill("solid", fgColor="FFF3CD"),
        "reviewed": PatternFill("solid", fgColor="E2E3E5"),
    }
    for j, (_, head, width) in enumerate(_REPORT_COLUMNS, start=1):
        ws.cell(1, j, head).font = Font(bold=True)
        ws.column_dimensions[ws.cell(1, j).column_letter].width = width
    for i, row in enumerate(findings.itertuples(index=False), start=2):
        for j, (key, _, _) in enumerate(_REPORT_COLUMNS, start=1):
            value = getattr(row, key)
            ws.cell(i, j, None if value is None or value is pd.NA else value)
        ws.cell(i, 1).fill = fill[row.severity]
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{ws.cell(1, len(_REPORT_COLUMNS)).column_letter}{max(2, len(findings) + 1)}"
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
