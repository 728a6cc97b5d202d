"""submission_file: the workbook received for a partition, found in the inbox, archived, parsed and staged (no warehouse lock needed)."""

import dagster as dg

from ilms_dagster.checks.expectations import run_expectations
from ilms_dagster.checks.findings import write_rejection
from ilms_dagster.intake.submissions import (
    SAMPLES_WARNING,
    NoSubmission,
    archive,
    find_submission,
    inbox_is_empty,
    stage,
)
from ilms_dagster.partitions import BACKFILL_POLICY, partition_rounds_countries, submission_key, submission_partitions
from ilms_dagster.questionnaire.guards import quoted
from ilms_dagster.questionnaire.workbook import SubmissionError
from ilms_dagster.resources import IlmsStorage

# The failure of a run over several partitions names the partitions whose workbook was rejected, so that
# `ilms run` can load the others in a run of their own.
REJECTED_METADATA = "rejected_partitions"


@dg.asset(
    partitions_def=submission_partitions,
    group_name="intake",
    kinds={"excel", "parquet"},
    owners=["team:data-engineering"],
    backfill_policy=BACKFILL_POLICY,
    description="The ILMQ workbook received for a round x country: archived immutably (sha256), parsed with "
    "python-calamine behind hard limits (ilms_dagster/questionnaire/guards.py), checked against the expectation suites of its tables and staged as one Parquet file per ILMQ "
    "table. A bad workbook fails here, naming file, "
    "sheet and cell, before anything reaches the warehouse.",
)
def submission_file(context: dg.AssetExecutionContext, storage: IlmsStorage) -> dg.MaterializeResult:
    summary, failures, rejected = [], [], []
    if inbox_is_empty(storage.inbox):
        context.log.warning(SAMPLES_WARNING.format(inbox=quoted(str(storage.inbox))))
    reports = []
    for round_, country in partition_rounds_countries(context):
        manifest = None
        try:
            received = find_submission(storage, round_, country)
            manifest = archive(storage, received)
            staged = stage(storage, round_, country, manifest, expectations=run_expectations)
        except (NoSubmission, SubmissionError) as exc:
            message = str(exc)
            if isinstance(exc, SubmissionError) and manifest is not None:  # the focal point's report, in one pass
                reports.append(write_rejection(storage.feedback, round_, country, manifest, exc.problems))
                message += f"\n  feedback workbook: {reports[-1]}"
            context.log.error(message)
            failures.append(message)
            rejected.append(str(submission_key(round_, country)))
            continue
        rows = sum(s["rows"] for s in staged.stats.values())
        summary.append(
            (
                country,
                round_,
                quoted(received.name),
                manifest["sha256"][:12],
                rows,
                "already received" if manifest["already_received"] else "archived",
            )
        )
    if summary:  # one log event per step, not one per partition (events cost: docs/performance.md)
        context.log.info(
            "\n".join(f"{c} {r}: {name} sha256={sha} {how}, {n} values staged" for c, r, name, sha, n, how in summary)
        )
    if failures:
        metadata = {REJECTED_METADATA: ", ".join(rejected)}
        metadata |= {
            f"feedback_report_{i}" if i else "feedback_report": dg.MetadataValue.path(str(path))
            for i, path in enumerate(reports)
        }
        raise dg.Failure(description="\n\n".join(failures), allow_retries=False, metadata=metadata)
    table = "| country | round | file | sha256 | values |\n|---|---|---|---|---|\n" + "\n".join(
        "| " + " | ".join(str(v) for v in row[:5]) + " |" for row in summary
    )
    return dg.MaterializeResult(
        metadata={
            "partitions": len(summary),
            "values": sum(r[4] for r in summary),
            "submissions": dg.MetadataValue.md(table),
        }
    )
