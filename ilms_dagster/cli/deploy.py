"""`ilms deploy up|down|status`: the production topology on this machine, on loopback (ilms_dagster/orchestration/topology.py,
docs/deployment.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="PostgreSQL, Redis, code server, daemon, webserver and Celery workers as separate services.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)

Folder = Annotated[Path | None, typer.Option(help="Deployment folder (default: <data>/deploy)")]
# The production topology's packages (pyproject.toml's optional extra `deploy`): module -> distribution
DEPLOY_PACKAGES = {
    "dagster_postgres": "dagster-postgres",
    "dagster_celery": "dagster-celery",
    "celery": "celery",
    "redis": "redis",
    "psycopg2": "psycopg2-binary",
}


def missing_packages() -> list[str]:
    """The distributions of the extra `deploy` this environment cannot import (found without importing them)."""
    from importlib.util import find_spec

    missing = []
    for module, distribution in DEPLOY_PACKAGES.items():
        try:
            found = find_spec(module) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules, a broken parent
            found = False
        if not found:
            missing.append(distribution)
    return missing


def _require_packages() -> None:
    missing = missing_packages()
    if missing:
        console.print(
            f"ilms deploy up: the production topology's packages are not installed ({', '.join(missing)}). "
            "Install them with `uv sync --extra deploy` (or pip install 'ilms-dagster[deploy]'), then "
            "run it again.",
            style="red",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1)


def _folder(folder: Path | None) -> Path:
    from ilms_dagster.resources.locations import data_dir

    return folder or data_dir() / "deploy"


@app.command("up")
def up_command(
    folder: Folder = None,
    workers: Annotated[int, typer.Option(min=1, help="Celery workers (one step at a time each)")] = 2,
    webserver_port: Annotated[
        int | None, typer.Option(help="Port of the UI on 127.0.0.1 (default: a free one)")
    ] = None,
) -> None:
    """Start every service on 127.0.0.1; logs and pids in the deployment folder. Fails, stopping what it
    started, if a port is taken, a binary is missing or a service does not get ready."""
    _require_packages()
    from ilms_dagster.orchestration.topology import DeployError, up
    from ilms_dagster.resources.locations import data_dir

    ports = {"webserver": webserver_port} if webserver_port else None
    try:
        topology = up(_folder(folder), data_dir(), workers=workers, ports=ports, report=console.print)
    except DeployError as exc:
        console.print(f"ilms deploy up: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None
    console.print(f"UI on {topology.url} (no authentication: loopback only). Stop with `ilms deploy down`.")


@app.command("down")
def down_command(folder: Folder = None) -> None:
    """Stop exactly the processes `up` started (by their pid files), the runs they launched with them."""
    from ilms_dagster.orchestration.topology import DeployError, down

    try:
        stopped = down(_folder(folder), report=console.print)
    except DeployError as exc:
        console.print(f"ilms deploy down: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None
    console.print(f"{len(stopped)} service(s) stopped" if stopped else "nothing was running")


@app.command("status")
def status_command(folder: Folder = None) -> None:
    """Each service, its pid, running or not."""
    from ilms_dagster.orchestration.topology import DeployError, status

    try:
        for service, pid in status(_folder(folder)).items():
            console.print(f"{service:12} {'running, pid ' + str(pid) if pid else 'not running'}")
    except DeployError as exc:
        console.print(f"ilms deploy status: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None
