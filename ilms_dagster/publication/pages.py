"""The round's static site, rendered with Jinja2 from the package's templates (no server, readable on a phone):
the regional overview (index.html), one profile per country (<ISO3>.html, linked to each other), the
coordinator's page (completeness and timeliness of every country and round, who is late, what changed since the
last round) and the download page (the release workbook, the round's ILOSTAT CSV and SDMX-CSV per indicator)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ilms_dagster.publication.data import RoundData

if TYPE_CHECKING:
    from ilms_dagster.publication.charts import RenderedChart

ENV = Environment(
    loader=PackageLoader("ilms_dagster.publication", "templates"),
    autoescape=select_autoescape(),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Table:
    id: str
    caption: str
    header: list[str]
    rows: list[list[str]]


def fmt(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def frame_table(id_: str, caption: str, frame: pd.DataFrame) -> Table:
    digits = {c: 1 if c.endswith("_pct") else 3 for c in frame.columns}
    rows = [
        [fmt(v, digits[c]) for c, v in zip(frame.columns, row, strict=True)] for row in frame.itertuples(index=False)
    ]
    return Table(id_, caption, [str(c) for c in frame.columns], rows)


def pct(value: float | None) -> str:
    return "no cells expected" if value is None or pd.isna(value) else f"{value:.1f}%"


def key_table(data: RoundData, country: str | None) -> Table:
    frame = data.key_figures if country is None else data.key_figures[data.key_figures.ref_area == country]
    rows = [
        [r.ref_area, r.label, fmt(r.value), str(r.time), fmt(r.source), str(r.vintage), fmt(r.obs_status) or "(normal)"]
        for r in frame.itertuples()
    ]
    return Table(
        "key-figures" if country else "key-figures-all",
        "Latest reference year of each key figure",
        ["country", "figure", "value", "year", "source", "vintage (round)", "obs_status"],
        rows,
    )


def completeness_table(data: RoundData) -> Table:
    c = data.completeness[data.completeness.level == "country_round"]
    pivot = c.pivot(index="ref_area", columns="round", values="completeness_pct").sort_index()
    rows = [[country, *[pct(v) for v in values]] for country, values in zip(pivot.index, pivot.to_numpy(), strict=True)]
    return Table(
        "completeness-matrix", "Completeness per country and round", ["country", *map(str, pivot.columns)], rows
    )


def timeliness_table(data: RoundData) -> Table:
    t = data.timeliness.assign(
        cell=[
            f"{s} ({int(d):+d} d)" if pd.notna(d) else s
            for s, d in zip(data.timeliness.status, data.timeliness.days_late)
        ]
    )
    pivot = t.pivot(index="ref_area", columns="round", values="cell").sort_index()
    rows = [[country, *values] for country, values in zip(pivot.index, pivot.to_numpy().tolist(), strict=True)]
    return Table("timeliness-matrix", "Timeliness per country and round", ["country", *map(str, pivot.columns)], rows)


def changes_table(data: RoundData) -> Table:
    """Per country, completeness and status in the previous round and in this one."""
    previous = max([r for r in data.rounds if r < data.round], default=None)
    c = data.completeness[data.completeness.level == "country_round"].set_index(["round", "ref_area"]).completeness_pct
    t = data.timeliness.set_index(["round", "ref_area"])
    rows = []
    for country in sorted(data.names):
        now, before = c.get((data.round, country)), c.get((previous, country)) if previous else None
        change = "" if before is None or now is None else f"{now - before:+.1f} points"
        rows.append(
            [
                country,
                pct(before) if previous else "",
                pct(now),
                change,
                t.status.get((previous, country), "") if previous else "",
                t.status.get((data.round, country), ""),
            ]
        )
    return Table(
        "changes-table",
        f"Round {data.round} against round {previous}" if previous else "No earlier round",
        [
            "country",
            f"completeness {previous or '-'}",
            f"completeness {data.round}",
            "change",
            f"status {previous or '-'}",
            f"status {data.round}",
        ],
        rows,
    )


def late(data: RoundData) -> list[str]:
    t = data.timeliness[
        (data.timeliness["round"] == data.round) & data.timeliness.status.isin(["late", "not submitted"])
    ]
    return [
        f"{r.ref_area} {data.name(r.ref_area)}: {r.status}"
        + (f", {int(r.days_late)} days after the deadline" if pd.notna(r.days_late) else "")
        for r in t.sort_values("ref_area").itertuples()
    ]


def _country_completeness(data: RoundData, country: str) -> str:
    c = data.completeness
    found = c[(c.level == "country_round") & (c["round"] == data.round) & (c.ref_area == country)].completeness_pct
    return pct(found.iloc[0] if len(found) else None)


def round_completeness(data: RoundData) -> str:
    c = data.completeness
    found = c[(c.level == "round") & (c["round"] == data.round)].completeness_pct
    return pct(found.iloc[0] if len(found) else None)


@dataclass(frozen=True)
class ChartView:
    name: str
    title: str
    rows: int
    table: Table


def chart_views(charts: list[RenderedChart]) -> list[ChartView]:
    return [
        ChartView(c.name, c.title, c.rows, frame_table(f"data-{c.name}", "The chart's data", pd.read_csv(c.csv)))
        for c in charts
    ]


def write_style(out: Path) -> None:
    """The stylesheet every page and the report link (screen, phone and print)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "style.css").write_text((TEMPLATES / "style.css").read_text())


def _common(data: RoundData, title: str) -> dict:
    return {"round": data.round, "title": title, "countries": data.countries.to_dict("records")}


def write_pages(data: RoundData, out: Path, charts: list[RenderedChart], workbook: Path, exports: Path) -> list[Path]:
    """Write every page of the round into `out` (beside charts/); returns the pages written, overview first."""
    write_style(out)
    by_name = {c.name: c for c in charts}
    regional = [c for c in charts if c.name.split("_", 1)[0] not in data.names]
    pages: list[Path] = []

    def render(name: str, template: str, **context) -> None:
        path = out / name
        path.write_text(ENV.get_template(template).render(**context))
        pages.append(path)

    common = _common(data, f"Labour migration in the reporting countries: round {data.round}")
    render(
        "index.html",
        "overview.html",
        **common,
        completeness=round_completeness(data),
        late=late(data),
        key_table=key_table(data, None),
        charts=chart_views([c for c in regional if c.name not in ("completeness_heatmap", "timeliness")]),
    )
    codes = sorted(data.names)
    for i, country in enumerate(codes):
        mine = chart_views([c for c in charts if c.name.startswith(f"{country}_")])
        missing = data.missing[data.missing.ref_area == country]
        missing = missing.groupby(["table_id", "family"], as_index=False).agg(
            years_missing=("time", lambda t: ", ".join(map(str, sorted(t))))
        )
        status = data.timeliness[(data.timeliness["round"] == data.round) & (data.timeliness.ref_area == country)]
        when = status.status.iloc[0] if len(status) else "not expected"
        render(
            f"{country}.html",
            "profile.html",
            **_common(data, f"{data.name(country)} ({country}): round {data.round}"),
            basis=data.basis.get(country, "none reported"),
            completeness=_country_completeness(data, country),
            timeliness=when,
            key_table=key_table(data, country),
            charts=mine,
            missing=len(missing),
            missing_table=frame_table("missing-table", "Tables missing a reference year", missing),
            previous=codes[i - 1] if i > 0 else None,
            next=codes[i + 1] if i + 1 < len(codes) else None,
        )
    previous = max([r for r in data.rounds if r < data.round], default=None)
    render(
        "coordinator.html",
        "coordinator.html",
        **_common(data, f"Coordinator: completeness and timeliness, round {data.round}"),
        late=late(data),
        previous_round=previous,
        completeness_table=completeness_table(data),
        timeliness_table=timeliness_table(data),
        changes_table=changes_table(data),
        charts=chart_views([by_name[n] for n in ("completeness_heatmap", "timeliness") if n in by_name]),
    )
    render(
        "downloads.html",
        "downloads.html",
        **_common(data, f"Downloads: round {data.round}"),
        workbook=os.path.relpath(workbook, out),
        **_downloads(out, exports),
    )
    return pages


def _downloads(out: Path, exports: Path) -> dict:
    """One row per indicator exported for the round, linking its ILOSTAT CSV and SDMX-CSV (relative links)."""
    files = sorted((exports / "ilostat").glob("*.csv")) if (exports / "ilostat").is_dir() else []
    rows = []
    for csv in files:
        sdmx = exports / "sdmx" / f"DF_{csv.stem}.csv"
        rows.append([csv.stem, os.path.relpath(csv, out), os.path.relpath(sdmx, out) if sdmx.exists() else ""])
    note = (
        f"{len(rows)} indicators" if rows else "not exported yet: `ilms export-ilostat` or `ilms publish` writes them"
    )
    return {
        "downloads_table": Table("downloads", "Per indicator", ["indicator", "ILOSTAT CSV", "SDMX-CSV"], rows),
        "exports_note": note,
    }
