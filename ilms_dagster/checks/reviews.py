"""Review of findings: a statistician accepts an error as a known source inconsistency, with a reason, who and
when, and the partition (or the table) is unblocked without changing any value.

A review covers one finding: a round, country, table, rule, cell and the value found there. The same figure in
a later resubmission stays accepted; a changed figure is a new finding, to be reviewed again. Reviews are kept
in `validation.reviews`; a reviewed finding is recorded with severity `reviewed` (never `error`), so the
partition's verdict, its checks and the models count only the open errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd

REVIEW_KEY = ["table_id", "rule", "cell", "found"]


class ReviewError(ValueError):
    """A review that cannot be recorded: nothing to review, or nothing matches."""


@dataclass(frozen=True)
class Review:
    round: int
    ref_area: str
    table_id: str
    rule: str
    cell: str | None  # None: every open error of the rule in the table
    reason: str
    reviewer: str


def apply_reviews(conn: duckdb.DuckDBPyConnection, round_: int, ref_area: str, findings: pd.DataFrame) -> pd.DataFrame:
    """The findings with the errors a review covers turned into severity `reviewed`."""
    reviews = conn.execute(
        "SELECT table_id, rule, cell, found FROM validation.reviews WHERE round = ? AND ref_area = ?",
        [int(round_), ref_area],
    ).fetchall()
    if not reviews or findings.empty:
        return findings
    covered = set(reviews)
    keys = zip(*(findings[c].where(findings[c].notna(), None) for c in REVIEW_KEY), strict=True)
    hit = [(k in covered) and severity == "error" for k, severity in zip(keys, findings["severity"], strict=True)]
    return findings.assign(severity=findings["severity"].mask(pd.Series(hit, index=findings.index), "reviewed"))


def accept(conn: duckdb.DuckDBPyConnection, review: Review) -> pd.DataFrame:
    """Record the review of the open errors it names, in the partition's latest submission, in one transaction:
    the review rows, those findings as `reviewed`, and a new verdict row for the partition. Returns the findings
    accepted; raises ReviewError (warehouse unchanged) when there are none."""
    latest = conn.execute(
        "SELECT submission_sha256, checked_at FROM validation.partition_status WHERE round = ? AND ref_area = ?"
        " ORDER BY checked_at DESC LIMIT 1",
        [review.round, review.ref_area],
    ).fetchone()
    if latest is None:
        raise ReviewError(f"{review.ref_area} {review.round}: no submission has been checked for this partition")
    sha, last_checked = latest
    where = (
        "round = ? AND ref_area = ? AND submission_sha256 = ? AND severity = 'error' AND table_id = ? AND rule = ?"
        + (" AND cell = ?" if review.cell else "")
    )
    params = [review.round, review.ref_area, sha, review.table_id, review.rule] + ([review.cell] if review.cell else [])
    found = conn.execute(
        f"SELECT table_id, rule, cell, found, message FROM validation.findings WHERE {where} ORDER BY cell", params
    ).df()
    if found.empty:
        open_ = conn.execute(
            "SELECT DISTINCT table_id || ' ' || rule || coalesce(' ' || cell, '') FROM validation.findings"
            " WHERE round = ? AND ref_area = ? AND submission_sha256 = ? AND severity = 'error' ORDER BY 1",
            [review.round, review.ref_area, sha],
        ).fetchall()
        raise ReviewError(
            f"{review.ref_area} {review.round}: no open error of rule {review.rule!r} in table {review.table_id!r}"
            + (f" at cell {review.cell}" if review.cell else "")
            + " in the latest submission; open errors: "
            + (", ".join(r[0] for r in open_) or "none")
        )
    # the verdict after the review must be the partition's latest, whatever clock wrote the one before
    now = max(datetime.now(UTC).replace(tzinfo=None), last_checked + timedelta(microseconds=1))
    conn.execute("BEGIN TRANSACTION")
    try:
        for row in found.itertuples(index=False):
            conn.execute(
                "INSERT INTO validation.reviews VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    review.round,
                    review.ref_area,
                    row.table_id,
                    row.rule,
                    row.cell,
                    row.found,
                    review.reason,
                    review.reviewer,
                    now,
                ],
            )
        conn.execute(f"UPDATE validation.findings SET severity = 'reviewed' WHERE {where}", params)
        conn.execute(
            "INSERT INTO validation.partition_status SELECT ?, ?, ?, count(*) FILTER (severity = 'error'),"
            " count(*) FILTER (severity = 'warning'), ? FROM validation.findings"
            " WHERE round = ? AND ref_area = ? AND submission_sha256 = ?",
            [review.round, review.ref_area, sha, now, review.round, review.ref_area, sha],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def open_errors(conn: duckdb.DuckDBPyConnection, round_: int, ref_area: str) -> pd.DataFrame:
    """The errors of the partition's latest submission no review covers."""
    return conn.execute(
        "SELECT f.table_id, f.rule, f.cell, f.found, f.message FROM validation.findings AS f"
        " WHERE f.round = ? AND f.ref_area = ? AND f.severity = 'error' AND f.submission_sha256 = ("
        "   SELECT submission_sha256 FROM validation.partition_status WHERE round = ? AND ref_area = ?"
        "   ORDER BY checked_at DESC LIMIT 1) ORDER BY f.table_id, f.rule, f.cell",
        [int(round_), ref_area, int(round_), ref_area],
    ).df()
