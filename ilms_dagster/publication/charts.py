"""The publication's charts: Altair (Vega-Lite) specifications rendered without a browser by vl-convert, to
SVG and PNG, each with the CSV of the data it draws.

Regional charts: migrant workers and their share of employment per country over time, outflows by destination
(top partners) and sex, the corridor matrix with the mirror discrepancy, returnees against outflows, the
completeness heat map (country x table) of the round and timeliness per country. Per country: its migrant
workers and share, its outflows by destination and sex, its returnees against outflows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import pandas as pd
import vl_convert as vlc

from ilms_dagster.publication.data import RoundData
from ilms_dagster.publication.inert import write_csv

PNG_SCALE = 2
WIDTH, HEIGHT = 560, 300
TOP_PARTNERS = 10
SEX_LABELS = {"SEX_M": "Men", "SEX_F": "Women", "SEX_T": "Both sexes"}
STATUS_COLOURS = {"on time": "#2e7d32", "late": "#ef6c00", "not submitted": "#c62828", "not yet due": "#9e9e9e"}
FONT = "DejaVu Sans"  # shipped by Debian (fonts-dejavu-core); vl-convert also finds its bundled fonts


@dataclass(frozen=True)
class ChartSpec:
    name: str  # file stem: <name>.svg, <name>.png, <name>.csv
    title: str
    chart: alt.TopLevelMixin
    data: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.data.empty


@dataclass(frozen=True)
class RenderedChart:
    name: str
    title: str
    svg: Path
    png: Path
    csv: Path
    rows: int


def _style(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    return chart.configure(font=FONT, background="white").configure_title(anchor="start", fontSize=14)


def _nothing(title: str) -> alt.Chart:
    frame = pd.DataFrame({"text": ["No data reported for this chart in this round"]})
    return (
        alt.Chart(frame)
        .mark_text(size=14, color="#555")
        .encode(text="text:N")
        .properties(width=WIDTH, height=80, title=title)
    )


def migrant_workers(data: RoundData, country: str | None = None) -> ChartSpec:
    frame = data.stocks if country is None else data.stocks[data.stocks.ref_area == country]
    frame = frame.dropna(subset=["migrant_workers_thousands"])[
        [
            "ref_area",
            "time",
            "basis",
            "migrants",
            "migrant_workers_thousands",
            "migrant_share_of_employment_pct",
            "vintage_round",
        ]
    ].reset_index(drop=True)
    title = "Migrant workers and their share of employment" + (f", {data.name(country)}" if country else "")
    if frame.empty:
        return ChartSpec(_name("migrant_workers", country), title, _nothing(title), frame)
    base = alt.Chart(frame).encode(
        x=alt.X("time:O", title="Reference year"),
        color=alt.Color("ref_area:N", title="Country", legend=None if country else alt.Legend()),
        tooltip=["ref_area", "time", "migrants", "migrant_workers_thousands", "migrant_share_of_employment_pct"],
    )
    workers = base.mark_line(point=True).encode(
        y=alt.Y("migrant_workers_thousands:Q", title="Migrant workers (thousands)")
    )
    share = base.mark_line(point=True, strokeDash=[4, 2]).encode(
        y=alt.Y("migrant_share_of_employment_pct:Q", title="Share of employment (%)")
    )
    size = {"width": WIDTH // 2 - 30, "height": HEIGHT}
    chart = alt.hconcat(workers.properties(**size), share.properties(**size)).properties(title=title)
    return ChartSpec(_name("migrant_workers", country), title, chart, frame)


def outflows(data: RoundData, country: str | None = None) -> ChartSpec:
    """Outflows of the latest reference year by destination (the top partners) and sex."""
    frame = data.outflows if country is None else data.outflows[data.outflows.ref_area == country]
    year = int(frame.time.max()) if not frame.empty else None
    frame = frame[(frame.time == year) & frame.sex.isin(["SEX_M", "SEX_F"])]
    frame = frame.groupby(["classif1", "category", "sex"], as_index=False)["value_thousands"].sum()
    totals = (
        frame.groupby("category")["value_thousands"]
        .sum()
        .reset_index()
        .sort_values(["value_thousands", "category"], ascending=[False, True])
    )
    top = list(totals.category[:TOP_PARTNERS])
    frame = frame[frame.category.isin(top)].assign(sex_label=lambda f: f.sex.map(SEX_LABELS), time=year)
    frame = frame.sort_values(["category", "sex"]).reset_index(drop=True)
    who = data.name(country) if country else "reporting countries"
    title = f"Outflows of nationals for employment by destination and sex, {who}" + (f", {year}" if year else "")
    if frame.empty:
        return ChartSpec(_name("outflows_by_destination", country), title, _nothing(title), frame)
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("category:N", sort=top, title=f"Destination (top {len(top)})"),
            x=alt.X("sum(value_thousands):Q", title="Outflows (thousands)"),
            color=alt.Color(
                "sex_label:N", title="Sex", scale=alt.Scale(domain=["Men", "Women"], range=["#1565c0", "#ad1457"])
            ),
            tooltip=["category", "sex_label", "value_thousands"],
        )
        .properties(width=WIDTH, height=HEIGHT, title=title)
    )
    return ChartSpec(_name("outflows_by_destination", country), title, chart, frame)


def corridor_matrix(data: RoundData) -> ChartSpec:
    frame = data.corridors[
        [
            "origin",
            "destination",
            "time",
            "origin_reported_thousands",
            "destination_reported_thousands",
            "mirror_discrepancy_pct",
        ]
    ].reset_index(drop=True)
    title = f"Corridors among the reporting countries, {data.corridor_year}: outflows and mirror discrepancy (%)"
    if frame.empty:
        return ChartSpec("corridor_matrix", title, _nothing(title), frame)
    codes = sorted(data.names)
    base = alt.Chart(frame).encode(
        x=alt.X("destination:N", scale=alt.Scale(domain=codes), title="Destination"),
        y=alt.Y("origin:N", scale=alt.Scale(domain=codes), title="Origin"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "origin_reported_thousands:Q", title="Origin's report (th.)", scale=alt.Scale(scheme="blues", type="symlog")
        ),
        tooltip=[
            "origin",
            "destination",
            "origin_reported_thousands",
            "destination_reported_thousands",
            "mirror_discrepancy_pct",
        ],
    )
    text = (
        base.transform_filter("isValid(datum.mirror_discrepancy_pct)")
        .mark_text(fontSize=10)
        .encode(text=alt.Text("mirror_discrepancy_pct:Q", format="+.0f"))
    )
    chart = (cells + text).properties(width=WIDTH - 120, height=WIDTH - 120, title=title)
    return ChartSpec("corridor_matrix", title, chart, frame)


def returnees_vs_outflows(data: RoundData, country: str | None = None) -> ChartSpec:
    frame = data.returnees[data.returnees.sex == "SEX_T"]
    frame = frame if country is None else frame[frame.ref_area == country]
    frame = frame.melt(
        id_vars=["ref_area", "time"],
        value_vars=["returnees_thousands", "outflows_thousands"],
        var_name="measure",
        value_name="thousands",
    ).dropna(subset=["thousands"])
    frame["measure"] = frame.measure.map({"returnees_thousands": "Returnees", "outflows_thousands": "Outflows"})
    frame = frame.sort_values(["ref_area", "time", "measure"]).reset_index(drop=True)
    title = "Returning migrant workers against outflows" + (f", {data.name(country)}" if country else ", by country")
    if frame.empty:
        return ChartSpec(_name("returnees_vs_outflows", country), title, _nothing(title), frame)
    colours = alt.Scale(domain=["Outflows", "Returnees"], range=["#1565c0", "#f9a825"])
    if country:
        chart = (
            alt.Chart(frame)
            .mark_bar()
            .encode(
                x=alt.X("time:O", title="Reference year"),
                xOffset="measure:N",
                y=alt.Y("thousands:Q", title="Thousands"),
                color=alt.Color("measure:N", title="", scale=colours),
                tooltip=["time", "measure", "thousands"],
            )
        )
    else:
        latest = frame[frame.time == frame.groupby("ref_area").time.transform("max")]
        frame = latest.reset_index(drop=True)
        chart = (
            alt.Chart(frame)
            .mark_bar()
            .encode(
                x=alt.X("ref_area:N", title="Country (latest year reported)"),
                xOffset="measure:N",
                y=alt.Y("thousands:Q", title="Thousands"),
                color=alt.Color("measure:N", title="", scale=colours),
                tooltip=["ref_area", "time", "measure", "thousands"],
            )
        )
    return ChartSpec(
        _name("returnees_vs_outflows", country), title, chart.properties(width=WIDTH, height=HEIGHT, title=title), frame
    )


def completeness_heatmap(data: RoundData) -> ChartSpec:
    grid = data.grid[data.grid["round"] == data.round]
    frame = grid.groupby(["ref_area", "table_id", "family"], as_index=False).agg(
        years_filled=("filled_in_round", "sum"), years_expected=("time", "count")
    )
    frame["years_filled"] = frame.years_filled.astype(int)
    frame = frame.sort_values(["ref_area", "table_id"]).reset_index(drop=True)
    title = f"Completeness of round {data.round}: reference years filled per country and table"
    tables = list(dict.fromkeys(data.grid.sort_values(["family", "table_id"]).table_id))
    chart = (
        alt.Chart(frame)
        .mark_rect(stroke="white")
        .encode(
            x=alt.X("table_id:N", sort=tables, title="ILMQ table"),
            y=alt.Y("ref_area:N", title="Country"),
            color=alt.Color("years_filled:O", title="Years filled", scale=alt.Scale(scheme="greens")),
            tooltip=["ref_area", "table_id", "family", "years_filled", "years_expected"],
        )
        .properties(width=WIDTH + 80, height=22 * max(frame.ref_area.nunique(), 1), title=title)
    )
    return ChartSpec("completeness_heatmap", title, chart, frame)


def timeliness(data: RoundData) -> ChartSpec:
    frame = data.timeliness[data.timeliness["round"] == data.round][
        ["ref_area", "deadline", "first_submission_date", "days_late", "status"]
    ].reset_index(drop=True)
    frame = frame.assign(days_late=frame.days_late.fillna(0).astype(int))
    title = f"Timeliness of round {data.round}: days after the deadline (negative = early)"
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("ref_area:N", title="Country"),
            x=alt.X("days_late:Q", title="Days late"),
            color=alt.Color(
                "status:N",
                title="Status",
                scale=alt.Scale(domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values())),
            ),
            tooltip=["ref_area", "deadline", "first_submission_date", "days_late", "status"],
        )
        .properties(width=WIDTH, height=22 * max(len(frame), 1), title=title)
    )
    return ChartSpec("timeliness", title, chart, frame)


REGIONAL: tuple[Callable[[RoundData], ChartSpec], ...] = (
    migrant_workers,
    outflows,
    corridor_matrix,
    returnees_vs_outflows,
    completeness_heatmap,
    timeliness,
)
PER_COUNTRY: tuple[Callable[[RoundData, str], ChartSpec], ...] = (migrant_workers, outflows, returnees_vs_outflows)


def _name(stem: str, country: str | None) -> str:
    return f"{country}_{stem}" if country else stem


def chart_specs(data: RoundData) -> list[ChartSpec]:
    """Every chart of the round: the regional ones, then each country's (countries sorted)."""
    specs = [make(data) for make in REGIONAL]
    return specs + [make(data, c) for c in sorted(data.names) for make in PER_COUNTRY]


def render(spec: ChartSpec, folder: Path) -> RenderedChart:
    folder.mkdir(parents=True, exist_ok=True)
    vega_lite = _style(spec.chart).to_dict()
    paths = {ext: folder / f"{spec.name}.{ext}" for ext in ("svg", "png", "csv")}
    svg = vlc.vegalite_to_svg(vega_lite)
    paths["svg"].write_text(svg)
    # the PNG from the SVG just drawn: pixel for pixel what vegalite_to_png gives, without running Vega again
    paths["png"].write_bytes(vlc.svg_to_png(svg, scale=PNG_SCALE))
    write_csv(spec.data, paths["csv"])
    return RenderedChart(spec.name, spec.title, paths["svg"], paths["png"], paths["csv"], len(spec.data))


def rendered(data: RoundData, folder: Path) -> list[RenderedChart]:
    """The charts of the round as rendered earlier into `folder` (for the pages and report built after them)."""
    out = []
    for spec in chart_specs(data):
        paths = [folder / f"{spec.name}.{ext}" for ext in ("svg", "png", "csv")]
        if missing := [p.name for p in paths if not p.exists()]:
            from ilms_dagster.publication.data import PublicationError

            raise PublicationError(f"chart files missing in {folder}: {', '.join(missing)}; build the charts first")
        out.append(RenderedChart(spec.name, spec.title, *paths, len(spec.data)))
    return out
