"""The bad-input corpus (tests/support/corpus.py): every kind gets its outcome and a message naming file, sheet, cell
and rule; a real Dagster run over all of them at once leaves the warehouse's content exactly as it was."""

from __future__ import annotations

import pytest

from ilms_dagster.resources import IlmsStorage
from tests.support.corpus import CORPUS_ENV, KINDS, REJECTED, attempt, good

ROUND, COUNTRY = "2024", "QAA"


@pytest.fixture
def corpus_env(monkeypatch):
    for key, value in CORPUS_ENV.items():
        monkeypatch.setenv(key, value)


def test_the_corpus_has_at_least_forty_kinds():
    assert len(KINDS) >= 40
    assert sum(k.outcome == REJECTED for k in KINDS.values()) >= 40


@pytest.mark.parametrize("name", list(KINDS))
def test_each_kind_gets_its_outcome_and_a_message_naming_the_rule(tmp_path, corpus_env, name):
    storage = IlmsStorage(data_dir=str(tmp_path), inbox_dir=str(tmp_path / "inbox"))
    good(storage.inbox / ROUND, "QZZ", ROUND)  # the inbox is not empty: never the bundled samples
    kind = KINDS[name]
    kind.build(storage.inbox / ROUND, COUNTRY, ROUND)
    outcome, message = attempt(storage, ROUND, COUNTRY)
    assert outcome == kind.outcome, message
    for fragment in kind.fragments:
        assert fragment in message, message
    assert "dagster" not in message and "Traceback" not in message
    if outcome == REJECTED:
        first = message.splitlines()[0]
        assert first.startswith(("'", "No submission for QAA")), first  # the file named, quoted
        assert not any(line.startswith("BRN 2024") for line in message.splitlines())  # no forged status line
        assert not list((tmp_path / "staging").glob(f"{ROUND}/{COUNTRY}/*.parquet"))  # nothing staged


def test_a_real_run_over_the_whole_corpus_rejects_every_kind_and_changes_no_content(project, corpus_env):
    """One good partition loaded and the models built; then every rejected kind in the inbox at once, each as
    a country of its own, ingested by real Dagster runs (as `ilms run` does): each rejected with its message,
    and the warehouse's content digest (marts included, rebuilt) exactly as before."""
    from string import ascii_uppercase

    from ilms_dagster.definitions import build_defs
    from ilms_dagster.orchestration.round_run import run_round
    from ilms_dagster.resources.warehouse import connect_read_only, content_digest

    def digest() -> str:
        with connect_read_only(project.warehouse_path) as conn:  # the analysts' copy: published after each write
            return content_digest(conn)

    good(project.inbox / ROUND, "THA", ROUND)
    defs = build_defs(project.resources)
    ingest, models = defs.resolve_job_def("ingest_submissions"), defs.resolve_job_def("build_models")
    assert [o.status for o in run_round(ingest, project.instance, ROUND, ["THA"])] == ["ok"]
    assert models.execute_in_process(instance=project.instance).success
    before = digest()
    assert models.execute_in_process(instance=project.instance).success
    assert digest() == before  # the same inputs rebuild the same bits

    rejected = {name: kind for name, kind in KINDS.items() if kind.outcome == REJECTED}
    codes = [f"Q{a}{b}" for a in ascii_uppercase for b in ascii_uppercase][: len(rejected)]
    for code, kind in zip(codes, rejected.values(), strict=True):
        kind.build(project.inbox / ROUND, code, ROUND)
    outcomes = run_round(ingest, project.instance, ROUND, codes)
    for (name, kind), outcome in zip(rejected.items(), outcomes, strict=True):
        assert outcome.status == "rejected", (name, outcome)
        assert all(fragment in outcome.message for fragment in kind.fragments), (name, outcome.message)
        assert "dagster" not in outcome.message, (name, outcome.message)
    assert models.execute_in_process(instance=project.instance).success
    assert digest() == before


def test_the_worst_cases_are_refused_or_accepted_in_a_child_process():
    """The heaviest kinds, and the largest workbook the default limits let through, each in a child process as
    benchmarks/reliability.py runs them: refused or accepted, never a crash or a hang (a child past the benchmark's
    TIMEOUT). Their time and peak memory are that benchmark's figures (docs/reliability.md), not asserted here."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import reliability

    heaviest = [
        "zip bomb (one part compressed 1000:1)",
        "huge shared strings",
        "cells far below the grid",
        "a far cell calamine would take 2 GiB for",
    ]  # refused before calamine reads the sheet it is in
    for kind in [reliability.LARGEST, *heaviest]:
        result = reliability.measure(kind)
        assert result["outcome"] in ("rejected", "accepted"), result
