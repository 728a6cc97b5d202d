"""`ilms deploy up` without the optional extra `deploy`: a message naming what to install, not a traceback, and
nothing started. The packages' absence is made real for a fresh interpreter (their modules set to None in
sys.modules before `ilms` runs, as Python does for a module that cannot be imported)."""

from __future__ import annotations

import subprocess
import sys

from ilms_dagster.cli.deploy import DEPLOY_PACKAGES, missing_packages

ABSENT = """import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from ilms_dagster.cli import app
app(["deploy", "up", "--folder", sys.argv[2]])
"""


def test_deploy_up_names_the_extra_when_its_packages_are_missing(tmp_path):
    folder = tmp_path / "deploy"
    done = subprocess.run(
        [sys.executable, "-c", ABSENT, "celery,dagster_celery", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    text = " ".join(done.stdout.split())
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not installed (dagster-celery, celery)" in text and "uv sync --extra deploy" in text, text
    assert "ilms-dagster[deploy]" in text and "Traceback" not in done.stdout + done.stderr
    assert not folder.exists()  # nothing was started


def test_the_test_environment_has_the_extra():
    """The suite runs with the extra (the dev group includes it), so tests/orchestration/test_deploy.py can run the topology."""
    assert missing_packages() == [] and set(DEPLOY_PACKAGES.values()) >= {"celery", "psycopg2-binary"}
