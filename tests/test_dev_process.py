"""`ilms dev` on loopback, stopped by SIGTERM with every process it started (real `dagster dev`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ilms_dagster.dagster_dev import free_port

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


HOST = "127.0.0.2"  # a loopback address other than the default: --host is what the UI binds


def test_ilms_dev_listens_on_host_and_port_prints_the_url_and_sigterm_stops_its_whole_process_group(tmp_path):
    port = free_port()
    env = os.environ | {"DAGSTER_HOME": str(tmp_path / "dagster_home"), "ILMS_DATA_DIR": str(tmp_path),
                        "ILMS_WAREHOUSE": str(tmp_path / "warehouse.duckdb")}  # fmt: skip
    log = (tmp_path / "dev.log").open("w")
    dev = subprocess.Popen([sys.executable, "-m", "ilms_dagster.cli", "dev", "--host", HOST, "--port", str(port)], env=env,
                           stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline, ready = time.monotonic() + 240, False
        while time.monotonic() < deadline and not ready and dev.poll() is None:
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/server_info", timeout=5) as response:
                    ready = response.status == 200
            except OSError:
                time.sleep(1)
        output = (tmp_path / "dev.log").read_text()
        assert ready, output[-3000:]
        assert output.splitlines()[0] == f"Dagster UI: http://{HOST}:{port}"
        assert f"DAGSTER_HOME={tmp_path / 'dagster_home'}" in output
        assert "will not be used" not in output and "superseded" not in output  # no contradicting warnings
        with pytest.raises(OSError):  # bound to --host only
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
        (group,) = _children(dev.pid)  # dagster dev, leader of a group of its own
        assert os.getpgid(group) == group != os.getpgid(dev.pid)
        assert _children(group)  # webserver, daemon, code server
        dev.send_signal(signal.SIGTERM)
        assert dev.wait(timeout=90) == 0
        deadline = time.monotonic() + 30
        while _group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _group_alive(group)  # nothing left behind
    finally:
        if dev.poll() is None:
            dev.kill()
        log.close()
