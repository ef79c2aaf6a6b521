"""The SMS sink's batch endpoint: `POST /v1/messages/batch`, many messages in one request.

Real SMS APIs take a list of messages per request and answer each one on its own; a
broadcast then costs one request per hundred messages instead of one per message. Body:
`{"messages": [{"to", "body", "sender", "idempotency_key"}, ...]}` (1 to `MAX_BATCH`).
The answer is 200 with one result per message, in order: `{"index", "idempotency_key",
"id", "status", "code"}`, where `status`/`code` are what the single endpoint would have
answered that message alone: `accepted`/202, `duplicate`/200 (its key was seen before,
in an earlier request or earlier in this one: the first id, nothing stored again),
`failed`/the injected status (`/control/fail` counts messages, not requests), or
`rejected`/422 with the fields at fault. A malformed request as a whole (not JSON, no
`messages` list, empty, too long) is a 422 problem and changes nothing. A slow sink
(`/control/delay`) answers a request that stored a message `delay_s` late, after
taking every key (a request of repeats only is answered at once, as singly).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from infra.local.sink_files import append_records
from infra.local.sms_sink import SmsRequest, SmsState, _problem

log = structlog.get_logger("infra.local.sinks")
MAX_BATCH = 1000


class BatchItem(SmsRequest):
    """One message of a batch: the single endpoint's body, with its idempotency key."""

    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)


class BatchRequest(BaseModel):
    """The envelope of `POST /v1/messages/batch` (each message is validated on its own)."""

    messages: list[Any] = Field(min_length=1, max_length=MAX_BATCH)


def _errors(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    return [{"field": prefix + (".".join(str(p) for p in e["loc"]) or "$"),
             "rule": e["type"], "message": e["msg"]} for e in exc.errors()]  # fmt: skip


def _one(state: SmsState, index: int, raw: Any, repeats: Path,
         stored: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """The result for one message of a batch (and its line, appended to `stored`)."""
    key = raw.get("idempotency_key") if isinstance(raw, dict) else None
    key = key if isinstance(key, str) else None
    result: dict[str, Any] = {"index": index, "idempotency_key": key}
    try:
        item = BatchItem.model_validate(raw)
    except ValidationError as exc:
        state.rejected += 1
        errors = _errors(exc)
        log.info("sms_rejected", fields=sorted({e["field"] for e in errors}))
        return {**result, "status": "rejected", "code": 422, "errors": errors}
    if (status := state.take_failure()) is not None:
        return {**result, "status": "failed", "code": status,
                "detail": "the sink was told to fail this message"}  # fmt: skip
    if (sink_id := state.take_key(item.idempotency_key, repeats)) is not None:
        return {**result, "id": sink_id, "status": "duplicate", "code": 200}
    record = state.accept(item, item.idempotency_key)
    stored.append(record)
    return {**result, "id": record["id"], "status": "accepted", "code": 202}


def add_batch_route(app: FastAPI, state: SmsState, path: Path, repeats: Path) -> None:
    """Serve `POST /v1/messages/batch` on the sink's app, recording into `path`."""

    # No await between reading the keys and appending the lines: two concurrent batches
    # with a key in common cannot both store it.
    @app.post("/v1/messages/batch")
    async def send_batch(request: Request) -> JSONResponse:
        try:
            envelope = BatchRequest.model_validate(orjson.loads(await request.body()))
        except orjson.JSONDecodeError:
            state.rejected += 1
            errors = [{"field": "$", "rule": "json_invalid", "message": "not JSON"}]
            return _problem(422, "Invalid request", "the body is not JSON", errors)
        except ValidationError as exc:
            state.rejected += 1
            errors = _errors(exc)
            names = ", ".join(sorted({e["field"] for e in errors}))
            return _problem(422, "Invalid request", f"invalid field(s): {names}", errors)
        stored: list[dict[str, Any]] = []
        results = [_one(state, n, m, repeats, stored) for n, m in enumerate(envelope.messages)]
        if stored:  # one write for the whole batch
            append_records(path, stored)
        state.batches += 1
        log.info("sms_batch", messages=len(results), accepted=len(stored))
        if state.delay_s and stored:  # after the keys are taken (a repeat meanwhile is a
            # duplicate); as the single endpoint, a request taking nothing new answers at once
            await asyncio.sleep(state.delay_s)
        return JSONResponse({"results": results}, 200)
