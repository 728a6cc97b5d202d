"""`ilms dev` on loopback behind its token, stopped by SIGTERM with every process it started, and by its watchdog
when it is SIGKILLed (real `dagster dev`)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from ilms_dagster.orchestration.dev_process import descendants, group_members, start_time
from tests.support.dagster_dev import free_port

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except psutil.Error:
        return []


def _command(pid: int) -> str:
    return " ".join(psutil.Process(pid).cmdline())


def _port_free(host: str, port: int) -> bool:
    """True when a new server could listen there (SO_REUSEADDR, as uvicorn binds: the closed connections' TIME_WAIT
    does not count, a listening socket does)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


HOST = "127.0.0.2"  # a loopback address other than the default: --host is what the UI binds


def _start_ilms_dev(tmp_path: Path, host: str, port: int) -> tuple[subprocess.Popen, str]:
    """`ilms dev --host --port` until its UI answers through the front door; (process, token)."""
    env = os.environ | {
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "ILMS_DATA_DIR": str(tmp_path),
        "ILMS_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
    }
    with (tmp_path / "dev.log").open("w") as log:
        dev = subprocess.Popen(
            [sys.executable, "-m", "ilms_dagster.cli", "dev", "--host", host, "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline, token, ready = time.monotonic() + 240, None, False
    while time.monotonic() < deadline and not ready and dev.poll() is None:
        found = re.search(r"token=([\w-]+)", (tmp_path / "dev.log").read_text())
        token = found and found.group(1)
        try:
            request = urllib.request.Request(
                f"http://{host}:{port}/server_info", headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                ready = response.status == 200
        except OSError:
            time.sleep(1)
    assert ready, (tmp_path / "dev.log").read_text()[-3000:]
    return dev, token


def test_ilms_dev_listens_on_host_and_port_prints_the_url_and_sigterm_stops_its_whole_process_group(tmp_path):
    port = free_port()
    dev, token = _start_ilms_dev(tmp_path, HOST, port)
    try:
        output = (tmp_path / "dev.log").read_text()
        assert output.splitlines()[0] == f"Dagster UI: http://{HOST}:{port}/?token={token}"
        assert len(token) >= 40  # a new random token at every start (secrets.token_urlsafe(32))
        with pytest.raises(urllib.error.HTTPError) as refused:  # the front door wants the token
            urllib.request.urlopen(f"http://{HOST}:{port}/server_info", timeout=5)
        assert refused.value.code == 401
        assert f"DAGSTER_HOME={tmp_path / 'dagster_home'}" in output
        assert "will not be used" not in output and "superseded" not in output  # no contradicting warnings
        with pytest.raises(OSError):  # bound to --host only
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
        (group,) = [pid for pid in _children(dev.pid) if "front_door" in _command(pid)]
        assert os.getpgid(group) == group != os.getpgid(dev.pid)  # dagster dev, leader of a group of its own
        assert _children(group)  # webserver, daemon, code server
        dev.send_signal(signal.SIGTERM)
        assert dev.wait(timeout=90) == 0
        deadline = time.monotonic() + 30
        while group_members(group) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not group_members(group)  # nothing left behind
    finally:
        if dev.poll() is None:
            dev.kill()


def test_sigkill_of_ilms_dev_leaves_no_dagster_process_and_frees_the_port(tmp_path):
    """A closed terminal or the OOM killer: no handler of `ilms dev` runs; its watchdog stops the rest."""
    port = free_port()
    dev, _ = _start_ilms_dev(tmp_path, "127.0.0.1", port)
    started = descendants(dev.pid)
    try:
        commands = [_command(pid) for pid in started]
        for part in (
            "front_door dev",
            "dagster_webserver",  # on its private port, behind the front door
            "dagster._daemon",
            "code-server",
            "dev_process.py watch",
        ):
            assert any(part in command for command in commands), (part, commands)
        assert not _port_free("127.0.0.1", port)
        killed_at = time.monotonic()
        dev.send_signal(signal.SIGKILL)
        dev.wait(timeout=10)
        deadline = killed_at + 20  # "within seconds": SIGTERM, 5 s of grace, SIGKILL
        while time.monotonic() < deadline and (
            {pid for pid, stat in started.items() if start_time(pid) == stat} or not _port_free("127.0.0.1", port)
        ):
            time.sleep(0.25)
        left = {pid: stat for pid, stat in started.items() if start_time(pid) == stat}
        assert not left, left
        assert _port_free("127.0.0.1", port)
        assert "ilms dev is gone: stopping" in (tmp_path / "dev.log").read_text()
    finally:
        if dev.poll() is None:
            dev.kill()
        for pid, stat in started.items():  # should the watchdog have failed, clean up after it
            if start_time(pid) == stat:
                os.kill(pid, signal.SIGKILL)
