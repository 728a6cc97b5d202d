"""The processes of the production topology (`orchestration.topology`): its folder and ports (`Topology`), each
service started in a session of its own with a pid file holding its pid and start time, waited for, and stopped as a
process group (never a later process that got the same number)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ilms_dagster.orchestration.dev_process import start_time, stop_group
from ilms_dagster.orchestration.environment import DAGSTER_ENVIRONMENT
from ilms_dagster.orchestration.executor import BACKEND_ENV, BROKER_ENV, EXECUTOR_ENV
from ilms_dagster.resources.storage import PROJECT_ROOT

DEPLOY_CONFIG = PROJECT_ROOT / "deploy"
PG_BIN_DIRS = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15")]
PG_USER, PG_DB = "dagster", "dagster"
SERVICES = ["postgres", "redis", "code_server", "daemon", "webserver"]  # workers follow; stopped in reverse
LOCATION = "ilms_dagster"


class DeployError(RuntimeError):
    """A service that cannot start: a port taken, a binary missing, a process that exited or never got ready."""


@dataclass
class Topology:
    """The folder and ports of one deployment (saved as state.json) and what its processes are told."""

    root: Path
    data_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    workers: int = 2

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['webserver']}"

    @property
    def postgres_url(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.ports['postgres']}/{PG_DB}"

    @property
    def broker(self) -> str:
        return f"redis://127.0.0.1:{self.ports['redis']}/0"

    @property
    def backend(self) -> str:
        return f"redis://127.0.0.1:{self.ports['redis']}/1"

    def log(self, service: str) -> Path:
        return self.root / "logs" / f"{service}.log"

    def pid_file(self, service: str) -> Path:
        return self.root / "pids" / f"{service}.pid"

    def services(self) -> list[str]:
        return SERVICES + [f"worker_{i}" for i in range(1, self.workers + 1)]

    def env(self) -> dict[str, str]:
        """The environment of the code server, daemon, webserver and workers (and so of every run)."""
        return (
            os.environ
            | {k: os.environ.get(k, v) for k, v in DAGSTER_ENVIRONMENT.items()}
            | {
                "DAGSTER_HOME": str(self.home),
                "ILMS_DATA_DIR": str(self.data_dir),
                "ILMS_INBOX": os.environ.get("ILMS_INBOX", str(self.data_dir / "inbox")),
                "ILMS_WAREHOUSE": os.environ.get("ILMS_WAREHOUSE", str(self.data_dir / "warehouse.duckdb")),
                "ILMS_POSTGRES_URL": self.postgres_url,
                EXECUTOR_ENV: "celery",
                BROKER_ENV: self.broker,
                BACKEND_ENV: self.backend,
                # dagster-celery starts `celery` by name: this environment's tools first, even when it is not activated
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            }
        )

    def save(self) -> None:
        state = asdict(self) | {"root": str(self.root), "data_dir": str(self.data_dir)}
        (self.root / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True))

    @classmethod
    def load(cls, root: Path) -> Topology:
        path = Path(root) / "state.json"
        if not path.exists():
            raise DeployError(f"no deployment in {root} (no state.json): run `ilms deploy up` first")
        state = json.loads(path.read_text())
        return cls(Path(state["root"]), Path(state["data_dir"]), state["ports"], state["workers"])


# -- processes ------------------------------------------------------------------------------------------------


def running_pid(topology: Topology, service: str) -> int | None:
    """The pid of the service if the process its pid file names is still that process (same start time)."""
    path = topology.pid_file(service)
    if not path.exists():
        return None
    pid, started = path.read_text().split()
    return int(pid) if start_time(int(pid)) == float(started) else None


def _spawn(topology: Topology, service: str, command: list[str], env: dict[str, str], user: str | None = None) -> int:
    topology.log(service).parent.mkdir(parents=True, exist_ok=True)
    topology.pid_file(service).parent.mkdir(parents=True, exist_ok=True)
    with topology.log(service).open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **_as_user(user),
        )
    topology.pid_file(service).write_text(f"{process.pid} {start_time(process.pid)!r}\n")
    return process.pid


def _wait(topology: Topology, service: str, ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(topology, service) is None:
            raise DeployError(
                f"{service} exited during start-up; its log {topology.log(service)}:\n{_tail(topology, service)}"
            )
        try:
            if ready():
                return
        except (OSError, urllib.error.URLError, subprocess.SubprocessError, RuntimeError):
            pass
        time.sleep(0.5)
    raise DeployError(
        f"{service} not ready after {timeout:.0f}s; its log {topology.log(service)}:\n{_tail(topology, service)}"
    )


def _tail(topology: Topology, service: str, chars: int = 3000) -> str:
    path = topology.log(service)
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


def stop(topology: Topology, service: str, grace: float = 20) -> bool:
    """Stop the process group of one service (SIGINT for PostgreSQL's fast shutdown, else SIGTERM; SIGKILL
    after `grace` seconds). True if it was running."""
    pid = running_pid(topology, service)
    topology.pid_file(service).unlink(missing_ok=True)
    if pid is None:
        return False
    stop_group(pid, grace, first=signal.SIGINT if service == "postgres" else signal.SIGTERM)
    return True


def _binary(name: str, dirs: list[Path] = ()) -> str:
    for folder in dirs:
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if not found:
        package = {"redis-server": "redis-server"}.get(name, "postgresql")
        raise DeployError(f"`{name}` not found: install Debian's {package} package (apt-get install -y {package})")
    return found


def _check_port_free(service: str, port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise DeployError(f"port {port} on 127.0.0.1 for {service} is taken ({exc.strerror})") from None


def _postgres_user() -> str | None:
    """PostgreSQL refuses to run as root: as root it runs as Debian's `postgres` system user."""
    return "postgres" if os.geteuid() == 0 else None


def _as_user(user: str | None) -> dict:
    """Popen arguments running a child as `user` with its own group and no supplementary groups (root's
    group would otherwise deny it folders open to others only)."""
    return {"user": user, "group": user, "extra_groups": []} if user else {}
