"""Running the console: build services (starting the local Azure under --demo) and run the app."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from console.settings import Settings

if TYPE_CHECKING:
    from console.cloud import CloudProfile


def preload_sdk() -> None:
    """Import the SDK modules the first screen needs while the user looks at the first paint."""
    import azure.identity.aio
    import azure.mgmt.resource.resources.aio
    import azure.mgmt.resource.subscriptions.aio  # noqa: F401


def run_console(settings: Settings, *, demo: bool = False, reset: bool = False) -> int:
    """Run the TUI until the user quits; returns the exit code.

    With --demo the local Azure is spawned before the UI is imported, so it starts while the first
    screen paints; a local Azure already serving the data dir is reused.
    """
    from console.local import (
        SHORT_STOP_WAIT_S,
        LocalAzure,
        PendingLocalAzure,
        open_local_azure,
        ready_local_azure,
    )
    from console.services.first_listing import FirstListing

    data_dir = settings.data_dir / "local-azure"
    opened: LocalAzure | PendingLocalAzure | None = None
    if demo:
        opened = open_local_azure(data_dir, reset=reset, extra_args=settings.demo_arguments)
        if not settings.subscription:
            from dataclasses import replace

            from console.cloud import DEMO_START_SUBSCRIPTION

            settings = replace(settings, subscription=DEMO_START_SUBSCRIPTION)  # the demo opens where the action is
    local: LocalAzure | None = None

    def signed_in(serving: LocalAzure | None, *, blocking: bool = False) -> tuple[CloudProfile, Any]:
        """The profile and a credential for the local Azure `serving`, or (None) for the configured cloud."""
        from console.cloud import cloud_named
        from console.services import make_credential

        if serving is not None:
            serving.apply_environment()
        profile = serving.profile if serving is not None else cloud_named(settings.cloud)
        return profile, make_credential(settings, profile, blocking=blocking)

    def connect() -> tuple[CloudProfile, Any]:
        """Runs in a thread after the first paint: import the SDK, wait for the local Azure, sign in.
        Called again after a failure (the user retries), it opens the local Azure afresh."""
        nonlocal local, opened
        if first_listing is not None:
            first_listing.wait()
        preload_sdk()
        if not demo:
            return signed_in(None)
        if opened is None:
            opened = open_local_azure(data_dir, extra_args=settings.demo_arguments)
        try:
            local = ready_local_azure(opened, data_dir, reset=reset, extra_args=settings.demo_arguments)
        finally:
            opened = None  # used up: a retry opens again
        return signed_in(local)

    def connect_copy() -> tuple[CloudProfile, Any]:
        """The first listing's sign-in, in the forked copy: it leaves the readiness line to this process."""
        if isinstance(opened, PendingLocalAzure):
            return signed_in(opened.recorded(data_dir), blocking=True)
        return signed_in(opened, blocking=True)

    # Forked before the UI is imported and before any thread starts (see console.services.first_listing). A local
    # Azure starting already takes the other core while the first frame paints: the copy then imports after it.
    first_listing = FirstListing.fork(
        settings, connect_copy, settings.subscription, import_ahead=not isinstance(opened, PendingLocalAzure)
    )

    from console.app import OpsConsole
    from console.cloud import DEMO_TENANT_ID, LOCAL_CLOUD
    from console.services import make_services
    from console.services.inventory_cache import Identity

    services = make_services(settings, connect_later=True)
    # Whose inventory the cache may show before the sign-in is done: only a tenant known up front.
    tenant = DEMO_TENANT_ID if demo else os.environ.get("AZURE_TENANT_ID", "").strip()
    if tenant:
        services.resources.expected = Identity(LOCAL_CLOUD if demo else settings.cloud, tenant)
    services.resources.first_listing = first_listing
    app = OpsConsole(settings, services, connect=connect, demo=demo)
    try:
        result = app.run()
    finally:
        if first_listing is not None:
            first_listing.close()
        if local is not None:
            local.stop(wait=SHORT_STOP_WAIT_S)  # the user has quit: the prompt does not wait for its store
        elif opened is not None:
            opened.stop()
    if app.return_code:
        # An unhandled error ended the app (Textual has printed its traceback): never report success.
        return app.return_code
    return int(result or 0)
