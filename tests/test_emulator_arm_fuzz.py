"""Generated requests against the local Azure's ARM surface: whatever arrives, the answer is never a 500 and
never anything but an ARM JSON body."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse

import pytest
from conftest import EmulatorThread, module_azure
from hypothesis import given, settings
from hypothesis import strategies as st
from test_emulator_arm import fetch_token

from console.emulator import estate

PROD = estate.PROD_SUBSCRIPTION


own_azure = module_azure("fuzz-azure", page_size=5, telemetry_scale=0.001, seed_delay_s=0)
"""A local Azure of its own: generated PUTs and DELETEs change its groups, not the session's."""


@pytest.fixture(scope="module")
def own_token(own_azure: EmulatorThread) -> str:
    return fetch_token(own_azure.readiness)


def _text(max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=max_size)


segments = st.one_of(
    st.sampled_from(
        [
            "subscriptions",
            PROD,
            "resourceGroups",
            "rg-prod-web",
            "rg-fuzz",
            "providers",
            "Microsoft.Web",
            "sites",
            "app-checkout-prod",
            "slots",
            "staging",
            "Microsoft.Resources",
            "tags",
            "default",
            "resources",
            "Microsoft.LocalAzure",
            "operations",
            "operationResults",
            "Microsoft.Cache",
        ]
    ),
    _text(20).filter(lambda s: "/" not in s),
)
paths = st.lists(segments, min_size=0, max_size=9).map(
    lambda parts: "/" + "/".join(urllib.parse.quote(p, safe="") for p in parts)
)
query_values = st.one_of(
    st.sampled_from(["2025-04-01", "2019-05-05-preview", "", "-1", "0", "3", "garbage", "9" * 30]), _text()
)
queries = st.dictionaries(
    st.sampled_from(["api-version", "API-VERSION", "$top", "$skiptoken", "$filter", "$expand", "x"]),
    query_values,
    max_size=4,
)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | _text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text(10), inner, max_size=4),
        max_leaves=12,
    ).map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {"location": st.sampled_from(["westeurope", "eastus", ""]), "tags": st.dictionaries(_text(8), _text(8))}
    ).map(lambda value: json.dumps(value).encode()),
)
content_types = st.sampled_from(
    ["application/json", "application/json; charset=foobar", "text/plain", "application/json; charset=utf-16", ""]
)


@settings(max_examples=200, deadline=None)
@given(
    method=st.sampled_from(["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "PROPFIND"]),
    path=paths,
    query=queries,
    body=bodies,
    content_type=content_types,
)
def test_no_generated_request_gets_a_500_or_a_non_arm_answer(
    own_azure: EmulatorThread,
    own_token: str,
    method: str,
    path: str,
    query: dict[str, str],
    body: bytes | None,
    content_type: str,
) -> None:
    readiness = own_azure.readiness
    endpoint = urllib.parse.urlsplit(readiness["arm_endpoint"])
    headers = {"Authorization": f"Bearer {own_token}"}
    if content_type:
        headers["Content-Type"] = content_type
    target = path + ("?" + urllib.parse.urlencode(query) if query else "")
    context = ssl.create_default_context(cafile=readiness["ca_file"])
    connection = http.client.HTTPSConnection(endpoint.hostname or "", endpoint.port, context=context, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    assert response.status < 500, (response.status, raw[:300])
    if method == "HEAD" or response.status in {202, 204}:
        return
    assert (response.getheader("Content-Type") or "").startswith("application/json"), raw[:300]
    answer = json.loads(raw)
    if response.status >= 400:
        assert set(answer) == {"error"} and {"code", "message"} <= set(answer["error"]), answer
