"""Validation of ILMQ submissions: expectation suites (expectations/) and SQL rules (rules.yaml, sql/).

Both produce findings naming table, sheet, cell, rule, expected and found. The load step reports them as
Dagster asset checks (one per table and one per submission, per partition, the rules in their metadata), records them in `validation.findings` and the
partition's verdict in `validation.partition_status`, and writes the focal point's feedback workbook.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd

from ilms_dagster.checks.expectations import run_expectations
from ilms_dagster.checks.findings import Validation, feedback_path, markdown, record, severity_counts, write_feedback
from ilms_dagster.checks.reviews import apply_reviews
from ilms_dagster.checks.rules import RULES, Rule, run_sql_rules
from ilms_dagster.intake.submissions import StagedSubmission

__all__ = [
    "RULES",
    "Rule",
    "Validation",
    "feedback_path",
    "markdown",
    "record",
    "severity_counts",
    "run_expectations",
    "validate_submission",
    "write_feedback",
]


def validate_submission(conn: duckdb.DuckDBPyConnection, staged: StagedSubmission) -> Validation:
    """Every finding on a staged submission: its expectation findings (from staging) and the SQL rules."""
    round_, country = int(staged.submission["round"]), staged.submission["ref_area"]
    findings = pd.concat(
        [staged.expectation_findings(), run_sql_rules(conn, staged.parquet_by_table, round_, country)],
        ignore_index=True,
    )
    findings = apply_reviews(conn, round_, country, findings)  # errors a reviewer accepted are no longer errors
    return Validation(round_, country, staged.submission, findings, datetime.now(UTC).replace(tzinfo=None))
