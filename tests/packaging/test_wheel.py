"""The built wheel works outside the checkout: it carries what the package reads (dagster.yaml, the SQL models,
the expectation suites, the microdata mappings, the deployment's configuration), and `ilms template` and
`ilms run` work from a folder that is not the checkout, in a fresh virtual environment.

Offline: the wheel is built by hatchling from the test environment (no build isolation), installed without
dependencies, and the fresh environment reaches the test environment's packages (not its editable checkout)
through a .pth file."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode and "No module named pip" in done.stderr:  # uv's environments have no pip: hatchling's own
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                f"from hatchling.build import build_wheel; import os; os.chdir({str(ROOT)!r}); "
                f"print(build_wheel({str(out)!r}))",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("ilms_dagster-*.whl")
    return built


def test_the_wheel_carries_what_the_package_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in ("dagster.yaml", "dbt_like_sql/stocks.sql", "expectations", "microdata", "deploy/dagster.yaml"):
        assert any(n.startswith(f"ilms_dagster/project_files/{path}") for n in names), path
    assert "ilms_dagster/registry/tables.yaml" in names and "ilms_dagster/questionnaire/sample_profiles.yaml" in names
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


def test_ilms_template_and_run_work_from_the_installed_wheel_outside_the_checkout(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    packages = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with zipfile.ZipFile(wheel) as archive:  # a wheel is installed by unpacking it into site-packages
        archive.extractall(packages)
    (Path(packages) / "test_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ILMS_", "DAGSTER_HOME", "PYTHONPATH"))}

    def ilms(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [python, "-m", "ilms_dagster.cli", *args], cwd=work, env=env, capture_output=True, text=True, timeout=900
        )

    where = subprocess.run(
        [python, "-c", "import ilms_dagster; print(ilms_dagster.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(packages), where  # the wheel's package, not the checkout's
    done = ilms("template", "--country", "THA", "--round", "2024")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (work / "data" / "templates" / "THA_ILMQ_2024.xlsx").exists()
    done = ilms("run", "--round", "2024", "--country", "BRN", "--country", "KHM", "--no-publish")
    assert done.returncode == 0, done.stdout + done.stderr
    with duckdb.connect(str(work / "data" / "warehouse_read.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT ref_area FROM raw.submissions ORDER BY 1").fetchall() == [("BRN",), ("KHM",)]
        assert conn.execute("SELECT count(*) FROM marts.stocks").fetchone()[0] > 0
    shutil.rmtree(env_dir)
