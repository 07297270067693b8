"""Running the console: build services (starting the local Azure under --demo) and run the app."""

from __future__ import annotations

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
    from console.local import LocalAzure, PendingLocalAzure, running_emulator, spawn_local_azure

    local: LocalAzure | None = None
    pending: PendingLocalAzure | None = None
    emulator_dir = settings.data_dir / "local-azure"
    if demo:
        readiness = None if reset else running_emulator(emulator_dir)
        if readiness is not None:
            local = LocalAzure(readiness, None)
        else:
            pending = spawn_local_azure(emulator_dir, reset=reset, extra_args=settings.demo_arguments)

    def connect() -> tuple[CloudProfile, Any]:
        """Runs in a thread after the first paint: import the SDK, wait for the local Azure, sign in."""
        nonlocal local
        from console.cloud import cloud_named
        from console.services import make_credential

        preload_sdk()
        if not demo:
            profile = cloud_named(settings.cloud)
            return profile, make_credential(settings, profile)
        if local is None:
            assert pending is not None
            local = pending.wait()
        local.apply_environment()
        return local.profile, make_credential(settings, local.profile)

    from console.app import OpsConsole
    from console.services import make_services

    if demo and not settings.subscription:
        from dataclasses import replace

        from console.emulator.estate import PROD_SUBSCRIPTION

        settings = replace(settings, subscription=PROD_SUBSCRIPTION)  # the demo opens where the action is

    app = OpsConsole(settings, make_services(settings, connect_later=True), connect=connect, demo=demo)
    try:
        result = app.run()
    finally:
        if local is not None:
            local.stop()
        elif pending is not None:
            pending.process.terminate()
    return int(result or 0)
