"""Run `dagster dev` (webserver + daemon) on a throwaway instance and drive backfills through its GraphQL API.

Used by the UI tests and the backfill benchmark; everything stays on loopback and in the given folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from ilms_dagster.orchestration.dev_process import free_port, stop_group
from ilms_dagster.orchestration.environment import DAGSTER_ENVIRONMENT
from ilms_dagster.orchestration.front_door import TOKEN_ENV, new_token
from ilms_dagster.orchestration.instance import SHIPPED_DAGSTER_YAML
from ilms_dagster.orchestration.topology import READY_QUERY
from ilms_dagster.partitions import submission_partitions
from ilms_dagster.resources.storage import PROJECT_ROOT

FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def ensure_partitions(instance: dg.DagsterInstance, rounds: Sequence[str], countries: Sequence[str]) -> list[str]:
    """The round x country partition keys, as strings, read from `submission_partitions`. A dynamic
    dimension (e.g. DynamicPartitionsDefinition(name="country")) first gets the wanted keys added to
    the instance, so this works for static, time-window and dynamic dimensions alike."""
    wanted = {"round": set(rounds), "country": set(countries)}
    for dim in submission_partitions.partitions_defs:
        if isinstance(dim.partitions_def, dg.DynamicPartitionsDefinition):
            instance.add_dynamic_partitions(dim.partitions_def.name, sorted(wanted[dim.name]))
    keys = [
        str(key)
        for key in submission_partitions.get_partition_keys(dynamic_partitions_store=instance)
        if all(key.keys_by_dimension[dim] in values for dim, values in wanted.items())
    ]
    if len(keys) != len(rounds) * len(countries):
        raise ValueError(f"not every round x country is a partition of submission_partitions: {rounds} x {countries}")
    return keys


def backfill_asset_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    """What "backfill past rounds" materializes: the assets of the ingestion job (intake, ILMQ tables,
    raw.submissions), not the microdata tabulation (it needs survey files) nor the per-round exports."""
    graph = defs.resolve_asset_graph()
    ingest = set(defs.resolve_job_def("ingest_submissions").asset_layer.selected_asset_keys)
    keys = [key for key in graph.materializable_asset_keys if graph.get(key).is_partitioned and key in ingest]
    return sorted(keys, key=lambda key: key.path)


def lock_errors(instance: dg.DagsterInstance, run_ids: Sequence[str]) -> list[str]:
    """Event-log entries of the runs that mention DuckDB's "Could not set lock" (a second writer on the file)."""
    return [
        f"{run_id}: {record.message or record.dagster_event.event_type_value}"
        for run_id in run_ids
        for record in instance.all_logs(run_id)
        if "could not set lock" in dg.serialize_value(record).lower()
    ]


@dataclass
class DagsterDev:
    """A running `dagster dev` behind the front door: its URL, the token it requires, its instance folder and
    its log file."""

    url: str
    home: Path
    log: Path
    process: subprocess.Popen
    token: str = ""

    @property
    def login_url(self) -> str:
        """The URL that logs a browser in (sets the front door's cookie), as `ilms dev` prints it."""
        return f"{self.url}/?token={self.token}"

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def wait_until_ready(self, timeout: float = 180) -> None:
        """Until the code location has loaded and the backfill daemon has sent a heartbeat."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                data = self.graphql(READY_QUERY, timeout=10)
                entries = data["workspaceOrError"]["locationEntries"]
                locations = [entry["locationOrLoadError"] or {"__typename": "loading"} for entry in entries]
                errors = [location["message"] for location in locations if location["__typename"] == "PythonError"]
                if errors:
                    raise RuntimeError(f"code location failed to load: {errors[0]}")
                loaded = locations and all(location["__typename"] == "RepositoryLocation" for location in locations)
                daemons = {d["daemonType"]: d["healthy"] for d in data["instance"]["daemonHealth"]["allDaemonStatuses"]}
                if loaded and daemons.get("BACKFILL"):
                    return
                last = (entries, daemons)
            except OSError as exc:  # not listening yet
                last = exc
            time.sleep(1)
        raise TimeoutError(f"dagster dev not ready after {timeout}s (last: {last}):\n{self.log_tail()}")

    def stop_sensor(self, name: str) -> None:
        """Turn sensor `name` off, as its toggle in the UI does (the stopSensor mutation with the sensor's id)."""
        nodes = self.graphql(SENSORS_QUERY)["repositoriesOrError"]["nodes"]
        ids = [sensor["id"] for repo in nodes for sensor in repo["sensors"] if sensor["name"] == name]
        if not ids:
            raise RuntimeError(f"no sensor named {name!r} in the workspace")
        result = self.graphql(STOP_SENSOR, {"id": ids[0]})["stopSensor"]
        if result["__typename"] != "StopSensorMutationResult" or result["instigationState"]["status"] != "STOPPED":
            raise RuntimeError(f"stopSensor {name}: {result}")

    def launch_backfill(self, partition_keys: Sequence[str], asset_keys: Sequence[dg.AssetKey], title: str) -> str:
        params = {
            "partitionNames": list(partition_keys),
            "assetSelection": [{"path": key.path} for key in asset_keys],
            "title": title,
        }
        result = self.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"launchPartitionBackfill: {result}")
        return result["backfillId"]

    def launch_job_backfill(
        self,
        job: str,
        partition_keys: Sequence[str],
        asset_keys: Sequence[dg.AssetKey] | None = None,
        title: str | None = None,
    ) -> str:
        """A job backfill as the UI launches it from Jobs -> <job>: the partition set selector with the partition
        names, and the job's assets when it comes from the Materialize... dialog (None: the Partitions tab's
        "Launch backfill")."""
        (repository,) = self.graphql(REPOSITORIES)["repositoriesOrError"]["nodes"]
        params = (
            {
                "selector": {
                    "partitionSetName": f"{job}_partition_set",
                    "repositorySelector": {
                        "repositoryLocationName": repository["location"]["name"],
                        "repositoryName": repository["name"],
                    },
                },
                "partitionNames": list(partition_keys),
                "fromFailure": False,
            }
            | ({"assetSelection": [{"path": key.path} for key in asset_keys]} if asset_keys else {})
            | ({"title": title} if title else {})
        )
        result = self.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"launchPartitionBackfill: {result}")
        return result["backfillId"]

    def check_partition_statuses(self, asset_key: dg.AssetKey, check_name: str) -> dict[str, str]:
        """{partition key: SUCCEEDED / FAILED / ...} of an asset check, as the asset page's Checks tab reads them
        (`assetChecksOrError`), for a round x country asset."""
        node = self.graphql(ASSET_CHECKS, {"path": asset_key.path})["assetNodeOrError"]
        (check,) = [c for c in node["assetChecksOrError"]["checks"] if c["name"] == check_name]
        statuses: dict[str, str] = {}
        multi = check["partitionStatuses"] or {"ranges": [], "primaryDimensionName": ""}
        primary = multi["primaryDimensionName"]
        (secondary,) = [d.name for d in submission_partitions.partitions_defs if d.name != primary] or [""]
        for part in multi["ranges"]:
            keys = (
                submission_partitions.get_partitions_def_for_dimension(primary).get_partition_keys(
                    dynamic_partitions_store=None
                )
                if primary == "round"
                else []
            )
            span = keys[keys.index(part["primaryDimStartKey"]) : keys.index(part["primaryDimEndKey"]) + 1]
            for field, status in (
                ("succeededPartitions", "SUCCEEDED"),
                ("failedPartitions", "FAILED"),
                ("inProgressPartitions", "IN_PROGRESS"),
                ("skippedPartitions", "SKIPPED"),
                ("executionFailedPartitions", "EXECUTION_FAILED"),
            ):
                for other in part["secondaryDim"].get(field, []):
                    for key in span:
                        statuses[str(dg.MultiPartitionKey({primary: key, secondary: other}))] = status
        return statuses

    def backfill(self, backfill_id: str) -> dict:
        result = self.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if result["__typename"] != "PartitionBackfill":
            raise RuntimeError(f"partitionBackfillOrError: {result}")
        return result

    def wait_for_backfill(self, backfill_id: str, timeout: float = 900) -> dict:
        """Poll until the backfill is finished (any outcome); returns its last status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.backfill(backfill_id)
            if status["status"] in FINISHED:
                return status
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self.process.returncode}:\n{self.log_tail()}")
            time.sleep(2)
        raise TimeoutError(f"backfill {backfill_id} not finished after {timeout}s: {status}\n{self.log_tail()}")


@contextmanager
def dagster_dev(
    root: Path, module: str | None = None, env: dict[str, str] | None = None, ready_timeout: float = 180
) -> Iterator[DagsterDev]:
    """Start `dagster dev` behind the front door (`ilms_dagster.orchestration.front_door`, a token of its own) on a free loopback port with DAGSTER_HOME=<root>/dagster_home (seeded with the
    shipped dagster.yaml) and the project's data, inbox and warehouse under <root>; stop its whole
    process group (webserver, daemon, code server and the runs they launched) on exit. The code
    location is the project's workspace.yaml, or `module` (importable from the project root); `env` is
    added to its environment."""
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(SHIPPED_DAGSTER_YAML, home / "dagster.yaml")
    port = free_port()
    token = new_token()
    env = (
        os.environ
        | {
            TOKEN_ENV: token,
            "DAGSTER_HOME": str(home),
            "ILMS_DATA_DIR": str(root),
            "ILMS_INBOX": str(root / "inbox"),
            "ILMS_WAREHOUSE": str(root / "warehouse.duckdb"),
        }
        | {k: os.environ.get(k, v) for k, v in DAGSTER_ENVIRONMENT.items()}
        | (env or {})
    )
    log = root / "dagster_dev.log"
    location = ["-m", module] if module else ["-w", str(PROJECT_ROOT / "workspace.yaml")]
    command = [
        sys.executable,
        "-m",
        "ilms_dagster.orchestration.front_door",
        "dev",
        *location,
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = DagsterDev(f"http://127.0.0.1:{port}", home, log, process, token)
    try:
        server.wait_until_ready(ready_timeout)
        yield server
    finally:
        stop_group(process, grace=30)


SENSORS_QUERY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes { sensors { id name } } } } }
"""

STOP_SENSOR = """
mutation StopSensor($id: String!) {
  stopSensor(id: $id) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message }
  }
}
"""


LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""

REPOSITORIES = """
{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }
"""

ASSET_CHECKS = """
query Checks($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      assetChecksOrError {
        ... on AssetChecks {
          checks {
            name blocking
            partitionStatuses {
              ... on AssetCheckMultiPartitionStatuses {
                primaryDimensionName
                ranges {
                  primaryDimStartKey primaryDimEndKey
                  secondaryDim {
                    ... on AssetCheckDefaultPartitionStatuses {
                      succeededPartitions failedPartitions inProgressPartitions skippedPartitions executionFailedPartitions
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}
"""

BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id status numPartitions startTime endTime
      error { message }
      runs { runId status startTime endTime }
      assetBackfillData {
        assetBackfillStatuses {
          ... on AssetPartitionsStatusCounts {
            assetKey { path }
            numPartitionsTargeted numPartitionsInProgress numPartitionsMaterialized numPartitionsFailed
          }
        }
      }
    }
    ... on Error { message }
  }
}
"""
