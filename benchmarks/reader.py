"""Reading submitted workbooks: the project's parser (python-calamine underneath, and with openpyxl as the
reference reader) against the libraries' own raw reading of the same files. Cells = every cell of every
sheet's grid from A1 (what a reader has to decode); the parser's figure includes the guards' checks, checking the
layout, classifying every input cell and building the tidy frame. Wall time decides the share (the parser's
guards check a sheet while calamine reads the one before, in a second thread); the CPU time of the same run is
printed beside it. Writes the table into docs/performance.md.

Usage: uv run python benchmarks/reader.py [--rounds 2023 2024] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import openpyxl  # noqa: E402
import python_calamine  # noqa: E402
from harness import write_section  # noqa: E402

from ilms_dagster.questionnaire.samples import ensure_samples  # noqa: E402
from ilms_dagster.questionnaire.workbook import parse_workbook  # noqa: E402
from ilms_dagster.registry import ROUNDS  # noqa: E402


def raw_calamine(path: Path) -> int:
    wb = python_calamine.CalamineWorkbook.from_path(str(path))
    cells = sum(sum(map(len, wb.get_sheet_by_name(name).to_python(skip_empty_area=False))) for name in wb.sheet_names)
    wb.close()
    return cells


def raw_openpyxl(path: Path) -> int:
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    cells = sum(len(row) for ws in wb.worksheets for row in ws.iter_rows(min_row=1, min_col=1, values_only=True))
    wb.close()
    return cells


def best(fn, paths: list[Path], repeat: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of `repeat` passes over `paths`."""
    times = []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        for path in paths:
            fn(path)
        times.append((time.perf_counter() - started, time.process_time() - cpu))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", nargs="+", default=ROUNDS[-2:])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = ensure_samples(Path(tmp), rounds=args.rounds)
        cells = sum(raw_calamine(p) for p in paths)
        for p in paths[:2]:  # warm up imports and layout caches
            parse_workbook(p, p.name[:3], p.parent.name)

        def project(reader):
            return lambda p: parse_workbook(p, p.name[:3], p.parent.name, reader=reader)

        timings = {
            "python-calamine, raw grid of every sheet": best(raw_calamine, paths, args.repeat),
            "project parser, calamine reader (default)": best(project("calamine"), paths, args.repeat),
            "openpyxl read-only, raw grid of every sheet": best(raw_openpyxl, paths, 1),
            "project parser, openpyxl reader (reference)": best(project("openpyxl"), paths, 1),
        }
    fastest = min(wall for wall, _ in timings.values())
    lines = [
        f"Reading {len(paths)} sample submissions (rounds {', '.join(args.rounds)}; {cells} cells), best of "
        f"{args.repeat} (openpyxl: 1 pass):",
        "",
        "| reader | s | CPU s | cells/s | share of the fastest |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {wall:.3f} | {cpu:.3f} | {cells / wall:,.0f} | {fastest / wall:.0%} |"
        for name, (wall, cpu) in timings.items()
    ]
    text = "\n".join(lines)
    print(text)
    write_section("reader", text)


if __name__ == "__main__":
    main()
