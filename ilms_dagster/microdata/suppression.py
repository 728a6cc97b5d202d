"""Secondary suppression: a cell suppressed for confidentiality must not be recoverable from its total and the
other parts of any identity of the registry (SEX_T = SEX_M + SEX_F, a category total, a migratory-status total,
ECO_SECTOR_NAG = TOTAL - AGR, ...).

Rule: in every identity of an additive table (same table, year and other two dimensions) the suppressed non-zero
terms are none or at least two. Where exactly one is suppressed, the smallest published non-zero part (the total
only when no part is left) is suppressed too, in a fixed order, until no identity has a single one. Deterministic;
it does not search for the least information lost (no linear programming), which is the usual next step.
"""

from __future__ import annotations

import pandas as pd

from ilms_dagster.registry import IDENTITIES, TABLES, UNITS

_DIM = {"sex": 1, "classif1": 2, "classif2": 3}


def _groups(keys: list[tuple]) -> list[list[tuple]]:
    """Terms (total first, then parts) of every identity instance among the cells' keys
    (table_id, sex, classif1, classif2)."""
    present = set(keys)
    groups = []
    for identity in (i for i in IDENTITIES if not i.partial):
        d = _DIM[identity.dimension]
        for key in keys:
            if key[d] != identity.total or not UNITS[TABLES[key[0]].unit].additive:
                continue
            terms = [key] + [key[:d] + (code,) + key[d + 1 :] for code, _ in identity.parts]
            if all(t in present for t in terms):
                groups.append(terms)
    return groups


def secondary_suppression(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells with column `suppression` ('primary', 'secondary' or '') and obs_status 'x' / obs_value empty
    for the secondary ones."""
    cells = cells.copy()
    keys = list(zip(cells.table_id, cells.sex, cells.classif1, cells.classif2, strict=True))
    row = {k: i for i, k in enumerate(keys)}
    hidden = dict(zip(keys, cells.obs_status == "x", strict=True))
    n = dict(zip(keys, cells.n_obs, strict=True))
    estimate = dict(zip(keys, cells.estimate, strict=True))
    secondary: list[tuple] = []
    groups = _groups(keys)
    changed = True
    while changed:
        changed = False
        for terms in groups:
            if sum(hidden[t] and n[t] > 0 for t in terms) != 1:
                continue
            candidates = [
                (position == 0, estimate[t], position, t)
                for position, t in enumerate(terms)
                if not hidden[t] and n[t] > 0
            ]
            if candidates:
                chosen = min(candidates)[3]
                hidden[chosen] = True
                secondary.append(chosen)
                changed = True
    cells["suppression"] = ["primary" if s == "x" else "" for s in cells.obs_status]
    for key in secondary:
        i = row[key]
        cells.iloc[i, cells.columns.get_loc("obs_status")] = "x"
        cells.iloc[i, cells.columns.get_loc("obs_value")] = None
        cells.iloc[i, cells.columns.get_loc("suppression")] = "secondary"
    return cells
