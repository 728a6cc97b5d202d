"""Intake: find a partition's workbook in the inbox, archive it immutably, parse and stage it.

Everything here happens outside the warehouse lock: parsing (and the per-table expectation suites) is the
slow part, so it is done once per partition and staged as Parquet; the warehouse load (assets/ilmq.py)
then only copies staged files and runs the quick SQL rules.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ilms_dagster.questionnaire.guards import FileRejected, check_regular_file, quoted, read_bounded
from ilms_dagster.questionnaire.workbook import SubmissionError, parse_workbook
from ilms_dagster.registry import ROUNDS
from ilms_dagster.resources.storage import IlmsStorage

EXPECTATION_FINDINGS = "expectation_findings.parquet"


class NoSubmission(LookupError):
    """No workbook was received for a round x country partition."""


_ISO3_PREFIX = re.compile(r"([A-Z]{3})(?![A-Z])")
WORKBOOK_SUFFIX = ".xlsx"  # in any letter case: `THA.XLSX` is the same format
# Formats a focal point may send by mistake: rejected by name, saying what to do.
REFUSED_SUFFIXES = {
    ".xlsm": "a macro-enabled workbook (.xlsm); save it as an Excel Workbook (.xlsx)",
    ".xls": "an old-format Excel file (.xls); save it as an Excel Workbook (.xlsx)",
    ".xlsb": "a binary Excel workbook (.xlsb); save it as an Excel Workbook (.xlsx)",
    ".ods": "an OpenDocument spreadsheet (.ods); save it as an Excel Workbook (.xlsx)",
    ".csv": "a CSV file; fill in the ILMQ template (.xlsx) instead",
}
SAMPLES_WARNING = (
    "THE INBOX {inbox} IS EMPTY: loading the BUNDLED SAMPLE submissions (made-up figures for "
    "development), not real data"
)


def _iso3(name: str) -> str | None:
    found = _ISO3_PREFIX.match(name.upper())
    return found.group(1) if found and not name.startswith("~$") else None


def country_of(path: Path) -> str | None:
    """The ISO3 code a workbook's name starts with (`THA_ILMQ_2024.xlsx`, `tha.XLSX` -> THA), or None for
    any other name (`Thailand.xlsx`), any other format and Excel's `~$` lock files."""
    return _iso3(path.name) if path.suffix.lower() == WORKBOOK_SUFFIX else None


def newest(paths: list[Path]) -> Path:
    """The file that counts when several were dropped for one partition: the last modified."""
    return max(paths, key=lambda p: (p.stat().st_mtime_ns, p.name))


def inbox_is_empty(inbox: Path) -> bool:
    """True when nothing at all (no file of any kind, at any depth) is in the inbox: only then do the bundled
    samples stand in for submissions. Symlinked folders are not followed."""
    if not inbox.is_dir():
        return True
    for _, dirs, files in os.walk(inbox, followlinks=False):
        if files or any(os.path.islink(os.path.join(_, d)) for d in dirs):
            return False
    return True


def _entries(folder: Path) -> list[Path]:
    """The names in a folder (not followed, not opened), Excel's lock files left out."""
    try:
        with os.scandir(folder) as found:
            return sorted(Path(e.path) for e in found if not e.name.startswith("~$"))
    except (FileNotFoundError, NotADirectoryError):
        return []


def refusal(path: Path, inbox: Path) -> str | None:
    """Why an inbox entry named like a submission cannot be one (format, or not a regular file), or None."""
    suffix = path.suffix.lower()
    if suffix != WORKBOOK_SUFFIX:
        what = (
            REFUSED_SUFFIXES.get(suffix) or f"not an Excel workbook (.xlsx) but {suffix or 'a file without extension'}"
        )
        return f"is {what}"
    try:
        check_regular_file(path, inbox)
    except FileRejected as exc:
        return str(exc)
    return None


def find_submission(storage: IlmsStorage, round_: str, country: str) -> Path:
    """The workbook for a partition: `<inbox>/<round>/<ISO3>*.xlsx`, the newest if several were dropped.

    Only an inbox with nothing at all in it means "no real submissions yet": the bundled samples stand in for
    the rounds they cover (never for a new round: made-up figures must not pass for a real collection).
    """
    if not inbox_is_empty(storage.inbox):
        folder, where = storage.inbox, f"inbox {quoted(str(storage.inbox))}"
    else:
        from ilms_dagster.questionnaire.samples import ensure_samples  # only needed when the inbox is empty

        if round_ not in ROUNDS:
            raise NoSubmission(
                f"No submission for {country} round {round_}: the inbox {quoted(str(storage.inbox))} is "
                f"empty and the bundled samples cover rounds {ROUNDS[0]}-{ROUNDS[-1]} only."
            )
        ensure_samples(storage.samples, rounds=[round_], countries=[country])
        folder, where = (
            storage.samples,
            "bundled samples (" + SAMPLES_WARNING.format(inbox=quoted(str(storage.inbox))) + ")",
        )
    named = [p for p in _entries(folder / round_) if _iso3(p.name) == country]
    refused = {p: why for p in named if (why := refusal(p, folder)) is not None}
    matches = [p for p in named if p not in refused]
    if not matches:
        reasons = "".join(f"\n  - {quoted(p.name)} {why}" for p, why in refused.items())
        raise NoSubmission(
            f"No submission for {country} round {round_}: no file "
            f"{quoted(str(folder / round_ / (country + '*.xlsx')))} in the {where}{reasons}"
        )
    return newest(matches)


def scan_inbox(inbox: Path, rounds: list[str]) -> tuple[dict[tuple[str, str], Path], list[str]]:
    """The workbooks of `<inbox>/<round>/<ISO3>*.xlsx`: the file that counts for each (round, country), as
    find_submission picks it, and why every other entry was skipped (names quoted). `rounds` are the open
    rounds. Nothing is opened or followed: a FIFO, device or symlink is judged by its name and lstat."""
    found: dict[tuple[str, str], list[Path]] = {}
    skipped = []
    for path in _entries(inbox):
        if path.is_dir() and not path.is_symlink():
            round_ = path.name
            for entry in _entries(path):
                name = quoted(f"{round_}/{entry.name}")
                if round_ not in rounds:
                    skipped.append(f"{name}: {round_!r} is not a collection round ({rounds[0]}..{rounds[-1]})")
                elif _iso3(entry.name) is None:
                    skipped.append(
                        f"{name}: the name does not start with an ISO3 country code (e.g. THA_ILMQ_{round_}.xlsx)"
                    )
                elif (why := refusal(entry, inbox)) is not None:
                    skipped.append(f"{name} {why}")
                else:
                    found.setdefault((round_, _iso3(entry.name)), []).append(entry)
        elif path.suffix.lower() in (WORKBOOK_SUFFIX, *REFUSED_SUFFIXES):
            skipped.append(f"{quoted(path.name)}: not in a round folder (expected <inbox>/<round>/<ISO3>*.xlsx)")
    return {key: newest(paths) for key, paths in sorted(found.items())}, skipped


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archive(storage: IlmsStorage, path: Path) -> dict:
    """Copy a received file into the content-addressed archive, once, read-only, with a manifest.

    The same bytes received again (under any name) are recognised: the first manifest is kept.
    """
    try:
        data = read_bounded(Path(os.path.realpath(path)))  # a regular file of bounded size, never a FIFO
    except FileRejected as exc:
        raise SubmissionError(path.name, [("-", "-", str(exc))]) from None
    sha = hashlib.sha256(data).hexdigest()
    target = storage.archive / sha[:2] / f"{sha}.xlsx"
    manifest_path = target.with_suffix(".json")
    if manifest_path.exists():
        return json.loads(manifest_path.read_text()) | {"already_received": True}
    target.parent.mkdir(parents=True, exist_ok=True)
    manifest = {
        "sha256": sha,
        "size_bytes": len(data),
        "original_name": path.name,
        "received_at": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        "archive_path": str(target),
    }
    _write_atomic(target, data)
    _write_atomic(manifest_path, json.dumps(manifest, indent=2).encode())
    for written in (target, manifest_path):
        written.chmod(0o444)
    return manifest | {"already_received": False}


def _write_atomic(target: Path, data: bytes) -> None:
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(tmp, target)


@dataclass
class StagedSubmission:
    """A parsed submission on disk: one Parquet file per table plus `submission.json`."""

    folder: Path
    submission: dict
    stats: dict[str, dict[str, int]]

    @property
    def parquet_by_table(self) -> dict[str, Path]:
        return {table_id: self.folder / f"{table_id}.parquet" for table_id in self.stats}

    def expectation_findings(self) -> pd.DataFrame:
        """What the expectation suites found when the workbook was parsed (see `stage`)."""
        path = self.folder / EXPECTATION_FINDINGS
        if not path.exists():
            raise NoSubmission(
                f"{self.folder} was staged without its expectation findings: materialize submission_file again."
            )
        return pd.read_parquet(path)

    @classmethod
    def load(cls, storage: IlmsStorage, round_: str, country: str) -> StagedSubmission:
        folder = staging_folder(storage, round_, country)
        if not (folder / "submission.json").exists():
            raise NoSubmission(
                f"No staged submission for {country} round {round_} in {folder}: materialize submission_file first."
            )
        saved = json.loads((folder / "submission.json").read_text())
        return cls(folder, saved["submission"], saved["stats"])


def staging_folder(storage: IlmsStorage, round_: str, country: str) -> Path:
    return storage.staging / round_ / country


def stage(
    storage: IlmsStorage,
    round_: str,
    country: str,
    manifest: dict,
    expectations: Callable[[dict[str, pd.DataFrame], str], pd.DataFrame] | None = None,
) -> StagedSubmission:
    """Parse the archived workbook and replace the partition's staging folder atomically, with what
    `expectations` (the per-table expectation suites, run here outside the warehouse lock) found.

    Raises SubmissionError (naming file, sheet and cell) on a bad workbook, leaving the previous
    staging folder, and so the warehouse, untouched.
    """
    parsed = parse_workbook(
        Path(manifest["archive_path"]),
        country,
        round_,
        sha256=manifest["sha256"],
        name=f"{manifest['original_name']} (sha256 {manifest['sha256'][:12]})",
    )
    final = staging_folder(storage, round_, country)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{country}-"))
    stats = {}
    if expectations is not None:
        expectations(parsed.tables, round_).to_parquet(tmp / EXPECTATION_FINDINGS, index=False)
    for table_id, frame in parsed.tables.items():
        frame.to_parquet(tmp / f"{table_id}.parquet", index=False)
        filled = int(frame["obs_value"].notna().sum())
        stats[table_id] = {
            "rows": len(frame),
            "filled_cells": filled,
            "marked_missing_cells": len(frame) - filled,
            "blank_cells": parsed.cells_total[table_id] - len(frame),
        }
    meta = parsed.metadata
    submission = {k: v for k, v in manifest.items() if k != "already_received"} | {
        "round": int(round_),
        "ref_area": country,
        "template_version": meta.get("template_version"),
        "submission_date": meta.get("submission_date") or None,
        "focal_point": meta.get("focal_point"),
        "institution": meta.get("institution"),
    }
    (tmp / "submission.json").write_text(json.dumps({"submission": submission, "stats": stats}, indent=2, default=str))
    old = final.with_name(f".{country}-old")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return StagedSubmission(final, submission, stats)
