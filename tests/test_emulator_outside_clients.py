"""The README's recipe for pointing an outside Azure SDK client at the local Azure, run as written.

A fresh Python process with only the environment the README names: the sync clients (requests
under the hood) trust the CA through REQUESTS_CA_BUNDLE, the async ones through SSL_CERT_FILE,
and LogsQueryClient is given the Log Analytics audience for its custom endpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from conftest import EmulatorThread, identity_environment

SYNC_CLIENTS = """
import json, sys
from datetime import timedelta
from azure.identity import DefaultAzureCredential
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.monitor.query import LogsQueryClient
readiness = json.loads(sys.argv[1])
credential = DefaultAzureCredential()
subscription = readiness["subscriptions"][0]
arm = ResourceManagementClient(credential, subscription, base_url=readiness["arm_endpoint"])
groups = [group.name for group in arm.resource_groups.list()]
logs = LogsQueryClient(credential, endpoint=readiness["logs_endpoint"] + "/v1", audience="https://api.loganalytics.io")
answer = logs.query_workspace(sys.argv[2], "print answer = 42", timespan=timedelta(hours=1))
# As the SDK's visualization sample reads the render options.
chart = logs.query_workspace(
    sys.argv[2],
    "print operation = 'x', operation_count = 12 "
    "| render columnchart with (title='Operations with errors', xtitle='Operation', ytitle='Count', ymax=100)",
    timespan=timedelta(days=1),
    include_visualization=True,
)
viz = chart.visualization
shown = {"title": viz["title"], "x": viz["xTitle"], "y": viz["yTitle"], "range": [0, viz["yMax"]]}
print(json.dumps({"groups": groups, "answer": answer.tables[0].rows[0][0], "viz": shown}))
"""

ASYNC_CLIENT = """
import asyncio, json, sys
from azure.identity.aio import DefaultAzureCredential
from azure.mgmt.resource.resources.aio import ResourceManagementClient
async def main():
    readiness = json.loads(sys.argv[1])
    async with DefaultAzureCredential() as credential:
        async with ResourceManagementClient(credential, readiness["subscriptions"][0],
                                            base_url=readiness["arm_endpoint"]) as arm:
            print(json.dumps({"groups": [group.name async for group in arm.resource_groups.list()]}))
asyncio.run(main())
"""


def _run(script: str, readiness: dict[str, Any], *args: str, **env: str) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "MSI_", "AZURE_", "SSL_"))}
    clean.pop("REQUESTS_CA_BUNDLE", None)
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(readiness), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **identity_environment(readiness), **env},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(json.loads(result.stdout))


def test_sync_sdk_clients_follow_the_readme(local_azure: EmulatorThread) -> None:
    from console.emulator.estate import WORKSPACE_CUSTOMER_ID

    readiness = local_azure.readiness
    found = _run(SYNC_CLIENTS, readiness, WORKSPACE_CUSTOMER_ID, REQUESTS_CA_BUNDLE=readiness["ca_file"])
    assert found["answer"] == 42
    assert found["viz"] == {"title": "Operations with errors", "x": "Operation", "y": "Count", "range": [0, 100]}
    assert found["groups"] and all(name.startswith("rg-") for name in found["groups"])


def test_async_sdk_clients_follow_the_readme(local_azure: EmulatorThread) -> None:
    readiness = local_azure.readiness
    found = _run(ASYNC_CLIENT, readiness, SSL_CERT_FILE=readiness["ca_file"])
    assert found["groups"] and all(name.startswith("rg-") for name in found["groups"])
