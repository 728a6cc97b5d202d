"""A long-running command in a process group of its own, stopped as a whole (what `ilms dev` runs).

`dagster dev` starts a webserver, a daemon and a code server, and the daemon starts runs: all of them
share the group created here. SIGTERM, SIGINT or SIGHUP to `ilms dev` are passed to the whole group
(SIGTERM), then, after a grace period, SIGKILL.

If `ilms dev` itself is SIGKILLed (a closed terminal, the OOM killer), no handler runs. Two things then stop what it
started: the group leader gets SIGTERM from the kernel (PR_SET_PDEATHSIG), which alone is not enough (`dagster dev`'s
webserver, daemon and code server are its children and outlive it); and a watchdog, `python dev_process.py watch
<leader>`, started in a session of its own with a pipe from `ilms dev` as its standard input. The kernel closes that
pipe when `ilms dev` dies however it dies; at end of file the watchdog sends SIGTERM to the group and to every
descendant of the leader it has seen (it looks every second, so processes that left the group are found too), waits
`WATCHDOG_GRACE_SECONDS`, and SIGKILLs what is left. Process facts come from psutil.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import subprocess
import sys
import time

import psutil

GRACE_SECONDS = 20
WATCHDOG_GRACE_SECONDS = 5


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child, before exec
    os.setsid()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def stop_group(leader: subprocess.Popen | int, grace: float = GRACE_SECONDS, first: int = signal.SIGTERM) -> None:
    """Send `first` (SIGTERM) to the process group that `leader` (a Popen, or a pid that is also the group's id)
    leads, wait up to `grace` seconds for the group to end, then SIGKILL whatever is left of it. The one way this
    project stops a group: `ilms dev`, the production topology's services, the tests' `dagster dev`."""
    pgid = leader.pid if isinstance(leader, subprocess.Popen) else leader
    try:
        os.killpg(pgid, first)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace
    while group_members(pgid) and time.monotonic() < deadline:
        if isinstance(leader, subprocess.Popen):
            leader.poll()  # reap the leader, else it lingers as a zombie of ours
        time.sleep(0.1)
    while group_members(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    if isinstance(leader, subprocess.Popen):
        leader.wait()


def start_time(pid: int) -> float | None:
    """The process's start time, None if it is gone or a zombie: (pid, start time) names one process even after
    the pid is reused."""
    try:
        process = psutil.Process(pid)
        return None if process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD) else process.create_time()
    except psutil.Error:
        return None


def descendants(pid: int) -> dict[int, float]:
    """{pid: start time} of every living descendant of `pid`."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return {}
    found = {child.pid: start_time(child.pid) for child in children}
    return {pid: started for pid, started in found.items() if started is not None}


def group_members(pgid: int) -> dict[int, float]:
    """{pid: start time} of the living processes of process group `pgid`."""
    found = {}
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and (started := start_time(process.pid)) is not None:
                found[process.pid] = started
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def _alive(processes: dict[int, float]) -> dict[int, float]:
    return {pid: started for pid, started in processes.items() if start_time(pid) == started}


def _signal_all(processes: dict[int, int], sig: int) -> None:
    for pid in _alive(processes):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def watch(leader: int, grace: float = WATCHDOG_GRACE_SECONDS) -> int:
    """The watchdog's loop (see the module docstring): until standard input ends, note the leader's group and
    descendants every second; then stop them all. Exits 0, having stopped nothing when nothing was left."""
    for sig in (signal.SIGINT, signal.SIGHUP):  # the terminal's signals are for `ilms dev`, not for the watchdog
        signal.signal(sig, signal.SIG_IGN)
    known: dict[int, float] = {}
    started = start_time(leader)
    if started is not None:
        known[leader] = started
    while True:
        ready, _, _ = select.select([0], [], [], 1.0)
        known = _alive(known) | descendants(leader) | group_members(leader)
        if ready and not os.read(0, 4096):
            break
    known = _alive(known | group_members(leader))
    if not known:
        return 0
    print(
        f"ilms dev is gone: stopping the {len(known)} process(es) it left (SIGTERM, then SIGKILL after {grace:g}s)",
        file=sys.stderr,
        flush=True,
    )
    _signal_all(known, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        known = _alive(known | descendants(leader) | group_members(leader))
        if not known:
            return 0
        time.sleep(0.2)
    while known:  # SIGKILL until nothing is left (a process may have forked meanwhile)
        _signal_all(known, signal.SIGKILL)
        time.sleep(0.1)
        known = _alive(known | group_members(leader))
    return 0


def start_watchdog(leader: int) -> subprocess.Popen:
    """The watchdog of the process group led by `leader`; keep the returned Popen (its stdin is the pipe) until
    this process ends. Run as a script, not `-m ilms_dagster...`: nothing of the project is imported."""
    return subprocess.Popen(
        [sys.executable, "-I", os.path.abspath(__file__), "watch", str(leader)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def run_process_group(
    command: list[str], cwd: str | os.PathLike | None = None, env: dict[str, str] | None = None
) -> int:
    """Run `command` (in folder `cwd`, with environment `env`) in a new process group, under a watchdog, until it
    exits or this process is asked to stop; its exit code."""
    process = subprocess.Popen(command, cwd=cwd, env=env, preexec_fn=_die_with_parent)  # noqa: PLW1509 (setsid + pdeathsig only)
    watchdog = start_watchdog(process.pid)  # noqa: F841 (kept open until this process ends)
    stopping = []

    def stop(signum, _frame) -> None:
        stopping.append(signum)
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        return process.wait()
    except KeyboardInterrupt:
        stop_group(process)
        return 0 if stopping else 130


if __name__ == "__main__":
    if sys.argv[1:2] != ["watch"] or len(sys.argv) != 3:
        raise SystemExit("usage: python dev_process.py watch <leader pid>")
    raise SystemExit(watch(int(sys.argv[2])))
