"""Operations: the jobs, the annual schedule that opens a round, the inbox sensor, and the automation sensor
that rebuilds the models after new data. How to run them: docs/operations.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from ilms_dagster.assets import MODEL_ASSETS, ilmq_tables, submission_file
from ilms_dagster.intake.submissions import scan_inbox, sha256_of
from ilms_dagster.orchestration.recovery import sweep_dead_runs
from ilms_dagster.partitions import (
    COUNTRY,
    TIMEZONE,
    country_partitions,
    ensure_countries,
    round_partitions,
    submission_key,
)
from ilms_dagster.questionnaire.guards import quoted
from ilms_dagster.registry import REPORTING_COUNTRIES, deadline
from ilms_dagster.resources import IlmsStorage

ROUND_TAG, COUNTRY_TAG, SHA256_TAG = "ilms/round", "ilms/country", "ilms/sha256"

ingest_job = dg.define_asset_job(
    "ingest_submissions",
    selection=dg.AssetSelection.assets(submission_file, ilmq_tables),  # partitioned like its assets
    description="Archive, parse and load ILMQ submissions into the warehouse, per round x country.",
)

models_job = dg.define_asset_job(
    "build_models",
    selection=dg.AssetSelection.assets(*MODEL_ASSETS),
    description="Rebuild the SQL models of dbt_like_sql/ (staging and marts tables) from the accepted partitions.",
)

# The day after the registry's deadline, at 12:00 UTC: the deadline day has then ended everywhere on Earth
# (UTC-12), so a submission sent on time anywhere is already in the inbox. The schedule runs in the rounds'
# timezone, so the year of a tick is always an existing round partition.
_OPENING = deadline(2001) + timedelta(days=1)  # any year: the deadline is no 29 February
ANNUAL_CRON = f"0 12 {_OPENING.day} {_OPENING.month} *"


@dg.schedule(
    name="annual_round",
    job=ingest_job,
    cron_schedule=ANNUAL_CRON,
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Once a year, the day after the submission deadline: ingest the current year's round for every "
    "known country, one run per country (a country with no workbook fails alone, naming the missing file).",
)
def annual_round(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    when = (context.scheduled_execution_time or datetime.now(UTC)).astimezone(ZoneInfo(TIMEZONE))
    round_ = str(when.year)
    return [
        dg.RunRequest(
            run_key=f"{round_}|{country}",
            partition_key=submission_key(round_, country),
            tags={ROUND_TAG: round_, COUNTRY_TAG: country},
        )
        for country in ensure_countries(context.instance)
    ]


@dg.sensor(
    name="inbox_sensor",
    job=ingest_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches <inbox>/<round>/<ISO3>*.xlsx: a new or changed workbook (by sha256) requests a run for "
    "exactly its round x country partition; the same bytes seen again request nothing; a new country code becomes "
    "a new country partition. Cursor: JSON {'<round>|<country>': sha256 of the file last requested}.",
)
def inbox_sensor(context: dg.SensorEvaluationContext, storage: IlmsStorage) -> dg.SensorResult | dg.SkipReason:
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    sweep_dead_runs(context.instance, report=context.log.warning)  # a killed run must not hold the slot
    files, skipped = scan_inbox(storage.inbox, round_partitions.get_partition_keys())
    for reason in skipped:
        context.log.warning(f"skipped {reason}")
    known = set(context.instance.get_dynamic_partitions(COUNTRY))
    new_countries = [c for c in REPORTING_COUNTRIES if c not in known]
    requests = []
    for (round_, country), path in files.items():
        sha, key = sha256_of(path), f"{round_}|{country}"
        if seen.get(key) == sha:
            continue
        context.log.info(f"{key}: {quoted(path.name)} sha256={sha[:12]} is {'changed' if key in seen else 'new'}")
        seen[key] = sha
        if country not in known and country not in new_countries:
            new_countries.append(country)
        requests.append(
            dg.RunRequest(
                run_key=f"{key}|{sha[:12]}",
                partition_key=submission_key(round_, country),
                tags={ROUND_TAG: round_, COUNTRY_TAG: country, SHA256_TAG: sha, "ilms/file": path.name},
            )
        )
    if not requests and not new_countries:
        return dg.SkipReason(
            f"{len(files)} submission(s) in {storage.inbox}, none new or changed"
            + (f"; {len(skipped)} file(s) skipped: " + "; ".join(skipped) if skipped else "")
        )
    if not requests:  # only the reporting countries to register: still say what was skipped
        return dg.SensorResult(
            cursor=json.dumps(seen, sort_keys=True),
            skip_reason=dg.SkipReason(
                f"no new or changed submission; {len(skipped)} file(s) skipped: " + "; ".join(skipped)
            )
            if skipped
            else None,
            dynamic_partitions_requests=[country_partitions.build_add_request(new_countries)],
        )
    return dg.SensorResult(
        run_requests=requests,
        cursor=json.dumps(seen, sort_keys=True),
        dynamic_partitions_requests=[country_partitions.build_add_request(new_countries)] if new_countries else None,
    )


models_automation_sensor = dg.AutomationConditionSensorDefinition(
    "models_after_new_data",
    target=dg.AssetSelection.assets(*MODEL_ASSETS),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    emit_backfills=False,
    description="Evaluates the models' automation condition: once new ILMQ data has landed and no ingestion is "
    "in progress, rebuild the staging and marts models (one run for all of them, upstream first).",
)
