"""Data out: a round's figures as ILOSTAT bulk CSV and SDMX-CSV, one file per indicator.

The export of round R holds, for every value the warehouse knows (staging.vintages: accepted rounds and the
published ILOSTAT vintage, round 0), the latest vintage up to round R - what ILOSTAT would publish once
round R is in. A value whose latest vintage is a marker ('..' not available, 'x' confidential) is not
exported (nor is an older number for it); such values are counted. Values stay in the unit stored
(thousands for counts), written with up to 15 significant digits.

- ILOSTAT bulk CSV `<out>/ilostat/<indicator>.csv`: columns ref_area, source, indicator, sex, classif1,
  [classif2, for tables with a migratory basis], time, obs_value, obs_status, note_classif, note_indicator,
  note_source - what `ilms import-ilostat` reads back (same observations).
- SDMX-CSV 2.0 `<out>/sdmx/DF_<indicator>.csv`, dataflow `ILO:DF_<indicator>(1.0)`: dimensions REF_AREA, SEX,
  CLASSIF1, CLASSIF2 (`_Z`, not applicable, where empty), TIME_PERIOD; measure OBS_VALUE; observation
  attributes OBS_STATUS, SOURCE, NOTE_CLASSIF, NOTE_INDICATOR, NOTE_SOURCE. Written and re-read with pysdmx;
  the export fails if the re-read observations differ from those written.

Knows nothing of Dagster (assets/ilostat.py and cli.py wrap it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from ilms_dagster.ilostat.imports import COLUMNS
from ilms_dagster.questionnaire.annotations import NOTE_FIELDS, split_notes
from ilms_dagster.registry import TABLES

AGENCY, VERSION, NOT_APPLICABLE = "ILO", "1.0", "_Z"
DIMENSIONS = ("REF_AREA", "SEX", "CLASSIF1", "CLASSIF2", "TIME_PERIOD")
ATTRIBUTES = ("OBS_STATUS", "SOURCE", "NOTE_CLASSIF", "NOTE_INDICATOR", "NOTE_SOURCE")
_SDMX_OF = {
    "ref_area": "REF_AREA",
    "sex": "SEX",
    "classif1": "CLASSIF1",
    "classif2": "CLASSIF2",
    "time": "TIME_PERIOD",
    "obs_value": "OBS_VALUE",
    "obs_status": "OBS_STATUS",
    "source": "SOURCE",
    "note_classif": "NOTE_CLASSIF",
    "note_indicator": "NOTE_INDICATOR",
    "note_source": "NOTE_SOURCE",
}
_TWO_BREAKDOWNS = {ind for t in TABLES.values() if t.bases for ind in t.indicators}


class ExportError(ValueError):
    """An export that cannot be written (no models built, a round that is no year, a failed re-read)."""


@dataclass
class Exported:
    round: int
    out: Path
    rows: dict[str, int] = field(default_factory=dict)  # indicator -> observations
    markers_skipped: int = 0
    files: list[Path] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"Round {self.round}: {sum(self.rows.values())} observations of {len(self.rows)} indicator(s) in "
            f"{self.out} ({self.markers_skipped} value(s) whose latest vintage is '..' or 'x' not exported)"
        ]
        out += [f"  {ind}: {n} observations -> ilostat/{ind}.csv, sdmx/DF_{ind}.csv" for ind, n in self.rows.items()]
        return out


def format_value(value: float) -> str:
    return f"{value:.15g}"


def observations(conn: duckdb.DuckDBPyConnection, round_: int) -> pd.DataFrame:
    """The latest vintage up to `round_` of every value (markers included, obs_value NULL), sorted."""
    if not conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'staging' AND table_name = 'vintages'"
    ).fetchone()[0]:
        raise ExportError(
            "the warehouse has no staging.vintages: build the models first (`ilms run`, or the "
            "staging group in the Dagster UI)"
        )
    return conn.execute(
        "SELECT ref_area, source, indicator, sex, classif1, classif2, time, obs_value, obs_status, note, round"
        " FROM staging.vintages WHERE round <= ?"
        " QUALIFY row_number() OVER (PARTITION BY table_id, ref_area, indicator, sex, classif1, classif2, time"
        "                            ORDER BY round DESC) = 1"
        " ORDER BY indicator, ref_area, sex, classif1, classif2, time",
        [int(round_)],
    ).df()


def ilostat_frame(rows: pd.DataFrame, indicator: str) -> pd.DataFrame:
    """Rows of one indicator as ILOSTAT bulk CSV text columns."""
    notes = pd.DataFrame(
        [split_notes(n if isinstance(n, str) else None) for n in rows["note"]], columns=list(NOTE_FIELDS)
    )
    frame = pd.DataFrame(
        {
            "ref_area": rows["ref_area"].to_numpy(),
            "source": rows["source"].to_numpy(),
            "indicator": indicator,
            "sex": rows["sex"].to_numpy(),
            "classif1": rows["classif1"].to_numpy(),
            "classif2": rows["classif2"].to_numpy(),
            "time": rows["time"].astype(int).astype(str).to_numpy(),
            "obs_value": [format_value(v) for v in rows["obs_value"]],
            "obs_status": rows["obs_status"].to_numpy(),
            **{name: notes[name].to_numpy() for name in NOTE_FIELDS},
        }
    )
    columns = [c for c in COLUMNS if c != "classif2" or indicator in _TWO_BREAKDOWNS]
    return frame[columns].astype("object").where(frame[columns].notna(), "")


def sdmx_frame(ilostat: pd.DataFrame) -> pd.DataFrame:
    frame = ilostat.reindex(columns=list(_SDMX_OF)).fillna("").rename(columns=_SDMX_OF)
    for dim in DIMENSIONS:
        frame[dim] = frame[dim].replace("", NOT_APPLICABLE)
    return frame[[*DIMENSIONS, "OBS_VALUE", *ATTRIBUTES]].astype(str).reset_index(drop=True)


def sdmx_schema(indicator: str):
    from pysdmx.model import Component, Components, Concept, DataType, Role, Schema

    components = [Component(d, True, Role.DIMENSION, Concept(d, dtype=DataType.STRING)) for d in DIMENSIONS]
    components.append(Component("OBS_VALUE", False, Role.MEASURE, Concept("OBS_VALUE", dtype=DataType.STRING)))
    components += [
        Component(a, False, Role.ATTRIBUTE, Concept(a, dtype=DataType.STRING), attachment_level="O") for a in ATTRIBUTES
    ]
    return Schema("dataflow", AGENCY, f"DF_{indicator}", Components(components), VERSION)


def write_sdmx_csv(frame: pd.DataFrame, indicator: str, path: Path) -> None:
    from pysdmx.io import write_sdmx
    from pysdmx.io.format import Format
    from pysdmx.io.pd import PandasDataset

    dataset = PandasDataset(structure=sdmx_schema(indicator), data=frame)
    write_sdmx([dataset], Format.DATA_SDMX_CSV_2_0_0, output_path=str(path))


def read_sdmx_csv(path: Path) -> dict[str, pd.DataFrame]:
    """SDMX-CSV re-read with pysdmx: short URN of the dataflow -> its observations (text columns)."""
    from pysdmx.io import read_sdmx

    message = read_sdmx(Path(path))
    return {d.short_urn: d.data.fillna("").astype(object).reset_index(drop=True) for d in message.data}


def same_observations(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """The same SDMX observations, in the same order: keys and attributes as text, OBS_VALUE as a number
    (pysdmx writes a published `0` as `0.0`)."""
    text = [*DIMENSIONS, *ATTRIBUTES]
    return (
        len(a) == len(b)
        and a[text].values.tolist() == b[text].values.tolist()
        and a["OBS_VALUE"].astype(float).tolist() == b["OBS_VALUE"].astype(float).tolist()
    )


def export_round(conn: duckdb.DuckDBPyConnection, round_: int | str, out: Path) -> Exported:
    """Write round `round_`'s export under `out` (files replaced), re-read the SDMX files and compare."""
    try:
        round_ = int(round_)
    except ValueError:
        raise ExportError(f"--round {round_!r}: a round is a year, e.g. 2024") from None
    rows = observations(conn, round_)
    done = Exported(round_, Path(out), markers_skipped=int(rows["obs_value"].isna().sum()))
    rows = rows[rows["obs_value"].notna()]
    (done.out / "ilostat").mkdir(parents=True, exist_ok=True)
    (done.out / "sdmx").mkdir(parents=True, exist_ok=True)
    for indicator, of_indicator in rows.groupby("indicator", sort=True):
        frame = ilostat_frame(of_indicator.reset_index(drop=True), indicator)
        csv_path, sdmx_path = done.out / "ilostat" / f"{indicator}.csv", done.out / "sdmx" / f"DF_{indicator}.csv"
        frame.to_csv(csv_path, index=False)
        written = sdmx_frame(frame)
        write_sdmx_csv(written, indicator, sdmx_path)
        urn = f"Dataflow={AGENCY}:DF_{indicator}({VERSION})"
        reread = read_sdmx_csv(sdmx_path)
        if list(reread) != [urn] or not same_observations(reread[urn], written):
            raise ExportError(f"{sdmx_path}: pysdmx re-read other observations than were written")
        done.rows[indicator] = len(frame)
        done.files += [csv_path, sdmx_path]
    return done
