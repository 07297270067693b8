"""Running the console: build services (starting the local Azure under --demo) and run the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.errors import OpsError
from console.settings import Settings

if TYPE_CHECKING:
    from console.services import Services


def run_console(settings: Settings, *, demo: bool = False, reset: bool = False) -> int:
    """Run the TUI until the user quits; returns the exit code."""
    from console.app import OpsConsole

    local = None

    def connect() -> Services:
        nonlocal local
        from console.services import make_services

        if not demo:
            return make_services(settings)
        from console.local import start_local_azure

        local = start_local_azure(settings.data_dir / "local-azure", reset=reset)
        local.apply_environment()
        return make_services(settings, profile=local.profile)

    app = OpsConsole(settings, connect=connect, demo=demo)
    try:
        result = app.run()
    except OpsError as error:
        print(f"opsconsole: {error}")
        return 1
    finally:
        if local is not None:
            local.stop()
    return int(result or 0)
