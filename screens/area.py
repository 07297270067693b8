"""The list-area kit: loading / empty / error states, the `/` filter box, one mapping from a failed worker to
what the user sees, and a refresh timer re-armed only after a load succeeded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Input, LoadingIndicator, Static
from textual.worker import Worker, WorkerState

from console.errors import ErrorKind, OpsError
from console.models import OperationProgress, Subscription
from screens.shell import AreaScreen, ShellContext, ShellHeader, SubscriptionChanged
from screens.widgets.confirm import ChangeRequest, ConfirmScreen
from screens.widgets.operation import OperationIndicator, OperationPanel, Operations

T = TypeVar("T")


def failure_message(error: BaseException | None) -> str:
    """What a user sees for a failed worker: the OpsError's sentence with its request id (and how long Azure
    asked to wait when it throttled), a runbook's own sentence, or "Unexpected failure" for anything else."""
    if isinstance(error, OpsError):
        text = str(error)
        if error.kind is ErrorKind.THROTTLED and error.retry_after:
            text += f" Azure asked to wait {error.retry_after:.0f} s before trying again."
        return text
    message = getattr(error, "message", None)
    if isinstance(message, str) and type(error).__module__.startswith("console."):
        return str(error)  # the console's own errors (a runbook's, an export's) are sentences for the user
    return f"Unexpected failure: {error!r}"


class ListStates(ContentSwitcher):
    """The body of a list area: a loading indicator, the content (one widget or more: a table, a chart),
    an empty sentence, an error sentence.

    The state widgets' ids are given (areas keep the ids their tests and styles use).
    """

    DEFAULT_CSS = """
    ListStates .state { padding: 1 2; }
    ListStates .error { color: $error; }
    """

    def __init__(
        self,
        content: Widget,
        *more: Widget,
        loading_id: str = "loading-state",
        empty_id: str = "empty-state",
        error_id: str = "error-state",
        empty_text: str = "Nothing here.",
        initial: str | None = None,
        id: str | None = None,
    ) -> None:
        self.content = content
        """The main content widget (the one the filter hands the focus back to)."""
        self.loading_id, self.empty_id, self.error_id = loading_id, empty_id, error_id
        self.empty_text = empty_text
        # Children given here (not composed later) are there as soon as the screen is: a query finds them.
        super().__init__(
            LoadingIndicator(id=loading_id),
            content,
            *more,
            Static(empty_text, id=empty_id, classes="state"),
            Static("", id=error_id, classes="state error"),
            initial=initial or loading_id,
            id=id,
        )

    def show_loading(self) -> None:
        self.current = self.loading_id

    def show_content(self) -> None:
        self.current = self.content.id

    def show_empty(self, sentence: str | None = None) -> None:
        self.query_one(f"#{self.empty_id}", Static).update(sentence or self.empty_text)
        self.current = self.empty_id

    def show_error(self, title: str, message: str, hint: str = "") -> None:
        """The error state: a bold title, the sentence, and what to press to try again."""
        parts: list[Any] = [(f"{title}\n\n", "bold"), message]
        if hint:
            parts.append(f"\n\n{hint}")
        self.query_one(f"#{self.error_id}", Static).update(Text.assemble(*parts))
        self.current = self.error_id


class FilterBox(Input):
    """The `/` box: hidden until opened; text or regex, `!` inverts; esc (the area's binding) clears it."""

    DEFAULT_CSS = """
    FilterBox { display: none; height: 1; border: none; padding: 0 1; }
    FilterBox:focus { border: none; }
    FilterBox.-open { display: block; }
    """

    def __init__(self, placeholder: str = "filter: text or regex, ! to invert, esc clears", id: str = "filter") -> None:
        super().__init__(placeholder=placeholder, id=id)

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def open(self, text: str) -> None:
        self.add_class("-open")
        self.value = text
        # At once, as the filter's close gives the focus back: a focus change queued for later would land
        # after an escape typed right behind `/` and leave the focus in the hidden box.
        self.screen.set_focus(self)

    def close(self) -> None:
        self.value = ""
        self.remove_class("-open")


class ListAreaScreen(AreaScreen):
    """Base of an area that loads a list: the states, the filter, failures, refresh and subscription changes.

    A subclass composes its body with `compose_list`, names its load worker groups in `LOAD_FAILURES`
    (group -> title shown in the error state), shows rows in `show_rows()`, writes its crumbs line in
    `update_crumbs()`, and starts its load in `reload()`, which begins with `known_subscriptions()`.
    """

    BINDINGS = [Binding("O", "show_operations", "Operations", show=False, id="area.operations")]
    LOAD_FAILURES: ClassVar[dict[str, str]] = {}
    """Worker groups whose failure replaces the list with the error state, and the title said there."""
    RETRY_HINT: ClassVar[str] = "Press r to retry."

    def __init__(
        self,
        context: ShellContext,
        refresh_seconds: float = 0.0,
        list_subscriptions: Callable[[], Awaitable[list[Subscription]]] | None = None,
    ) -> None:
        super().__init__(context)
        self.filter_text = ""
        self.refresh_seconds = refresh_seconds
        self.list_subscriptions = list_subscriptions
        self.waiting = ""
        """What the area is waiting for, said in its crumbs ('' when nothing)."""
        self._refresh_timer: Timer | None = None
        self.operations = Operations()

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield OperationIndicator(self.operations)

    def compose_list(
        self, *views: Widget, empty_text: str, states_id: str, detail_id: str | None = None
    ) -> ComposeResult:
        """The list layout: the crumbs line, the filter, the states around `views` and, with `detail_id`, a
        scrolling detail pane whose text is the Static `#{detail_id}-body`."""
        with Vertical():
            yield Static("", id="crumbs")
            yield FilterBox()
            yield ListStates(*views, empty_text=empty_text, id=states_id)
            if detail_id is not None:
                with VerticalScroll(id=detail_id):
                    yield Static("", id=f"{detail_id}-body")

    # the pieces a subclass composes ------------------------------------------------------------

    @property
    def states(self) -> ListStates:
        return self.query_one(ListStates)

    @property
    def filter_box(self) -> FilterBox:
        return self.query_one(FilterBox)

    def show_rows(self) -> None:
        """Put the (filtered) rows on screen; called when the filter changes."""

    def reload(self) -> None:
        """Start loading the list again (the refresh timer and `r` call it)."""

    def update_crumbs(self) -> None:
        """Write the crumbs line: the area's counts, its filter and what it is `waiting` for."""

    def set_waiting(self, text: str) -> None:
        """Say in the crumbs what the area is waiting for ('' once nothing)."""
        self.waiting = text
        self.update_crumbs()

    async def known_subscriptions(self) -> list[Subscription]:
        """Every subscription, the current one first. When this area opened first and none are known yet,
        they are listed and the initial one chosen (the header then names it)."""
        if not self.context.subscriptions and self.list_subscriptions is not None:
            self.set_waiting("listing subscriptions…")
            self.context.subscriptions = await self.list_subscriptions()
            self.context.choose_initial()
            self.query_one(ShellHeader).update_from_context()
        current = self.context.current
        return sorted(self.context.subscriptions, key=lambda s: s != current)

    def refresh_failed(self, what: str, message: str) -> None:
        """A reload failed while rows are on screen: the rows stay, and the crumbs and a notice say so."""
        self.set_waiting(f"could not refresh: {message} (r retries)")
        self.notify(message, title=f"Could not refresh {what}", severity="error", timeout=8)

    # filter ------------------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.filter_box.open(self.filter_text)

    def on_input_changed(self, event: Input.Changed) -> None:
        if isinstance(event.input, FilterBox):
            event.stop()
            self.filter_text = event.value
            self.show_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if isinstance(event.input, FilterBox):
            event.stop()
            self.set_focus(self.states.content)

    def clear_filter(self) -> bool:
        """Close and empty the filter; whether there was one to clear."""
        box = self.filter_box
        had = box.is_open or bool(self.filter_text)
        box.close()
        self.filter_text = ""
        self.show_rows()
        # At once, not after a refresh (`focus()`): the key typed after the escape goes to the table (or to the
        # `:` bar it opened), never the other way round.
        self.set_focus(self.states.content)
        return had

    # refresh -----------------------------------------------------------------------------------

    def arm_refresh(self, callback: Callable[[], object] | None = None) -> None:
        """Call after a load succeeded: the next automatic reload in `refresh_seconds` (a failed load does not
        re-arm, so a failing Azure is not asked again and again behind the error state)."""
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
            self._refresh_timer = None
        if self.refresh_seconds > 0:
            self._refresh_timer = self.set_timer(self.refresh_seconds, callback or self.reload)

    # subscription ------------------------------------------------------------------------------

    def on_subscription_changed(self, message: SubscriptionChanged) -> None:
        # The shell's own handler (AreaScreen's) updates the header: Textual calls both.
        self.subscription_changed(message.subscription)

    def subscription_changed(self, subscription: Subscription) -> None:
        """The user switched the current subscription (the context already holds it)."""

    # failures ----------------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a failed worker becomes what the user sees."""
        if event.state == WorkerState.CANCELLED:
            self.worker_cancelled(event.worker)
            return
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        message = failure_message(error)
        if self.worker_failed(event.worker, error, message):
            return
        title = self.LOAD_FAILURES.get(event.worker.group)
        if title is not None:
            self.states.show_error(title, message, self.RETRY_HINT)
        else:
            self.notify(message, severity="error", timeout=8)

    def worker_failed(self, worker: Worker[Any], error: BaseException | None, message: str) -> bool:
        """Show a failure the area's own way; return True when handled (default: error state or a notice)."""
        return False

    def worker_cancelled(self, worker: Worker[Any]) -> None:
        """A worker was cancelled (by the user, or replaced by a newer one of its group)."""

    # changes -----------------------------------------------------------------------------------

    def confirm_change(self, request: ChangeRequest, go: Callable[[], object]) -> None:
        """Ask with the confirm dialog; `go` starts the change only on a yes (a no sends nothing)."""

        def answered(yes: bool | None) -> None:
            if yes:
                go()
            else:
                self.notify(f"Cancelled: nothing was sent to {request.target}.", title=request.action.capitalize())

        self.app.push_screen(ConfirmScreen(request), answered)

    async def run_change(
        self,
        action: str,
        target: str,
        change: Callable[[Callable[[OperationProgress], None]], Awaitable[T]],
        describe: Callable[[T], str] | None = None,
    ) -> T:
        """Run a change (call it inside a worker) with its progress in the operation panel; the panel opens
        and may be sent to the background; the outcome (`describe` of the result) stays in it. A failure is
        re-raised for the worker."""
        operation = self.operations.start(action, target)
        self.app.push_screen(OperationPanel(self.operations), lambda _: self._operations_seen())
        try:
            result = await change(lambda update: Operations.progress(operation, update))
        except BaseException as error:
            Operations.finish(operation, failure_message(error), failed=True)
            raise
        Operations.finish(operation, describe(result) if describe is not None else "Succeeded.")
        return result

    def action_show_operations(self) -> None:
        """`O` brings back the operation panel."""
        self.app.push_screen(OperationPanel(self.operations), lambda _: self._operations_seen())

    def _operations_seen(self) -> None:
        if self.is_attached:
            self.query_one(OperationIndicator).acknowledge()
