"""The ILMQ table assets and their checks, generated from the registry: one asset per table, one check per
table (its rules in the check's metadata) and one for the whole submission, one multi-asset step per run.

The step reads the staged Parquet of each partition (the workbook was parsed, and its expectation suites
run, once by submission_file) and, in one warehouse transaction per partition, replaces exactly that
partition of every selected table, runs the SQL rules and records findings and verdict. A partition with
a blocking error is loaded (so it can be inspected) but quarantined: the models skip it.
"""

import warnings
from collections import Counter

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from ilms_dagster.assets.intake import submission_file
from ilms_dagster.checks import RULES, Validation, markdown, record, validate_submission, write_feedback
from ilms_dagster.intake import StagedSubmission
from ilms_dagster.partitions import BACKFILL_POLICY, partition_rounds_countries, submission_key, submission_partitions
from ilms_dagster.registry import TABLES, TableSpec
from ilms_dagster.resources import WAREHOUSE_POOL, IlmsStorage
from ilms_dagster.resources.warehouse import ensure_schema, publish_read_copy, replace_partition, transaction

PREVIEW_ROWS = 10


SUBMISSIONS_KEY = dg.AssetKey(["raw", "submissions"])


def table_key(table_id: str) -> dg.AssetKey:
    return dg.AssetKey(["ilmq", table_id])


def _describe(table: TableSpec) -> str:
    return (
        f"{table.title}. ILMQ sheet `{table.sheet}`; indicator(s) {', '.join(table.indicators)}; "
        f"family {table.family}; unit {table.unit}; rows by {table.classification} "
        f"({len(table.categories)} categories), columns by sex"
        + (f" x migratory status ({'/'.join(table.bases)})" if table.bases else "")
        + ". One row per non-blank cell: obs_value NULL with a note for '..' (not available) and 'x' (confidential)."
    )


TABLE_SPECS = [
    dg.AssetSpec(
        key=table_key(t.id),
        deps=[submission_file],
        description=_describe(t),
        group_name=f"ilmq_{t.family}",
        kinds={"duckdb"},
        owners=["team:data-engineering"],
        tags={"family": t.family},
        metadata={"indicators": ", ".join(t.indicators), "sheet": t.sheet, "dagster/table_name": f"ilmq.{t.id}"},
        skippable=True,
    )
    for t in TABLES.values()
] + [
    dg.AssetSpec(
        key=SUBMISSIONS_KEY,
        deps=[submission_file],
        description="One row per received ILMQ workbook loaded into the warehouse: sha256, original name, size, "
        "time received, archive path and the Metadata sheet (focal point, submission date, template version).",
        group_name="intake",
        kinds={"duckdb"},
        owners=["team:data-engineering"],
        metadata={"dagster/table_name": "raw.submissions"},
        skippable=True,
    )
]


TABLE_CHECK, SUBMISSION_CHECK = "validation", "submission_validation"


def _rules_of(table: TableSpec) -> list[str]:
    return [rule.name for rule in RULES.values() if rule.applies(table)]


def _check_specs() -> list[dg.AssetCheckSpec]:
    """One blocking check per ILMQ table (every rule that applies to it, rules listed in its metadata) and one
    on raw/submissions for the whole submission (cross-table rules included), partitioned like the tables (a
    "preview" feature in Dagster 1.13, and the one that shows results per round x country). Each check costs
    ~3 events per partition, so one per table, not one per rule and table (docs/performance.md)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        specs = [
            dg.AssetCheckSpec(
                TABLE_CHECK,
                asset=table_key(t.id),
                description=f"Validation of {t.id}: " + ", ".join(_rules_of(t)) + ". Errors block the partition; "
                "the metadata lists every rule with its errors and warnings and the offending cells.",
                blocking=True,
                partitions_def=submission_partitions,
            )
            for t in TABLES.values()
        ]
        return specs + [dg.AssetCheckSpec(
            SUBMISSION_CHECK,
            asset=SUBMISSIONS_KEY,
            description="The submission's verdict over every rule and table, cross-table rules included (employment "
            "<= labour force <= population, one total per quantity): an error blocks the partition.",
            blocking=True,
            partitions_def=submission_partitions,
        )]  # fmt: skip


@dg.multi_asset(
    specs=TABLE_SPECS,
    check_specs=_check_specs(),
    partitions_def=submission_partitions,
    can_subset=True,
    pool=WAREHOUSE_POOL,
    backfill_policy=BACKFILL_POLICY,
    name="ilmq_tables",
)
def ilmq_tables(context: dg.AssetExecutionContext, storage: IlmsStorage, warehouse: DuckDBResource):
    selected = [key.path[-1] for key in context.selected_asset_keys if key != SUBMISSIONS_KEY]
    partitions = partition_rounds_countries(context)
    staged = {pair: StagedSubmission.load(storage, *pair) for pair in partitions}  # fail before writing
    totals = {t: {"rows": 0, "filled_cells": 0, "marked_missing_cells": 0, "blank_cells": 0} for t in selected}
    validations: dict[tuple[str, str], Validation] = {}
    reports = {}
    with warehouse.get_connection() as conn:
        ensure_schema(conn)
        for (round_, country), sub in staged.items():
            parquet = {t: p for t, p in sub.parquet_by_table.items() if t in selected}
            with transaction(conn):
                replace_partition(conn, round_, country, parquet, sub.submission)
                validation = validate_submission(conn, sub)
                record(conn, validation)
            validations[(round_, country)] = validation
            reports[(round_, country)] = write_feedback(storage.feedback, validation)  # once committed
            for t in selected:
                for stat, value in sub.stats[t].items():
                    totals[t][stat] += value
        previews = {t: _preview(conn, t, partitions) for t in selected}
        publish_read_copy(conn)  # analysts see the loads just committed
    context.log.info("\n".join(f"{c} {r}: replaced {len(selected)} tables from {staged[(r, c)].submission['original_name']}; "
                                f"validation {v.verdict}" for (r, c), v in validations.items()))  # fmt: skip
    if SUBMISSIONS_KEY in context.selected_asset_keys:
        yield dg.MaterializeResult(
            asset_key=SUBMISSIONS_KEY,
            metadata={"submissions": dg.MetadataValue.md("\n".join(
                f"- {c} {r}: `{s.submission['original_name']}` sha256 `{s.submission['sha256'][:12]}`, "
                f"validation {validations[(r, c)].verdict}" for (r, c), s in staged.items()))},
        )  # fmt: skip
    for t in selected:
        yield dg.MaterializeResult(
            asset_key=table_key(t),
            metadata={
                "dagster/row_count": totals[t]["rows"],
                **totals[t],
                "partitions_loaded": len(partitions),
                "completeness_pct": round(
                    100 * totals[t]["filled_cells"] / (totals[t]["rows"] + totals[t]["blank_cells"] or 1), 1
                ),
                "preview": dg.MetadataValue.md(previews[t]),
            },
        )
    for check_key in context.selected_asset_check_keys:  # evaluations, not results: no step output per check
        for (round_, country), validation in validations.items():
            yield _check_evaluation(check_key, round_, country, validation, reports[(round_, country)])


def _check_evaluation(key: dg.AssetCheckKey, round_: str, country: str, v: Validation, report) -> dg.AssetCheckEvaluation:
    """A table's check (or the submission's) on one partition: its findings, and a row per rule."""
    if key.name == SUBMISSION_CHECK:
        found, rules, what = v.findings, list(RULES), "the submission"
    else:
        table_id = key.asset_key.path[-1]
        found, rules, what = v.findings[v.findings["table_id"] == table_id], _rules_of(TABLES[table_id]), table_id
    severities = Counter(found["severity"])
    errors, warns, reviewed = severities["error"], severities["warning"], severities["reviewed"]
    return dg.AssetCheckEvaluation(
        asset_key=key.asset_key,
        check_name=key.name,
        partition=str(submission_key(round_, country)),
        blocking=True,
        passed=not errors and not warns,  # errors accepted on review do not fail the check
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        description=f"{country} {round_}, {what}: {errors} error(s), {warns} warning(s)"
        + (f", {reviewed} error(s) accepted on review" if reviewed else "") + f"; submission {v.verdict}.",
        metadata={
            "errors": errors,
            "warnings": warns,
            "rules": dg.MetadataValue.md(_rules_table(found, rules)),
            "findings": dg.MetadataValue.md(markdown(found)),
            "feedback_report": dg.MetadataValue.path(str(report)),
        },
    )


def _rules_table(findings: pd.DataFrame, rules: list[str]) -> str:
    """A Markdown row per rule: passed, or its errors and warnings (what a check shows in the UI)."""
    counts = Counter(zip(findings["check_name"], findings["severity"])) if len(findings) else Counter()
    lines = ["| rule | blocking | result | errors | warnings | reviewed |", "|---|---|---|---|---|---|"]
    for name in rules:
        errors, warns, reviewed = (counts[(name, s)] for s in ("error", "warning", "reviewed"))
        result = "failed" if errors else "warnings" if warns else "accepted on review" if reviewed else "passed"
        lines.append(f"| {name} | {'yes' if RULES[name].blocking else 'no'} | {result} | {errors} | {warns} | {reviewed} |")
    return "\n".join(lines)


def _preview(conn, table_id: str, partitions: list[tuple[str, str]]) -> str:
    round_, country = partitions[0]
    frame: pd.DataFrame = conn.execute(
        f"SELECT ref_area, round, indicator, sex, classif1, classif2, time, obs_value, note, cell FROM ilmq.{table_id}"
        " WHERE round = ? AND ref_area = ? ORDER BY time, cell LIMIT ?",
        [int(round_), country, PREVIEW_ROWS],
    ).df()
    if frame.empty:
        return f"{country} {round_}: table not reported (no values in sheet `{table_id}`)."
    return f"First rows of {country} {round_}:\n\n" + frame.to_markdown(index=False)
