"""Quick check that the shared fixtures give a working local Azure."""

from __future__ import annotations

from collections.abc import Callable

from console.services import Services


async def test_lists_subscriptions(make_local_services: Callable[..., Services]) -> None:
    services = make_local_services()
    try:
        found = await services.resources.list_subscriptions()
    finally:
        await services.close()
    assert {s.display_name for s in found} == {"Contoso Production", "Contoso Non-Production"}
