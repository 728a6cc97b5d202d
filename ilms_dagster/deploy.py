"""The production topology on one machine, on loopback: PostgreSQL, Redis, a gRPC code server, the daemon,
the webserver and Celery workers as separate processes (`ilms deploy up|down|status`, docs/deployment.md).

Everything lives in one folder (`<data>/deploy`): the PostgreSQL cluster, DAGSTER_HOME (with
deploy/dagster.yaml), the workspace and Celery config written with the ports chosen, `logs/<service>.log`
and `pids/<service>.pid`. Each service is started in a session of its own; its pid file holds the pid and
the process's start time, so `down` stops exactly those process groups (runs launched by the code server
are in its group) and never a later process that got the same number.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ilms_dagster.environment import DAGSTER_ENVIRONMENT
from ilms_dagster.executor import BACKEND_ENV, BROKER_ENV, EXECUTOR_ENV
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
        return os.environ | {k: os.environ.get(k, v) for k, v in DAGSTER_ENVIRONMENT.items()} | {
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


def _start_ticks(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def running_pid(topology: Topology, service: str) -> int | None:
    """The pid of the service if the process its pid file names is still that process (same start time)."""
    path = topology.pid_file(service)
    if not path.exists():
        return None
    pid, ticks = (int(x) for x in path.read_text().split())
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if Path(f"/proc/{pid}").exists() else "X"
    return pid if state not in ("Z", "X") and _start_ticks(pid) == ticks else None


def _spawn(topology: Topology, service: str, command: list[str], env: dict[str, str], user: str | None = None) -> int:
    topology.log(service).parent.mkdir(parents=True, exist_ok=True)
    topology.pid_file(service).parent.mkdir(parents=True, exist_ok=True)
    with topology.log(service).open("ab") as out:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, **_as_user(user))  # fmt: skip
    topology.pid_file(service).write_text(f"{process.pid} {_start_ticks(process.pid)}\n")
    return process.pid


def _wait(topology: Topology, service: str, ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(topology, service) is None:
            raise DeployError(f"{service} exited during start-up; its log {topology.log(service)}:\n{_tail(topology, service)}")
        try:
            if ready():
                return
        except (OSError, urllib.error.URLError, subprocess.SubprocessError, RuntimeError):
            pass
        time.sleep(0.5)
    raise DeployError(f"{service} not ready after {timeout:.0f}s; its log {topology.log(service)}:\n{_tail(topology, service)}")


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
    first = signal.SIGINT if service == "postgres" else signal.SIGTERM
    for sig, wait in ((first, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_alive(pid):
            time.sleep(0.2)
        if not _group_alive(pid):
            break
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    for proc in Path("/proc").iterdir():  # a group whose members are all zombies is gone
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False


# -- the services ---------------------------------------------------------------------------------------------


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_user() -> str | None:
    """PostgreSQL refuses to run as root: as root it runs as Debian's `postgres` system user."""
    return "postgres" if os.geteuid() == 0 else None


def _as_user(user: str | None) -> dict:
    """Popen arguments running a child as `user` with its own group and no supplementary groups (root's
    group would otherwise deny it folders open to others only)."""
    return {"user": user, "group": user, "extra_groups": []} if user else {}


def _let_postgres_in(folder: Path) -> None:
    """As root: the folder is owned by `postgres` and every folder above it can be traversed (x for others)."""
    if _postgres_user() is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    shutil.chown(folder, "postgres", "postgres")
    for parent in folder.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _start_postgres(topology: Topology) -> None:
    folder, user = topology.root / "postgres", _postgres_user()
    initdb, postgres = _binary("initdb", PG_BIN_DIRS), _binary("postgres", PG_BIN_DIRS)
    pg_isready = _binary("pg_isready", PG_BIN_DIRS)
    _let_postgres_in(folder)
    if not (folder / "PG_VERSION").exists():
        done = subprocess.run([initdb, "-D", str(folder), "-U", PG_USER, "--auth=trust", "-E", "UTF8"],
                              capture_output=True, text=True, cwd=folder, **_as_user(user))  # fmt: skip
        if done.returncode:
            raise DeployError(f"initdb failed in {folder}:\n{done.stderr[-2000:]}")
    port = str(topology.ports["postgres"])
    _spawn(topology, "postgres", [postgres, "-D", str(folder), "-h", "127.0.0.1", "-p", port, "-k", str(folder)],
           os.environ | {"LC_ALL": "C.UTF-8"}, user=user)  # fmt: skip
    _wait(topology, "postgres", lambda: subprocess.run([pg_isready, "-q", "-h", "127.0.0.1", "-p", port]).returncode == 0, 60)
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user=PG_USER, dbname="postgres")
    try:
        conn.autocommit = True  # CREATE DATABASE runs outside a transaction
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DB])
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{PG_DB}"')
    finally:
        conn.close()


def redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def _start_redis(topology: Topology) -> None:
    folder = topology.root / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    port = topology.ports["redis"]
    _spawn(topology, "redis", [_binary("redis-server"), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                               "--appendonly", "no", "--daemonize", "no", "--dir", str(folder)], dict(os.environ))  # fmt: skip
    _wait(topology, "redis", lambda: redis_ping(port), 30)


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _write_config(topology: Topology) -> None:
    import yaml

    topology.home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEPLOY_CONFIG / "dagster.yaml", topology.home / "dagster.yaml")
    workspace = yaml.safe_load((DEPLOY_CONFIG / "workspace.yaml").read_text())
    workspace["load_from"][0]["grpc_server"]["port"] = topology.ports["code_server"]
    (topology.root / "workspace.yaml").write_text(yaml.safe_dump(workspace, sort_keys=False))
    (topology.root / "celery.yaml").write_text(yaml.safe_dump(
        {"execution": {"config": {"broker": topology.broker, "backend": topology.backend}}}))


def _start_dagster(topology: Topology, ready_timeout: float) -> None:
    from ilms_dagster.dagster_dev import READY_QUERY, DagsterDev

    env, workspace = topology.env(), str(topology.root / "workspace.yaml")
    port = str(topology.ports["code_server"])
    _spawn(topology, "code_server", [_bin("dagster"), "code-server", "start", "-m", "ilms_dagster.definitions",
                                     "-h", "127.0.0.1", "-p", port, "--location-name", LOCATION], env)  # fmt: skip
    health = [_bin("dagster"), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", port]
    _wait(topology, "code_server", lambda: subprocess.run(health, capture_output=True, env=env, timeout=20).returncode == 0,
          ready_timeout)  # fmt: skip
    _spawn(topology, "daemon", [_bin("dagster-daemon"), "run", "-w", workspace], env)
    _spawn(topology, "webserver", [_bin("dagster-webserver"), "-h", "127.0.0.1", "-p", str(topology.ports["webserver"]),
                                   "-w", workspace], env)  # fmt: skip
    for i in range(1, topology.workers + 1):
        start_worker(topology, i)
    client = DagsterDev(topology.url, topology.home, topology.log("webserver"), None)

    def ready() -> bool:
        data = client.graphql(READY_QUERY, timeout=10)
        locations = [e["locationOrLoadError"] or {} for e in data["workspaceOrError"]["locationEntries"]]
        daemons = {d["daemonType"]: d["healthy"] for d in data["instance"]["daemonHealth"]["allDaemonStatuses"]}
        return bool(locations) and all(x.get("__typename") == "RepositoryLocation" for x in locations) and bool(daemons.get("BACKFILL"))

    _wait(topology, "webserver", ready, ready_timeout)
    for i in range(1, topology.workers + 1):
        wait_for_worker(topology, i, ready_timeout)


def start_worker(topology: Topology, i: int) -> int:
    """Celery worker i: one task at a time (concurrency 1), on the "dagster" queue of the loopback Redis."""
    return _spawn(topology, f"worker_{i}", [_bin("dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
                                            "-y", str(topology.root / "celery.yaml"), "-n", f"ilms-worker-{i}",
                                            "--", "--concurrency=1"], topology.env())  # fmt: skip


def wait_for_worker(topology: Topology, i: int, timeout: float = 120) -> None:
    service = f"worker_{i}"
    _wait(topology, service, lambda: " ready." in topology.log(service).read_text(errors="replace"), timeout)


def start_daemon(topology: Topology) -> int:
    return _spawn(topology, "daemon", [_bin("dagster-daemon"), "run", "-w", str(topology.root / "workspace.yaml")], topology.env())


# -- up, down, status -----------------------------------------------------------------------------------------


def up(root: Path, data_dir: Path, workers: int = 2, ports: dict[str, int] | None = None,
       ready_timeout: float = 240, report: Callable[[str], None] = lambda _: None) -> Topology:  # fmt: skip
    """Start every service (or fail with the reason, leaving nothing running). Ports: given, or free ones."""
    root, data_dir = Path(root).resolve(), Path(data_dir).resolve()
    if (root / "state.json").exists() and any(running_pid(Topology.load(root), s) for s in Topology.load(root).services()):
        raise DeployError(f"a deployment is already running in {root}: `ilms deploy down` first")
    ports = dict(ports or {})
    for service in ("postgres", "redis", "code_server", "webserver"):
        ports.setdefault(service, _free_port())
        _check_port_free(service, ports[service])
    topology = Topology(root, data_dir, ports, workers)
    root.mkdir(parents=True, exist_ok=True)
    _write_config(topology)
    topology.save()
    try:
        _start_postgres(topology)
        report(f"postgres on 127.0.0.1:{ports['postgres']} ({topology.root / 'postgres'})")
        _start_redis(topology)
        report(f"redis on 127.0.0.1:{ports['redis']} (no persistence)")
        _start_dagster(topology, ready_timeout)
        report(f"code server on 127.0.0.1:{ports['code_server']}, daemon, {workers} Celery worker(s), "
               f"webserver on {topology.url}")  # fmt: skip
    except BaseException:
        down(root)
        raise
    return topology


def down(root: Path, report: Callable[[str], None] = lambda _: None) -> list[str]:
    """Stop the deployment's processes (webserver, daemon, workers, code server, redis, postgres); the names
    of those that were running."""
    topology = Topology.load(root)
    stopped = []
    for service in ["webserver", "daemon", *[s for s in topology.services() if s.startswith("worker_")],
                    "code_server", "redis", "postgres"]:  # fmt: skip
        if stop(topology, service):
            stopped.append(service)
            report(f"stopped {service}")
    return stopped


def status(root: Path) -> dict[str, int | None]:
    """Each service and its pid, None if not running."""
    topology = Topology.load(root)
    return {service: running_pid(topology, service) for service in topology.services()}
