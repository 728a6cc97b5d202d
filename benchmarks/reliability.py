"""Run the bad-input corpus (tests/support/corpus.py), one fresh process per kind, and write docs/reliability.md.

    uv run python benchmarks/reliability.py            # writes docs/reliability.md
    uv run python benchmarks/reliability.py --print    # prints the table only

Each kind is built in a temporary inbox (beside one good submission, so the bundled samples never stand in)
and taken through the project's intake (find, archive, limits, parse, stage, expectation suites) in a child
process forked for it, with the corpus limits (CORPUS_ENV): outcome, message, wall time and the child's peak
resident memory (which includes the libraries the parent had loaded, ~180 MB).
A child still running after TIMEOUT seconds is a hang; one that dies or raises anything but the project's own
errors is a crash. Rows lost: values typed into an accepted workbook (counted with openpyxl, independently of
the parser) that did not reach the staged tables. One more case measures the largest workbook the *default*
limits let through (a 19 MiB file unpacking to ~95 MiB of shared strings) for the memory bound.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import resource
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from tests.support.corpus import CORPUS_ENV, KINDS, good  # noqa: E402

TIMEOUT = 120
ROUND, COUNTRY = "2024", "QAA"
LARGEST = "largest workbook the default limits allow"
DOC = ROOT / "docs" / "reliability.md"


def build(kind: str, root: Path) -> Path:
    """In the parent: the inbox with one good submission and the kind's entry."""
    good(root / "inbox" / ROUND, "QZZ", ROUND)
    if kind == LARGEST:
        return _largest(root / "inbox" / ROUND)
    return KINDS[kind].build(root / "inbox" / ROUND, COUNTRY, ROUND)


def child(root: Path, path: Path, results) -> None:
    """In the forked child: take the partition through intake, put one result on the queue."""
    from ilms_dagster.resources import IlmsStorage
    from tests.support.corpus import attempt

    storage = IlmsStorage(data_dir=str(root), inbox_dir=str(root / "inbox"))
    started = time.monotonic()
    outcome, message = attempt(storage, ROUND, COUNTRY)
    seconds = time.monotonic() - started
    lost = _rows_lost(path, root) if outcome != "rejected" and path.suffix.lower() == ".xlsx" else 0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    results.put({"outcome": outcome, "message": message, "seconds": seconds, "rss": rss, "lost": lost})


def _largest(folder: Path) -> Path:
    path = good(folder, COUNTRY, ROUND)
    with zipfile.ZipFile(path) as zf:
        parts = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    ab = bytes(97 + (i & 1) for i in range(256))  # random text over two letters: compresses ~7:1
    strings = b"".join(b"<si><t>" + os.urandom(96).translate(ab) + b"</t></si>" for _ in range(860_000))
    parts["xl/sharedStrings.xml"] = b"<sst>" + strings + b"</sst>"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in parts.items():
            zf.writestr(name, content)
    return path


def _rows_lost(path: Path, root: Path) -> int:
    """Non-empty input cells of the workbook (read by openpyxl) minus rows staged for the partition."""
    import openpyxl
    import pandas as pd

    from ilms_dagster.questionnaire.workbook import SheetLayout
    from ilms_dagster.registry import TABLES, reference_years

    wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    typed = 0
    for table in TABLES.values():
        grid = [list(r) for r in wb[table.sheet].iter_rows(values_only=True)]
        for _, _, row, col, _ in SheetLayout(table, tuple(reference_years(ROUND))).cells():
            value = grid[row - 1][col - 1] if row <= len(grid) and col <= len(grid[row - 1]) else None
            typed += value not in (None, "")
    staged = root / "staging" / ROUND / COUNTRY
    rows = sum(len(pd.read_parquet(p)) for p in staged.glob("*.parquet") if p.name != "expectation_findings.parquet")
    return typed - rows


def measure(kind: str) -> dict:
    """One kind in a child forked from this process (the libraries already imported, as in a run worker): its
    result, or a hang (still running after TIMEOUT s) or a crash (died, or raised past the project's errors)."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    limits = {} if kind == LARGEST else CORPUS_ENV
    saved = {k: os.environ.get(k) for k in limits}
    os.environ.update(limits)
    with tempfile.TemporaryDirectory() as tmp:
        path = build(kind, Path(tmp))
        started = time.monotonic()
        worker = context.Process(target=child, args=(Path(tmp), path, results))
        worker.start()
        try:
            result = results.get(timeout=TIMEOUT)
        except queue.Empty:
            result = None
        worker.join(10)
        seconds = time.monotonic() - started
        if worker.is_alive():
            worker.kill()
            worker.join()
    for key, value in saved.items():
        os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    if result is None:
        outcome = "hang" if seconds >= TIMEOUT else "crash"
        return {
            "kind": kind,
            "outcome": outcome,
            "seconds": seconds,
            "rss": 0,
            "lost": 0,
            "message": f"exit {worker.exitcode}",
        }
    return {"kind": kind} | result


def _first_problem(message: str) -> str:
    lines = [line.strip(" -") for line in message.splitlines()[1:]] or [message]
    text = lines[0] if lines else ""
    return (text[:110] + "...") if len(text) > 113 else text


def render(results: list[dict]) -> str:
    corpus = [r for r in results if r["kind"] != LARGEST]
    correct = [
        r
        for r in corpus
        if r["outcome"] == KINDS[r["kind"]].outcome and all(f in r["message"] for f in KINDS[r["kind"]].fragments)
    ]
    worst = max(results, key=lambda r: r["rss"])
    lines = [
        "# Reliability: the bad-input corpus",
        "",
        "Written by `uv run python benchmarks/reliability.py` from the corpus of `tests/support/corpus.py` (which",
        "`tests/questionnaire/test_corpus.py` asserts kind by kind and in one real Dagster run). Each kind runs in a child process",
        "forked for it, through the project's intake (find, archive, limits, parse, stage, expectation suites) with the corpus",
        f"limits ({', '.join(f'{k}={v}' for k, v in CORPUS_ENV.items())}); a process still running after {TIMEOUT} s",
        "would be a hang, one that dies or raises anything but the project's own errors a crash. Peak memory is",
        "the child's maximum resident set, the ~120 MiB of libraries loaded before the fork included. The",
        "time limit: `ILMS_MAX_PARSE_SECONDS` bounds the inspection of the XML (ours); the reader's own time is",
        "bounded by the size and cell limits it runs behind (python-calamine reads ~1.5 million cells a second).",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| kinds tried | {len(corpus)} |",
        f"| rejected correctly (outcome and message as asserted) | {sum(r in correct for r in corpus if KINDS[r['kind']].outcome == 'rejected')}"
        f" of {sum(KINDS[r['kind']].outcome == 'rejected' for r in corpus)} |",
        f"| correct outcome overall (rejected, flagged by the checks, or accepted) | {len(correct)} of {len(corpus)} |",
        f"| crashes | {sum(r['outcome'] == 'crash' for r in results)} |",
        f"| hangs | {sum(r['outcome'] == 'hang' for r in results)} |",
        f"| peak memory of the worst case | {worst['rss'] / 2**20:.0f} MiB ({worst['kind']}) |",
        f"| rows lost | {sum(r['lost'] for r in results)} |",
        "",
        "| kind | expected | got | s | peak MiB | first problem named |",
        "|---|---|---|---:|---:|---|",
    ]
    for r in results:
        expected = "-" if r["kind"] == LARGEST else KINDS[r["kind"]].outcome
        message = str(r["message"]).replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {r['kind']} | {expected} | {r['outcome']} | {r['seconds']:.2f} | {r['rss'] / 2**20:.0f} | "
            f"{_first_problem(message) if r['outcome'] != 'rejected' else _first_problem(str(r['message'])).replace('|', '/')} |"
        )
    lines += ["", "The last row uses the default limits, not the corpus's: the biggest file they let through."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--print", action="store_true")
    args = parser.parse_args()
    import ilms_dagster.checks.expectations  # noqa: F401  (imported once, before the children fork)
    import ilms_dagster.intake.submissions  # noqa: F401

    results = []
    for kind in [*KINDS, LARGEST]:
        results.append(measure(kind))
        print(
            f"{kind}: {results[-1]['outcome']} {results[-1]['seconds']:.2f}s {results[-1]['rss'] / 2**20:.0f} MiB",
            flush=True,
        )
    text = render(results)
    if args.print:
        print(text)
    else:
        DOC.write_text(text)
        print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
