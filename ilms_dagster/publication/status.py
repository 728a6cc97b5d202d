"""Where the collection stands, round x country, from `marts.status_matrix` (dbt_like_sql/status_matrix.sql):
the matrix as Markdown and as a PNG (Altair), the overdue cells, and the alert about newly blocked, late or
missing cells (a Slack-ready message body; sending it is left to the deployment: nothing here uses the network).

Pure functions over the model's rows; the Dagster wrappers are in assets/status_report.py. Rounds and countries are
the rows' own, never a list of the code's.
"""

from __future__ import annotations

import json

import pandas as pd

# The statuses of marts.status_matrix, in the order of the legend, and their colours (red: someone must act).
COLOURS = {
    "accepted": "#2e7d32",
    "reviewed": "#81c784",
    "submitted": "#90caf9",
    "blocked": "#c62828",
    "missing": "#ef6c00",
    "not yet due": "#e0e0e0",
}
ALERTING = ("blocked", "missing")  # a status that alerts; so does a late first submission


def matrix(rows: pd.DataFrame) -> pd.DataFrame:
    """round (rows, newest first) x country (columns) of the cell labels."""
    if rows.empty:
        return pd.DataFrame()
    grid = rows.pivot(index="round", columns="ref_area", values="label")
    return grid.sort_index(ascending=False).sort_index(axis=1)


def matrix_markdown(rows: pd.DataFrame) -> str:
    grid = matrix(rows)
    if grid.empty:
        return "No round has a submission yet: the matrix starts with the first round received."
    header = "| round | " + " | ".join(grid.columns) + " |"
    lines = [header, "|---" * (len(grid.columns) + 1) + "|"]
    lines += [f"| {round_} | " + " | ".join(str(v) for v in row) + " |" for round_, row in grid.iterrows()]
    counts = rows["status"].value_counts()
    summary = ", ".join(f"{status} {counts[status]}" for status in COLOURS if status in counts)
    late = int(rows["late"].sum())
    return "\n".join(lines) + f"\n\n{len(rows)} cells: {summary}; late {late}."


def matrix_png(rows: pd.DataFrame) -> bytes:
    """The matrix as a PNG (Altair, rendered by vl-convert as the publication's charts are): a coloured cell per
    round x country, its label written in it, the statuses in the legend."""
    import altair as alt
    import vl_convert as vlc

    cells = rows[["round", "ref_area", "status", "label"]].astype({"round": str}) if len(rows) else rows
    if cells.empty:
        cells = pd.DataFrame([{"round": "-", "ref_area": "-", "status": "not yet due", "label": "no submission yet"}])
    rounds = sorted(cells["round"].unique(), reverse=True)
    base = alt.Chart(cells).encode(
        x=alt.X("ref_area:N", title=None, sort="ascending", axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("round:N", title=None, sort=rounds),
    )
    colour = alt.Color(
        "status:N",
        scale=alt.Scale(domain=list(COLOURS), range=list(COLOURS.values())),
        legend=alt.Legend(title="status"),
    )
    chart = base.mark_rect(stroke="white").encode(color=colour) + base.mark_text(fontSize=9).encode(text="label:N")
    chart = chart.properties(
        title="Submissions by round x country", width=72 * cells["ref_area"].nunique(), height=28 * len(rounds)
    )
    return vlc.vegalite_to_png(chart.to_json(), scale=2)


def overdue(rows: pd.DataFrame) -> pd.DataFrame:
    """The cells whose round's deadline has passed with nothing received (red in the deadline check)."""
    return rows[rows["missing"]].sort_values(["round", "ref_area"])[["round", "ref_area", "deadline", "days_late"]]


def alert_keys(rows: pd.DataFrame) -> dict[str, str]:
    """{"<round>|<country>": label} of every cell that alerts: blocked, missing, or late."""
    alerting = rows[rows["status"].isin(ALERTING) | rows["late"]]
    return {f"{r.round}|{r.ref_area}": r.label for r in alerting.itertuples()}


def new_alerts(rows: pd.DataFrame, cursor: str | None) -> tuple[dict[str, str], str]:
    """The alerting cells not reported yet with the same label, and the new cursor (JSON of every alerting cell
    and its label: a cell that stops alerting and comes back is reported again)."""
    seen = json.loads(cursor) if cursor else {}
    now = alert_keys(rows)
    return {k: v for k, v in sorted(now.items()) if seen.get(k) != v}, json.dumps(now, sort_keys=True)


def alert_message(alerts: dict[str, str]) -> dict:
    """A Slack message body (`chat.postMessage` / incoming-webhook JSON: text + blocks) for the new alerts."""
    lines = [f"- {key.replace('|', ' ')}: {label}" for key, label in sorted(alerts.items())]
    text = f"ILMS: {len(alerts)} submission(s) need attention (blocked, late or missing)"
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": text}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
        ],
    }
