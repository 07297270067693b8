"""OpsError, the one error the services raise, and the one mapping from azure.core exceptions to it."""

from __future__ import annotations

import enum
from typing import Any


class ErrorKind(enum.Enum):
    """What went wrong, in the terms a user acts on."""

    AUTH = "auth"
    PERMISSION = "permission"
    NOT_FOUND = "not found"
    CONFLICT = "conflict"
    THROTTLED = "throttled"
    TRANSIENT = "transient"
    BAD_REQUEST = "bad request"
    READ_ONLY = "read-only"
    REFUSED = "refused"
    FAILED = "failed"
    """Azure ran the operation and it ended Failed (a long-running operation's terminal state)."""
    CONFIG = "config"


class OpsError(Exception):
    """A failure told as a sentence a user can act on, with the Azure request id when there is one."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
        code: str | None = None,
        position: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after
        self.code = code
        self.position = position

    def __str__(self) -> str:
        if self.request_id:
            return f"{self.message} (request id {self.request_id})"
        return self.message


_STATUS_KINDS = {
    400: ErrorKind.BAD_REQUEST,
    401: ErrorKind.AUTH,
    403: ErrorKind.PERMISSION,
    404: ErrorKind.NOT_FOUND,
    409: ErrorKind.CONFLICT,
    429: ErrorKind.THROTTLED,
}


def _retry_after(headers: Any) -> float | None:
    try:
        value = headers.get("Retry-After") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _azure_message(error: Any) -> tuple[str | None, str | None]:
    """The ARM error code and message inside an HttpResponseError, if the body had one."""
    odata = getattr(error, "error", None)
    code = getattr(odata, "code", None)
    message = getattr(odata, "message", None)
    if message:
        return code, str(message)
    return code, None


def from_azure(error: BaseException, action: str) -> OpsError:
    """Turn any azure.core / azure.identity exception raised while doing `action` into an OpsError."""
    from azure.core import exceptions as az

    if isinstance(error, OpsError):
        return error
    if isinstance(error, az.ClientAuthenticationError) and getattr(error, "response", None) is None:
        # DefaultAzureCredential's message lists every credential it tried, one per line; the first says it all.
        return OpsError(
            ErrorKind.AUTH,
            f"Could not sign in to Azure while {action} ({_first_line(error).rstrip('.')}): sign in with "
            "`az login` (or any credential DefaultAzureCredential accepts), or add --demo to use the embedded "
            "local Azure.",
        )
    # A body that is not JSON arrives as DecodeError (an HttpResponseError, often with status 200) or, from the
    # generated models, as DeserializationError (a ValueError): both mean the answer could not be read.
    answered_ok = isinstance(error, az.HttpResponseError) and 200 <= int(error.status_code or 0) < 300
    failed = _failed_operation(error) if answered_ok else None
    if failed is not None:
        failed_code, failed_message = failed
        status_answer: Any = getattr(error, "response", None)
        return OpsError(
            ErrorKind.FAILED,
            f"The operation ended Failed while {action}: {failed_message} ({failed_code})",
            request_id=status_answer.headers.get("x-ms-request-id") if status_answer is not None else None,
            code=failed_code,
        )
    if isinstance(error, (az.DecodeError, az.DeserializationError)) or answered_ok:
        unreadable: Any = getattr(error, "response", None)
        request_id = unreadable.headers.get("x-ms-request-id") if unreadable is not None else None
        return OpsError(
            ErrorKind.TRANSIENT, f"Azure sent a response that could not be read while {action}.", request_id=request_id
        )
    if isinstance(error, az.HttpResponseError) and error.response is not None:
        response: Any = error.response
        status = int(error.status_code or 0)
        request_id = response.headers.get("x-ms-request-id")
        code, message = _azure_message(error)
        kind = _STATUS_KINDS.get(status, ErrorKind.TRANSIENT if status >= 500 else ErrorKind.BAD_REQUEST)
        detail = message or _first_line(error) or response.reason or "no details"
        sentence = {
            ErrorKind.AUTH: f"Azure refused the credentials while {action}: {detail}",
            ErrorKind.PERMISSION: f"You do not have permission for {action}: {detail}",
            ErrorKind.NOT_FOUND: f"Not found while {action}: {detail}",
            ErrorKind.CONFLICT: f"Azure reported a conflict while {action}: {detail}",
            ErrorKind.THROTTLED: f"Azure is throttling requests while {action}; try again shortly ({detail})",
            ErrorKind.TRANSIENT: f"Azure answered {status} while {action} and retries did not help: {detail}",
            ErrorKind.BAD_REQUEST: f"Azure rejected the request while {action}: {detail}",
        }[kind]
        return OpsError(kind, sentence, request_id=request_id, retry_after=_retry_after(response.headers), code=code)
    if isinstance(error, (az.ServiceRequestError, az.ServiceResponseError)):
        return OpsError(
            ErrorKind.TRANSIENT,
            f"The connection to Azure failed while {action}: {_first_line(error)}",
        )
    if isinstance(error, TimeoutError):
        return OpsError(ErrorKind.TRANSIENT, f"Azure did not answer in time while {action}.")
    if isinstance(error, az.AzureError):
        return OpsError(ErrorKind.TRANSIENT, f"Azure call failed while {action}: {_first_line(error)}")
    raise error


def _failed_operation(error: Any) -> tuple[str, str] | None:
    """The ARM code and message of a long-running operation that ended Failed: its poller raises with
    the last status answer (HTTP 200, `{"status": "Failed", "error": {...}}`) as the response."""
    import json

    try:
        body = json.loads(error.response.text())
    except Exception:  # no response, not read yet, not JSON: not a failed operation's status answer
        return None
    if not isinstance(body, dict) or str(body.get("status", "")).lower() not in ("failed", "canceled"):
        return None
    detail: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else {}
    return str(detail.get("code") or body["status"]), str(detail.get("message") or "no details")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
