"""The ILMQ table assets and their checks, generated from the registry: one asset per table, one check per
table (its rules in the check's metadata) and one for the whole submission, one multi-asset step per run.

The step reads the staged Parquet of each partition (the workbook was parsed, and its expectation suites
run, once by submission_file) and, in one warehouse transaction per partition, replaces exactly that
partition of every selected table, runs the SQL rules and records findings and verdict. A partition with
a blocking error is loaded (so it can be inspected) but quarantined: the models skip it.
"""

import warnings
from collections import Counter
from functools import cache

import dagster as dg
import pandas as pd
from dagster._core.storage.tags import RETRY_ON_ASSET_OR_OP_FAILURE_TAG
from dagster_duckdb import DuckDBResource
from tabulate import tabulate

from ilms_dagster.assets.submission_file import submission_file
from ilms_dagster.checks import (
    RULES,
    Validation,
    markdown,
    record,
    severity_counts,
    validate_submission,
    write_feedback,
)
from ilms_dagster.intake.submissions import StagedSubmission
from ilms_dagster.orchestration.dagster_workarounds import range_check_evaluations
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
# Dagster's run tag overriding the instance's `run_retries.retry_on_asset_or_op_failure` for one run
NO_RETRY_ON_STEP_FAILURE = {RETRY_ON_ASSET_OR_OP_FAILURE_TAG: "false"}


@cache
def _rules_of(table_id: str) -> list[str]:
    return [rule.name for rule in RULES.values() if rule.applies(TABLES[table_id])]


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
                description=f"Validation of {t.id}: " + ", ".join(_rules_of(t.id)) + ". Errors block the partition; "
                "the metadata lists every rule with its errors and warnings and the offending cells.",
                blocking=True,
                partitions_def=submission_partitions,
            )
            for t in TABLES.values()
        ]
        return specs + [
            dg.AssetCheckSpec(
                SUBMISSION_CHECK,
                asset=SUBMISSIONS_KEY,
                description="The submission's verdict over every rule and table, cross-table rules included (employment "
                "<= labour force <= population, one total per quantity): an error blocks the partition.",
                blocking=True,
                partitions_def=submission_partitions,
            )
        ]


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
        previews = {t: _preview(conn, t, partitions) for t in selected}
        publish_read_copy(conn)  # analysts see the loads just committed
    context.log.info(
        "\n".join(
            f"{c} {r}: replaced {len(selected)} tables from {staged[(r, c)].submission['original_name']}; "
            f"validation {v.verdict}"
            for (r, c), v in validations.items()
        )
    )
    by_table = {pair: _findings_by_table(v) for pair, v in validations.items()}
    evaluations = [
        _check_evaluation(
            check_key, round_, country, validation, by_table[(round_, country)], reports[(round_, country)]
        )
        for check_key in context.selected_asset_check_keys
        for (round_, country), validation in validations.items()
    ]
    blocked = _blocked_partitions(evaluations)
    if blocked:
        context.log.error(
            "blocked by validation (loaded, quarantined from the models, not recorded as materialized):\n"
            + "\n".join(
                f"{key.to_user_string()}: {', '.join(sorted(p))}"
                for key, p in sorted(blocked.items(), key=lambda kv: kv[0].to_user_string())
            )
        )
        # The step fails after these events; a retry would block the same workbooks again (a corrected one comes
        # as a new run): run retries (deploy/dagster.yaml) are for runs that died, not for validation.
        context.instance.add_run_tags(context.run_id, NO_RETRY_ON_STEP_FAILURE)
    if SUBMISSIONS_KEY in context.selected_asset_keys:
        yield from _materialized(
            SUBMISSIONS_KEY,
            partitions,
            blocked,
            lambda pairs: {
                "submissions": dg.MetadataValue.md(
                    "\n".join(
                        f"- {c} {r}: `{staged[(r, c)].submission['original_name']}` sha256 `{staged[(r, c)].submission['sha256'][:12]}`, "
                        f"validation {validations[(r, c)].verdict}"
                        for r, c in pairs
                    )
                )
            },
        )
    for t in selected:
        yield from _materialized(
            table_key(t),
            partitions,
            blocked,
            lambda pairs, t=t: _table_metadata({p: staged[p].stats[t] for p in pairs}, previews[t]),
        )
    # A failed blocking check fails the step (Dagster raises after the step's events), so the run, and the
    # backfill, of a blocked partition fail, and its planned but unrecorded partitions show as failed. A run of one
    # partition reports check results, which Dagster targets at the partition's latest materialization (the one
    # just recorded, or an earlier run's for a blocked one); a range run reports evaluations targeted the same way
    # (AssetCheckResult has no partition: orchestration/dagster_workarounds.py).
    if context.has_partition_key_range:
        yield from range_check_evaluations(context.instance, evaluations)
    else:
        yield from (_check_result(e) for e in evaluations)


def _check_result(e: dg.AssetCheckEvaluation) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=e.asset_key,
        check_name=e.check_name,
        passed=e.passed,
        severity=e.severity,
        description=e.description,
        metadata=e.metadata,
    )


def _blocked_partitions(evaluations: list[dg.AssetCheckEvaluation]) -> dict[dg.AssetKey, set[str]]:
    """{asset: partition keys} whose blocking check failed with an error: those partitions are loaded (to be
    inspected) but not recorded as materialized, so the UI and the backfill count them failed."""
    blocked: dict[dg.AssetKey, set[str]] = {}
    for e in evaluations:
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR:
            blocked.setdefault(e.asset_key, set()).add(e.partition)
    return blocked


def _materialized(key: dg.AssetKey, partitions: list[tuple[str, str]], blocked: dict, metadata):
    """One MaterializeResult for the run's partitions (Dagster records it for each: one event), or, when some are
    blocked for this asset, one AssetMaterialization per partition that is not."""
    if key not in blocked:
        yield dg.MaterializeResult(asset_key=key, metadata=metadata(partitions))
        return
    for pair in partitions:
        partition = str(submission_key(*pair))
        if partition not in blocked[key]:
            yield dg.AssetMaterialization(asset_key=key, partition=partition, metadata=metadata([pair]))


def _table_metadata(stats: dict[tuple[str, str], dict], preview: str) -> dict:
    """A table's materialization: its cells over the partitions, and which partitions did not report it (no value
    in its sheet: loaded as zero rows, told apart from a reported table by `reported_partitions` / `not_reported`)."""
    totals = {
        stat: sum(s[stat] for s in stats.values())
        for stat in ("rows", "filled_cells", "marked_missing_cells", "blank_cells")
    }
    silent = [str(submission_key(*pair)) for pair, s in stats.items() if s["rows"] == 0]
    return {
        "dagster/row_count": totals["rows"],
        **totals,
        "partitions_loaded": len(stats),
        "reported_partitions": len(stats) - len(silent),
        "not_reported": ", ".join(silent) if silent else "none: every partition reported the table",
        "completeness_pct": round(100 * totals["filled_cells"] / (totals["rows"] + totals["blank_cells"] or 1), 1),
        "preview": dg.MetadataValue.md(preview),
    }


def _findings_by_table(v: Validation) -> dict[str, pd.DataFrame]:
    """The submission's findings split by table once (a partition has a check per table)."""
    return dict(tuple(v.findings.groupby("table_id", sort=False)))


def _check_evaluation(
    key: dg.AssetCheckKey, round_: str, country: str, v: Validation, by_table: dict[str, pd.DataFrame], report
) -> dg.AssetCheckEvaluation:
    """A table's check (or the submission's) on one partition: its findings, and a row per rule."""
    if key.name == SUBMISSION_CHECK:
        found, rules, what = v.findings, list(RULES), "the submission"
    else:
        table_id = key.asset_key.path[-1]
        found, rules, what = by_table.get(table_id, v.findings.iloc[0:0]), _rules_of(table_id), table_id
    severities = severity_counts(found)
    errors, warns, reviewed = severities["error"], severities["warning"], severities["reviewed"]
    return dg.AssetCheckEvaluation(
        asset_key=key.asset_key,
        check_name=key.name,
        partition=str(submission_key(round_, country)),
        blocking=True,
        passed=not errors and not warns,  # errors accepted on review do not fail the check
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        description=f"{country} {round_}, {what}: {errors} error(s), {warns} warning(s)"
        + (f", {reviewed} error(s) accepted on review" if reviewed else "")
        + f"; submission {v.verdict}.",
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
        lines.append(
            f"| {name} | {'yes' if RULES[name].blocking else 'no'} | {result} | {errors} | {warns} | {reviewed} |"
        )
    return "\n".join(lines)


def _preview(conn, table_id: str, partitions: list[tuple[str, str]]) -> str:
    """The first rows of the run's first partition as a Markdown table."""
    round_, country = partitions[0]
    table = rows_markdown(
        conn.execute(
            f"SELECT ref_area, round, indicator, sex, classif1, classif2, time, obs_value, note, cell FROM ilmq.{table_id}"
            " WHERE round = ? AND ref_area = ? ORDER BY time, cell LIMIT ?",
            [int(round_), country, PREVIEW_ROWS],
        )
    )
    if table is None:
        return f"{country} {round_}: table not reported (no values in sheet `{table_id}`)."
    return f"First rows of {country} {round_}:\n\n" + table


def rows_markdown(result) -> str | None:
    """A query's rows as a Markdown table (None when there are none), made from the rows themselves: a data
    frame per preview cost more than the rest of an asset's metadata."""
    rows = result.fetchall()
    return tabulate(rows, [c[0] for c in result.description], tablefmt="pipe") if rows else None
