"""The documentation names what exists: every relative link and every repository path in README.md and docs/*.md
points at a file or folder, and every `ilms` command of the README's day-to-day table parses (its subcommand and
options exist) in the real command line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ilms_dagster.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PATH = re.compile(r"`((?:ilms_dagster|tests|benchmarks|deploy|docs|dbt_like_sql|expectations)/[\w./-]*[\w/])`")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_link_and_repository_path_exists(doc):
    text = doc.read_text()
    missing = [link for link in LINK.findall(text) if "://" not in link and not (doc.parent / link).exists()]
    generated = ("tests/artifacts",)  # written by the tests
    missing += [
        path
        for path in PATH.findall(text)
        if "*" not in path and "<" not in path and not path.startswith(generated) and not (ROOT / path).exists()
    ]
    assert not missing, f"{doc.name} names what does not exist: {missing}"


def readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    table = text.split("\n## Day to day", 1)[1].split("\n## ", 1)[0]
    commands = []
    for cell in re.findall(r"`uv run ilms ([^`]*)`", table):
        words = [w for w in shlex.split(cell.replace("...", "")) if not w.startswith("[")]
        commands.append([w for w in words if not w.endswith("]")])
    return commands


def test_the_readme_table_names_ilms_commands():
    assert len(readme_commands()) >= 12


@pytest.mark.parametrize("words", readme_commands(), ids=" ".join)
def test_each_readme_command_parses(words):
    """The command with `--help` appended: click rejects an unknown command or option before it prints help."""
    done = CliRunner().invoke(app, [*words, "--help"])
    assert done.exit_code == 0, (words, done.output)
    assert "Usage:" in done.output
