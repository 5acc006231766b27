"""The SagaOperations port of a running `orderhex serve`, over /admin/sagas (the CLI's and the
dashboard's attach mode). Refusals come back as the core errors the server raised."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from adapters.outbound.http.api import ServedApi
from core.kernel.errors import IllegalTransition, NotFound, ValidationError
from ports.sagas import OPERATOR_ACTIONS, SagaDetail, SagaView


class HttpSagaOperations:
    def __init__(self, api: ServedApi) -> None:
        self._api = api

    def sagas(self, state: str | None = None, after: str | None = None, limit: int = 100) -> list[SagaView]:
        params: dict[str, Any] = {"limit": limit}
        if state is not None:
            params["state"] = state
        if after is not None:
            params["after"] = after
        rows = self._api.request("GET", "/admin/sagas", params=params).json()
        return [SagaView.from_json(row) for row in rows]

    def saga(self, saga_id: str) -> SagaDetail:
        return SagaDetail.from_json(self._get(f"/admin/sagas/{_segment(saga_id)}", "saga", saga_id).json())

    def act(self, saga_id: str, action: str, step: str | None = None, reason: str | None = None) -> SagaDetail:
        if action not in OPERATOR_ACTIONS:
            raise ValidationError("action", f"no operator action {action!r}; one of {', '.join(OPERATOR_ACTIONS)}")
        path = f"/admin/sagas/{_segment(saga_id)}/{action}"
        try:
            response = self._api.request("POST", path, json={"step": step, "reason": reason})
        except IllegalTransition as refused:
            # The server's detail reads "saga ID is STATE: cannot ACTION"; ServedApi rebuilt it as an order's.
            raise IllegalTransition(saga_id, refused.state, refused.action, kind="saga") from None
        except ValidationError as refused:
            raise _not_found(refused, "saga", saga_id) from None
        return SagaDetail.from_json(response.json())

    def graph(self, definition: str) -> str:
        return self._get(f"/admin/sagas/graph/{_segment(definition)}", "saga definition", definition).text

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = self._api.request("GET", "/admin/sagas/counts").json()
        return result

    def _get(self, path: str, kind: str, key: str) -> Any:
        try:
            return self._api.request("GET", path)
        except ValidationError as refused:
            raise _not_found(refused, kind, key) from None


def _segment(text: str) -> str:
    return quote(text, safe="")


def _not_found(refused: ValidationError, kind: str, key: str) -> ValidationError | NotFound:
    # ServedApi turns a 404 that names no order into a ValidationError of the request; a saga's
    # 404 is a NotFound again here, so attach mode refuses like in-process mode.
    if refused.field == "request" and "not found" in refused.message:
        return NotFound(kind, key)
    return refused
