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

from ilms_dagster.registry import ROUNDS
from ilms_dagster.resources.storage import IlmsStorage
from ilms_dagster.workbook import parse_workbook


EXPECTATION_FINDINGS = "expectation_findings.parquet"


class NoSubmission(LookupError):
    """No workbook was received for a round x country partition."""


_ISO3_PREFIX = re.compile(r"([A-Z]{3})(?![A-Z])")


def country_of(path: Path) -> str | None:
    """The ISO3 code a workbook's name starts with (`THA_ILMQ_2024.xlsx`, `tha.xlsx` -> THA), or None for
    any other name (`Thailand.xlsx`) and for Excel's `~$` lock files."""
    found = _ISO3_PREFIX.match(path.name.upper())
    return found.group(1) if found and path.suffix.lower() == ".xlsx" else None


def newest(paths: list[Path]) -> Path:
    """The file that counts when several were dropped for one partition: the last modified."""
    return max(paths, key=lambda p: (p.stat().st_mtime_ns, p.name))


def inbox_has_workbooks(inbox: Path) -> bool:
    return inbox.is_dir() and any(inbox.glob("*/*.xlsx"))


def find_submission(storage: IlmsStorage, round_: str, country: str) -> Path:
    """The workbook for a partition: `<inbox>/<round>/<ISO3>*.xlsx`, the newest if several were dropped.

    An inbox with no workbook at all means "no real submissions yet": the bundled samples stand in for the
    rounds they cover (never for a new round: made-up figures must not pass for a real collection).
    """
    if inbox_has_workbooks(storage.inbox):
        folder, where = storage.inbox, f"inbox {storage.inbox}"
    else:
        from ilms_dagster.samples import ensure_samples  # only needed when the inbox is empty

        if round_ not in ROUNDS:
            raise NoSubmission(f"No submission for {country} round {round_}: the inbox {storage.inbox} is empty and "
                               f"the bundled samples cover rounds {ROUNDS[0]}-{ROUNDS[-1]} only.")  # fmt: skip
        ensure_samples(storage.samples, rounds=[round_], countries=[country])
        folder, where = storage.samples, f"bundled samples {storage.samples} (the inbox {storage.inbox} is empty)"
    matches = [p for p in (folder / round_).glob("*.xlsx") if country_of(p) == country]
    if not matches:
        raise NoSubmission(
            f"No submission for {country} round {round_}: no file {folder / round_ / (country + '*.xlsx')} in the {where}."
        )
    return newest(matches)


def scan_inbox(inbox: Path, rounds: list[str]) -> tuple[dict[tuple[str, str], Path], list[str]]:
    """The workbooks of `<inbox>/<round>/<ISO3>*.xlsx`: the file that counts for each (round, country), as
    find_submission picks it, and why every other workbook was skipped. `rounds` are the open rounds."""
    found: dict[tuple[str, str], list[Path]] = {}
    skipped = []
    for path in sorted(inbox.glob("*.xlsx")) + sorted(inbox.glob("*/*.xlsx")):
        name, round_ = path.relative_to(inbox).as_posix(), path.parent.name
        if path.name.startswith("~$"):  # Excel's lock file of an open workbook
            continue
        if path.parent == inbox:
            skipped.append(f"{name}: not in a round folder (expected <inbox>/<round>/<ISO3>*.xlsx)")
        elif round_ not in rounds:
            skipped.append(f"{name}: {round_!r} is not a collection round ({rounds[0]}..{rounds[-1]})")
        elif (country := country_of(path)) is None:
            skipped.append(f"{name}: the name does not start with an ISO3 country code (e.g. THA_ILMQ_{round_}.xlsx)")
        else:
            found.setdefault((round_, country), []).append(path)
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
    sha = sha256_of(path)
    target = storage.archive / sha[:2] / f"{sha}.xlsx"
    manifest_path = target.with_suffix(".json")
    if manifest_path.exists():
        return json.loads(manifest_path.read_text()) | {"already_received": True}
    target.parent.mkdir(parents=True, exist_ok=True)
    manifest = {
        "sha256": sha,
        "size_bytes": path.stat().st_size,
        "original_name": path.name,
        "received_at": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        "archive_path": str(target),
    }
    _write_atomic(target, path.read_bytes())
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
            raise NoSubmission(f"{self.folder} was staged without its expectation findings: materialize submission_file again.")
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
        Path(manifest["archive_path"]), country, round_, sha256=manifest["sha256"],
        name=f"{manifest['original_name']} (sha256 {manifest['sha256'][:12]})",
    )  # fmt: skip
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
