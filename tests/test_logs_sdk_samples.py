"""The scenarios of azure-monitor-query's own samples, run through the real LogsQueryClient (sync and
async) against the local Azure: multi-workspace, resource-centric, batch, partial results, server
timeout, statistics and visualization. Only the endpoint, audience and names differ from the samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineResponse
from azure.identity import DefaultAzureCredential
from azure.monitor.query import LogsBatchQuery, LogsQueryClient, LogsQueryError, LogsQueryResult, LogsQueryStatus
from conftest import EmulatorThread, wait_for_telemetry

from console.emulator import estate

WORKSPACE = estate.WORKSPACE_CUSTOMER_ID
LOGS_AUDIENCE = "https://api.loganalytics.io"
# The partial-result sample's query: the summed weights overflow a long.
OVERFLOWING_WEIGHTS = """let Weight = 92233720368547758;
            range x from 1 to 3 step 1
            | summarize percentilesw(x, Weight * 100, 50)"""
# Runs far longer than any server timeout a test asks for.
ENDLESS = "range x from 1 to 1000000000000000 step 1 | count"


def _client_options(local_azure: EmulatorThread, **extra: Any) -> dict[str, Any]:
    readiness = local_azure.readiness
    return {
        "endpoint": readiness["logs_endpoint"] + "/v1",
        "audience": LOGS_AUDIENCE,
        "connection_verify": readiness["ca_file"],
        **extra,
    }


@pytest.fixture(scope="module")
def logs_client(local_azure: EmulatorThread) -> Iterator[LogsQueryClient]:
    """The sync client as the samples build it (DefaultAzureCredential), on the local Azure."""
    wait_for_telemetry(local_azure.readiness)
    credential = DefaultAzureCredential(connection_verify=local_azure.readiness["ca_file"])
    with LogsQueryClient(credential, **_client_options(local_azure)) as client:
        yield client


def _headers_seen() -> tuple[dict[str, str], Callable[[PipelineResponse[Any, Any]], None]]:
    seen: dict[str, str] = {}

    def hook(response: PipelineResponse[Any, Any]) -> None:
        seen["prefer"] = response.http_request.headers.get("Prefer", "")
        seen["applied"] = response.http_response.headers.get("Preference-Applied", "")

    return seen, hook


# multi-workspace ---------------------------------------------------------------------------------


def test_additional_workspaces_answer_as_the_workspace_does(logs_client: LogsQueryClient) -> None:
    query = "AppRequests | summarize count() by TenantId"
    alone = logs_client.query_workspace(WORKSPACE, query, timespan=timedelta(days=1))
    together = logs_client.query_workspace(
        WORKSPACE,
        query,
        timespan=timedelta(days=1),
        # The forms Log Analytics takes: name, qualified name (subscription name/group/name), resource id.
        additional_workspaces=[
            estate.WORKSPACE_NAME,
            f"Contoso Production/{estate.WORKSPACE_RESOURCE_GROUP}/{estate.WORKSPACE_NAME}",
            estate.WORKSPACE_RESOURCE_ID,
        ],
    )
    assert isinstance(together, LogsQueryResult) and together.status == LogsQueryStatus.SUCCESS
    assert [list(row) for row in together.tables[0].rows] == [list(row) for row in alone.tables[0].rows]
    assert together.tables[0].rows[0][0] == WORKSPACE


def test_an_additional_workspace_that_does_not_exist_is_refused(logs_client: LogsQueryClient) -> None:
    with pytest.raises(HttpResponseError) as refused:
        logs_client.query_workspace(
            WORKSPACE,
            "AppRequests | take 5",
            timespan=timedelta(days=1),
            additional_workspaces=["00000000-0000-0000-0000-00000000abcd"],
        )
    assert refused.value.status_code == 404
    assert refused.value.error is not None and refused.value.error.code == "WorkspaceNotFoundError"


def test_the_get_form_takes_workspaces_as_a_list(logs_client: LogsQueryClient) -> None:
    """The REST spec's cross-workspace GET example: `workspaces=a,b` beside `query`."""
    from urllib.parse import urlencode

    from azure.core.rest import HttpRequest

    query = "union AppRequests, AppTraces | summarize count() by Type, TenantId"
    listed = f"{estate.WORKSPACE_NAME},{WORKSPACE}"
    asked = HttpRequest("GET", f"/workspaces/{WORKSPACE}/query?" + urlencode({"query": query, "workspaces": listed}))
    answer = logs_client.send_request(asked)
    assert answer.status_code == 200, answer.text()
    rows = answer.json()["tables"][0]["rows"]
    assert rows and {row[1] for row in rows} == {WORKSPACE}
    unknown = urlencode({"query": query, "workspaces": "draft-test,draft-test-2"})
    refused = logs_client.send_request(HttpRequest("GET", f"/workspaces/{WORKSPACE}/query?{unknown}"))
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "WorkspaceNotFoundError"


# resource-centric ---------------------------------------------------------------------------------


def test_a_resource_query_sees_only_that_resource(logs_client: LogsQueryClient) -> None:
    whole = logs_client.query_resource(
        estate.WORKSPACE_RESOURCE_ID, "AzureActivity | take 5", timespan=timedelta(days=1)
    )
    assert whole.status == LogsQueryStatus.SUCCESS and len(whole.tables[0].rows) == 5
    first = logs_client.query_workspace(
        WORKSPACE, "AppRequests | summarize count() by _ResourceId | top 1 by count_", timespan=timedelta(days=1)
    )
    resource_id, expected = first.tables[0].rows[0]
    scoped = logs_client.query_resource(
        resource_id, "AppRequests | summarize count() by _ResourceId", timespan=timedelta(days=1)
    )
    assert scoped.status == LogsQueryStatus.SUCCESS
    assert [list(row) for row in scoped.tables[0].rows] == [[resource_id, expected]]


# batch ------------------------------------------------------------------------------------------


def _batch() -> list[LogsBatchQuery]:
    return [
        LogsBatchQuery(WORKSPACE, "AzureActivity | summarize count()", timespan=timedelta(hours=1)),
        LogsBatchQuery(
            WORKSPACE,
            "AppRequests | take 10"
            " | summarize avgRequestDuration=avg(DurationMs) by bin(TimeGenerated, 10m), _ResourceId",
            timespan=(datetime(2021, 6, 2, tzinfo=UTC), timedelta(days=1)),
        ),
        LogsBatchQuery(WORKSPACE, "AppRequests | take", timespan=None),
        LogsBatchQuery(WORKSPACE, "AppRequests | take 2", timespan=None, include_statistics=True),
        LogsBatchQuery(WORKSPACE, OVERFLOWING_WEIGHTS, timespan=timedelta(days=1)),
    ]


def _check_batch(answers: list[Any]) -> None:
    assert len(answers) == 5
    counted, long_ago, broken, with_statistics, partial = answers
    assert isinstance(counted, LogsQueryResult) and counted.tables[0].columns == ["count_"]
    assert isinstance(long_ago, LogsQueryResult) and long_ago.tables[0].rows == []
    assert isinstance(broken, LogsQueryError) and broken.status == LogsQueryStatus.FAILURE
    assert isinstance(with_statistics, LogsQueryResult) and len(with_statistics.tables[0].rows) == 2
    assert with_statistics.statistics is not None
    assert with_statistics.statistics["query"]["datasetStatistics"][0]["tableRowCount"] == 2
    assert partial.status == LogsQueryStatus.PARTIAL and partial.partial_data[0].rows[0][0] == 2


def test_a_batch_mixes_answers_failures_and_partial_results(logs_client: LogsQueryClient) -> None:
    _check_batch(logs_client.query_batch(_batch()))


# partial results --------------------------------------------------------------------------------


def test_overflowing_weights_give_data_and_a_partial_error(logs_client: LogsQueryClient) -> None:
    response = logs_client.query_workspace(WORKSPACE, OVERFLOWING_WEIGHTS, timespan=timedelta(days=1))
    assert response.status == LogsQueryStatus.PARTIAL
    assert response.partial_data[0].columns == ["percentile_x_50"]
    assert [list(row) for row in response.partial_data[0].rows] == [[2]]
    error = response.partial_error
    assert error.code == "PartialError"
    assert "E_OVERFLOW" in error.details[0]["innererror"]["message"]


def test_a_result_past_the_row_limit_is_partial(logs_client: LogsQueryClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from console.emulator import logs_api

    monkeypatch.setattr(logs_api, "ROW_CAP", 50)  # the in-process local Azure reads it per request
    response = logs_client.query_workspace(WORKSPACE, "range x from 1 to 80 step 1", timespan=None)
    assert response.status == LogsQueryStatus.PARTIAL and len(response.partial_data[0].rows) == 50
    inner = response.partial_error.details[0]["innererror"]
    assert "E_QUERY_RESULT_SET_TOO_LARGE" in inner["message"] and "50" in inner["message"]


# server timeout ---------------------------------------------------------------------------------


def test_server_timeout_is_sent_as_prefer_wait(logs_client: LogsQueryClient) -> None:
    seen, hook = _headers_seen()
    response = logs_client.query_workspace(
        WORKSPACE, "AppRequests | count", timespan=timedelta(days=1), server_timeout=600, raw_response_hook=hook
    )
    assert response.status == LogsQueryStatus.SUCCESS
    assert seen == {"prefer": "wait=600", "applied": "wait=600"}


def test_a_query_past_its_server_timeout_is_a_gateway_timeout(logs_client: LogsQueryClient) -> None:
    seen, hook = _headers_seen()
    with pytest.raises(HttpResponseError) as timed_out:
        logs_client.query_workspace(WORKSPACE, ENDLESS, timespan=None, server_timeout=1, raw_response_hook=hook)
    assert timed_out.value.status_code == 504
    assert timed_out.value.error is not None and timed_out.value.error.code == "GatewayTimeout"
    assert "Gateway timeout" in timed_out.value.message
    assert seen["applied"] == "wait=1"


# statistics and visualization ---------------------------------------------------------------------


def test_statistics_and_visualization_come_back_as_asked(logs_client: LogsQueryClient) -> None:
    response = logs_client.query_workspace(
        WORKSPACE,
        "AppRequests | summarize count() by bin(TimeGenerated, 1h) "
        "| render timechart with (title='Requests', xtitle='Hour', ytitle='Count', ymin=0)",
        timespan=timedelta(days=1),
        include_statistics=True,
        include_visualization=True,
    )
    assert response.status == LogsQueryStatus.SUCCESS
    statistics = response.statistics
    assert statistics is not None and statistics["query"]["executionTime"] >= 0
    assert statistics["query"]["datasetStatistics"][0]["tableRowCount"] == len(response.tables[0].rows)
    chart = response.visualization
    assert chart is not None and chart["visualization"] == "timechart"
    assert (chart["title"], chart["xTitle"], chart["yTitle"], chart["yMin"]) == ("Requests", "Hour", "Count", 0)
    plain = logs_client.query_workspace(WORKSPACE, "AppRequests | count", timespan=timedelta(days=1))
    assert plain.statistics is None and plain.visualization is None


# async ------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_async_client_runs_the_same_samples(local_azure: EmulatorThread) -> None:
    from azure.identity.aio import DefaultAzureCredential as AsyncCredential
    from azure.monitor.query.aio import LogsQueryClient as AsyncLogsQueryClient

    wait_for_telemetry(local_azure.readiness)
    credential = AsyncCredential(connection_verify=local_azure.readiness["ca_file"])
    # No retries: the timed-out query would otherwise be sent four times.
    options = _client_options(local_azure, retry_total=0)
    async with credential, AsyncLogsQueryClient(credential, **options) as client:
        together = await client.query_workspace(
            WORKSPACE, "AppRequests | count", timespan=timedelta(days=1), additional_workspaces=[estate.WORKSPACE_NAME]
        )
        assert together.status == LogsQueryStatus.SUCCESS and together.tables[0].rows[0][0] > 0
        scoped = await client.query_resource(
            estate.WORKSPACE_RESOURCE_ID, "AzureActivity | take 5", timespan=timedelta(days=1)
        )
        assert len(scoped.tables[0].rows) == 5
        _check_batch(await client.query_batch(_batch()))
        partial = await client.query_workspace(WORKSPACE, OVERFLOWING_WEIGHTS, timespan=timedelta(days=1))
        assert partial.status == LogsQueryStatus.PARTIAL and partial.partial_data[0].rows[0][0] == 2
        with pytest.raises(HttpResponseError) as timed_out:
            await client.query_workspace(WORKSPACE, ENDLESS, timespan=None, server_timeout=1)
        assert timed_out.value.status_code == 504
        shown = await client.query_workspace(
            WORKSPACE,
            "AppRequests | summarize count() by Name | render barchart with (xtitle='Operation')",
            timespan=timedelta(days=1),
            include_statistics=True,
            include_visualization=True,
        )
        assert shown.statistics is not None and shown.visualization is not None
        assert shown.visualization["xTitle"] == "Operation"


@pytest.mark.asyncio
async def test_the_console_says_what_a_gateway_timeout_means(
    local_azure: EmulatorThread, make_local_services: Callable[..., Any]
) -> None:
    from console.errors import OpsError

    services = make_local_services()
    try:
        with pytest.raises(OpsError) as timed_out:
            await services.logs.query(WORKSPACE, ENDLESS, None, server_timeout=1)
        assert timed_out.value.code == "GatewayTimeout"
        assert "1 s server timeout" in str(timed_out.value)
    finally:
        await services.close()
