"""Command palette providers: jump to an area, switch subscription, find a resource by name."""

from __future__ import annotations

from functools import partial
from typing import Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.message import Message

from console.errors import OpsError
from console.models import Resource, Subscription
from screens.messages import OpenRunbook, RevealResource
from screens.shell import ShellContext


class ConsoleHost(Protocol):
    """What the providers need from the application."""

    shell: ShellContext

    def jump(self, area: str) -> None: ...

    def select_subscription(self, subscription_id: str) -> None: ...

    async def resource_index(self) -> list[Resource]: ...

    def runbook_titles(self) -> list[tuple[str, str, str]]: ...

    async def known_subscriptions(self) -> list[Subscription]: ...

    def post_message(self, message: Message) -> bool: ...


def _host(provider: Provider) -> ConsoleHost:
    return cast(ConsoleHost, provider.app)


class AreaCommands(Provider):
    """`Go to <area>` for every area."""

    async def discover(self) -> Hits:
        for name, title in _host(self).shell.areas.titles.items():
            yield DiscoveryHit(f"Go to {title}", partial(_host(self).jump, name), help=f":{name}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, title in _host(self).shell.areas.titles.items():
            text = f"Go to {title}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(_host(self).jump, name), help=f":{name}")


class SubscriptionCommands(Provider):
    """`Subscription: <name>` for every subscription but the current one."""

    async def search(self, query: str) -> Hits:
        host = _host(self)
        matcher = self.matcher(query)
        for subscription in host.shell.subscriptions:
            if subscription == host.shell.current:
                continue
            text = f"Subscription: {subscription.display_name}"
            score = max(matcher.match(text), matcher.match(subscription.subscription_id))
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(text),
                    partial(host.select_subscription, subscription.subscription_id),
                    help=subscription.subscription_id,
                )


class SubscriptionSwitcher(Provider):
    """The `ctrl+s` switcher: every subscription, the current one marked, listed before anything is typed."""

    async def startup(self) -> None:
        self._subscriptions: list[Subscription] = []
        try:
            self._subscriptions = await _host(self).known_subscriptions()
        except OpsError as error:
            self.app.notify(f"Could not list the subscriptions: {error}", severity="error")

    def _entries(self) -> list[tuple[str, Subscription]]:
        current = _host(self).shell.current
        return [
            (f"{s.display_name}{'  (current)' if s == current else ''}", s) for s in getattr(self, "_subscriptions", [])
        ]

    async def discover(self) -> Hits:
        host = _host(self)
        for text, subscription in self._entries():
            yield DiscoveryHit(
                text, partial(host.select_subscription, subscription.subscription_id), help=subscription.subscription_id
            )

    async def search(self, query: str) -> Hits:
        host = _host(self)
        matcher = self.matcher(query)
        for text, subscription in self._entries():
            score = max(matcher.match(text), matcher.match(subscription.subscription_id))
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(text),
                    partial(host.select_subscription, subscription.subscription_id),
                    help=subscription.subscription_id,
                )


class ResourceCommands(Provider):
    """Find a resource by name across subscriptions and open it in Resources."""

    async def startup(self) -> None:
        self._resources: list[Resource] = []
        try:
            self._resources = await _host(self).resource_index()
        except OpsError as error:
            self.app.notify(f"Resources are not searchable right now: {error}", severity="warning")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for resource in getattr(self, "_resources", []):
            score = matcher.match(resource.name)
            if score > 0:
                short_type = resource.type.split("/", 1)[-1]
                yield Hit(
                    score,
                    matcher.highlight(resource.name),
                    partial(self.app.post_message, RevealResource(resource.resource_id)),
                    help=f"{short_type} in {resource.resource_group}",
                )


class RunbookCommands(Provider):
    """`Runbook: <title>` for every runbook; opens it in the Runbooks area."""

    async def startup(self) -> None:
        # Read once per palette, not per keystroke: listing runbooks parses every runbook file.
        self._titles = _host(self).runbook_titles()

    async def search(self, query: str) -> Hits:
        host = _host(self)
        matcher = self.matcher(query)
        for name, title, tags in getattr(self, "_titles", []):
            text = f"Runbook: {title}"
            score = max(matcher.match(text), matcher.match(tags))
            if score > 0:
                yield Hit(
                    score, matcher.highlight(text), partial(host.post_message, OpenRunbook(name)), help=tags or name
                )
