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
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ilms_dagster.orchestration.dev_process import free_port
from ilms_dagster.orchestration.processes import (
    DEPLOY_CONFIG,
    LOCATION,
    PG_BIN_DIRS,
    PG_DB,
    PG_USER,
    DeployError,
    Topology,
    _as_user,
    _binary,
    _check_port_free,
    _postgres_user,
    _spawn,
    _wait,
    running_pid,
    stop,
)


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
        done = subprocess.run(
            [initdb, "-D", str(folder), "-U", PG_USER, "--auth=trust", "-E", "UTF8"],
            capture_output=True,
            text=True,
            cwd=folder,
            **_as_user(user),
        )
        if done.returncode:
            raise DeployError(f"initdb failed in {folder}:\n{done.stderr[-2000:]}")
    port = str(topology.ports["postgres"])
    _spawn(
        topology,
        "postgres",
        [postgres, "-D", str(folder), "-h", "127.0.0.1", "-p", port, "-k", str(folder)],
        os.environ | {"LC_ALL": "C.UTF-8"},
        user=user,
    )
    _wait(
        topology,
        "postgres",
        lambda: subprocess.run([pg_isready, "-q", "-h", "127.0.0.1", "-p", port]).returncode == 0,
        60,
    )
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
    _spawn(
        topology,
        "redis",
        [
            _binary("redis-server"),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(folder),
        ],
        dict(os.environ),
    )
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
    (topology.root / "celery.yaml").write_text(
        yaml.safe_dump({"execution": {"config": {"broker": topology.broker, "backend": topology.backend}}})
    )


READY_QUERY = """
{
  workspaceOrError {
    ... on Workspace {
      locationEntries { name locationOrLoadError { __typename ... on PythonError { message } } }
    }
  }
  instance { daemonHealth { allDaemonStatuses { daemonType healthy } } }
}
"""


def _graphql(url: str, query: str, timeout: float = 10) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql", data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())["data"]


def _start_dagster(topology: Topology, ready_timeout: float) -> None:
    env, workspace = topology.env(), str(topology.root / "workspace.yaml")
    port = str(topology.ports["code_server"])
    _spawn(
        topology,
        "code_server",
        [
            _bin("dagster"),
            "code-server",
            "start",
            "-m",
            "ilms_dagster.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "--location-name",
            LOCATION,
        ],
        env,
    )
    health = [_bin("dagster"), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", port]
    _wait(
        topology,
        "code_server",
        lambda: subprocess.run(health, capture_output=True, env=env, timeout=20).returncode == 0,
        ready_timeout,
    )
    _spawn(topology, "daemon", [_bin("dagster-daemon"), "run", "-w", workspace], env)
    _spawn(
        topology,
        "webserver",
        [_bin("dagster-webserver"), "-h", "127.0.0.1", "-p", str(topology.ports["webserver"]), "-w", workspace],
        env,
    )
    for i in range(1, topology.workers + 1):
        start_worker(topology, i)

    def ready() -> bool:
        """This start's code location loaded and its backfill daemon beating, asked of the webserver itself."""
        data = _graphql(topology.url, READY_QUERY)
        locations = [e["locationOrLoadError"] or {} for e in data["workspaceOrError"]["locationEntries"]]
        daemons = {d["daemonType"]: d["healthy"] for d in data["instance"]["daemonHealth"]["allDaemonStatuses"]}
        return (
            bool(locations)
            and all(x.get("__typename") == "RepositoryLocation" for x in locations)
            and bool(daemons.get("BACKFILL"))
        )

    _wait(topology, "webserver", ready, ready_timeout)
    for i in range(1, topology.workers + 1):
        wait_for_worker(topology, i, ready_timeout)


def start_worker(topology: Topology, i: int) -> int:
    """Celery worker i: one task at a time (concurrency 1), on the "dagster" queue of the loopback Redis."""
    return _spawn(
        topology,
        f"worker_{i}",
        [
            _bin("dagster-celery"),
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(topology.root / "celery.yaml"),
            "-n",
            f"ilms-worker-{i}",
            "--",
            "--concurrency=1",
        ],
        topology.env(),
    )


def wait_for_worker(topology: Topology, i: int, timeout: float = 120) -> None:
    service = f"worker_{i}"
    _wait(topology, service, lambda: " ready." in topology.log(service).read_text(errors="replace"), timeout)


def start_daemon(topology: Topology) -> int:
    return _spawn(
        topology, "daemon", [_bin("dagster-daemon"), "run", "-w", str(topology.root / "workspace.yaml")], topology.env()
    )


# -- up, down, status -----------------------------------------------------------------------------------------


def up(
    root: Path,
    data_dir: Path,
    workers: int = 2,
    ports: dict[str, int] | None = None,
    ready_timeout: float = 240,
    report: Callable[[str], None] = lambda _: None,
) -> Topology:
    """Start every service (or fail with the reason, leaving nothing running). Ports: given, or free ones."""
    root, data_dir = Path(root).resolve(), Path(data_dir).resolve()
    if (root / "state.json").exists() and any(
        running_pid(Topology.load(root), s) for s in Topology.load(root).services()
    ):
        raise DeployError(f"a deployment is already running in {root}: `ilms deploy down` first")
    ports = dict(ports or {})
    for service in ("postgres", "redis", "code_server", "webserver"):
        ports.setdefault(service, free_port())
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
        report(
            f"code server on 127.0.0.1:{ports['code_server']}, daemon, {workers} Celery worker(s), "
            f"webserver on {topology.url}"
        )
    except BaseException:
        down(root)
        raise
    return topology


def down(root: Path, report: Callable[[str], None] = lambda _: None) -> list[str]:
    """Stop the deployment's processes (webserver, daemon, workers, code server, redis, postgres); the names
    of those that were running."""
    topology = Topology.load(root)
    stopped = []
    for service in [
        "webserver",
        "daemon",
        *[s for s in topology.services() if s.startswith("worker_")],
        "code_server",
        "redis",
        "postgres",
    ]:
        if stop(topology, service):
            stopped.append(service)
            report(f"stopped {service}")
    return stopped


def status(root: Path) -> dict[str, int | None]:
    """Each service and its pid, None if not running."""
    topology = Topology.load(root)
    return {service: running_pid(topology, service) for service in topology.services()}
