"""Where survey files and mappings live, and the tabulation of one round x country from them.

<data>/microdata/<round>/<ISO3>_<SURVEY>_<YEAR>.{csv,parquet,dta,sav}    one file per reference year
microdata/<ISO3>_<SURVEY>.yaml                                           the mapping (project folder;
                                                                         ILMS_MICRODATA_MAPPINGS overrides)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ilms_dagster.microdata.mapping import MicrodataError, load_mapping
from ilms_dagster.microdata.output import write_outputs
from ilms_dagster.microdata.readers import FORMATS
from ilms_dagster.microdata.tabulate import Tabulation, connect, tabulate
from ilms_dagster.resources.storage import PROJECT_ROOT

_NAME = re.compile(r"^([A-Za-z]{3})_([A-Za-z0-9-]+)_(\d{4})$")


def default_mappings_dir() -> Path:
    return Path(os.environ.get("ILMS_MICRODATA_MAPPINGS") or PROJECT_ROOT / "microdata")


def survey_files(folder: Path, round_: str, country: str) -> list[Path]:
    """The survey files of a round and country, by name, in order of name (so of survey and year)."""
    found = [p for p in sorted((Path(folder) / str(round_)).glob(f"{country}_*")) if p.suffix.lower() in FORMATS]
    if not found:
        formats = ",".join(s[1:] for s in FORMATS)
        raise MicrodataError(
            Path(folder) / str(round_),
            [f"no survey file for {country} round {round_}: expected {country}_<SURVEY>_<YEAR>.{{{formats}}}"],
        )
    bad = [p.name for p in found if not _NAME.match(p.stem)]
    if bad:
        raise MicrodataError(
            Path(folder) / str(round_),
            [f"{name}: name it {country}_<SURVEY>_<YEAR>{Path(name).suffix}" for name in bad],
        )
    return found


def mapping_for(file: Path, mappings_dir: Path) -> Path:
    country, survey, _ = _NAME.match(Path(file).stem).groups()
    path = Path(mappings_dir) / f"{country.upper()}_{survey}.yaml"
    if not path.is_file():
        raise MicrodataError(file, [f"no mapping file {path} for survey {survey} of {country.upper()}"])
    return path


def workbook_path(folder: Path, round_: str, country: str) -> Path:
    """Where the tabulated workbook goes: the inbox's round folder, under a name intake reads as the country's."""
    return Path(folder) / str(round_) / f"{country}_ILMQ_{round_}_microdata.xlsx"


@dataclass
class PartitionOutput:
    workbook: Path
    sidecar: Path
    cells: pd.DataFrame
    tabulations: list[Tabulation]


def tabulate_partition(
    microdata_dir: Path,
    round_: str,
    country: str,
    mappings_dir: Path,
    out_dir: Path,
    metadata: dict | None = None,
    threads: int | None = None,
) -> PartitionOutput:
    """Tabulate every survey file of a round and country and write the workbook and its sidecar."""
    conn = connect(threads=threads)
    try:
        tabs = [
            tabulate(load_mapping(mapping_for(f, mappings_dir)), f, conn=conn)
            for f in survey_files(microdata_dir, round_, country)
        ]
    finally:
        conn.close()
    workbook, sidecar, cells = write_outputs(tabs, round_, workbook_path(out_dir, round_, country), metadata)
    return PartitionOutput(workbook, sidecar, cells, tabs)
