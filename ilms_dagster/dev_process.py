"""A long-running command in a process group of its own, stopped as a whole (what `ilms dev` runs).

`dagster dev` starts a webserver, a daemon and a code server, and the daemon starts runs: all of them
share the group created here. SIGTERM, SIGINT or SIGHUP to `ilms dev` are passed to the whole group
(SIGTERM), then, after a grace period, SIGKILL. On Linux the group leader also gets SIGTERM if `ilms dev`
itself is SIGKILLed (PR_SET_PDEATHSIG), so that nothing is left behind listening on the port.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

GRACE_SECONDS = 20


def _die_with_parent() -> None:  # runs in the child, before exec
    os.setsid()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def stop_group(process: subprocess.Popen, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the group, wait up to `grace` seconds, SIGKILL whatever is left of it."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            if sig == signal.SIGTERM:  # the leader is gone; members may linger a moment
                os.killpg(process.pid, signal.SIGKILL)
            break
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            break
    process.wait()


def run_process_group(command: list[str], cwd: str | os.PathLike | None = None) -> int:
    """Run `command` (in folder `cwd`) in a new process group until it exits or this process is asked to stop;
    its exit code."""
    process = subprocess.Popen(command, cwd=cwd, preexec_fn=_die_with_parent)  # noqa: PLW1509 (setsid + pdeathsig only)
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
