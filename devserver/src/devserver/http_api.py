"""The HTTP face of the dev server: the Bot API endpoint (token, parameters, faults, dispatch, result
checks), file downloads, and the /_sim endpoints for demos."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from devserver.activity import BotActivity
from devserver.faults import FaultInjection, json_reply
from devserver.membership import ChatMembership
from devserver.methods import BotApiMethods
from devserver.records import Call, SpecViolationError
from devserver.spec import ApiRequestError, FieldSpec, JsonDict, MethodSpec, UploadedFile, bad_request
from devserver.users import UserActions

Handler = Callable[[JsonDict], Awaitable[Any]]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024

# Parameters that Telegram still accepts though the description no longer lists them.
_LEGACY_REPLY = {
    "reply_to_message_id": FieldSpec("reply_to_message_id", ("Integer",), False),
    "allow_sending_without_reply": FieldSpec("allow_sending_without_reply", ("Boolean",), False),
}

_LEGACY_PREVIEW = {"disable_web_page_preview": FieldSpec("disable_web_page_preview", ("Boolean",), False)}


class HttpFrontEnd(FaultInjection, ChatMembership, BotApiMethods, UserActions, BotActivity):
    """Requests in, Telegram's envelopes out; every call is recorded in :attr:`calls`."""

    _handlers: dict[str, Handler]

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["method"]
        spec = self.spec.find_method(name)
        call = Call(spec.name if spec else name, {}, None, time.time(), request.method)
        self.calls.append(call)
        try:
            return await self._answer(request, call, spec)
        finally:
            call.done = True
            self._calls_changed.notify()

    async def _answer(self, request: web.Request, call: Call, spec: MethodSpec | None) -> web.StreamResponse:
        try:
            if request.match_info["token"] != self.token:
                raise ApiRequestError(401, "Unauthorized")
            if spec is None:
                raise ApiRequestError(404, "Not Found: method not found")
            raw, files = await _read_params(request)
            for name in [n for n in files if n in spec.fields and n not in raw]:
                raw[name] = files.pop(name)
            call.params, call.chat_id = dict(raw), _chat_id_of(raw)
            fault = self._take_fault(call)
            if fault is not None:
                return await self._apply_fault(request, call, fault)
            call.params = _attached_media(
                self.spec.parse_params(spec, raw, files, _legacy_fields(spec)), files
            )
            self._check_bot_may(spec.name, call.chat_id)
            result = await self._dispatch(spec, call.params)
        except ApiRequestError as err:
            return json_reply(call, err.error_code, err.envelope())
        call.result = result
        return json_reply(call, 200, {"ok": True, "result": result})

    async def _dispatch(self, spec: MethodSpec, params: JsonDict) -> Any:
        if "reply_markup" in params:
            self._check_reply_markup(params["reply_markup"])
        handler = self._handlers.get(spec.name)
        if handler is not None:
            try:
                result = await handler(params)
            except SpecViolationError as err:
                raise ApiRequestError(500, f"Internal Server Error: {err}") from err
        elif spec.returns == ("Boolean",):
            result = True  # accepted, not simulated: e.g. setMyDescription
        else:
            raise ApiRequestError(501, f"Not Implemented: {spec.name} is not simulated by the dev server")
        problems = self.spec.check_result(spec.name, result) if self.check_results else []
        if problems:
            self.spec_violations += [f"{spec.name}: {p}" for p in problems]
            raise ApiRequestError(
                500, f"Internal Server Error: dev server result breaks the API: {problems[0]}"
            )
        return result

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        stored = self._files_by_path.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type)

    # ---- /_sim endpoints for demos -----------------------------------------------------------------------

    async def _handle_sim_send(self, request: web.Request) -> web.StreamResponse:
        """POST /_sim/send {"chat_id": 1001, "text": "hi", "first_name"?: "Sam"}: a user writes to the bot."""
        try:
            body = await request.json()
            chat_id = int(body["chat_id"])
            user_id = int(body.get("user_id", chat_id))
            user = self._users.get(user_id) or self.create_user(
                body.get("first_name", "Demo"), user_id=user_id
            )
            message = self.user_sends_text(user, str(body["text"]), self.chat(chat_id))
        except (ValueError, KeyError, TypeError, ApiRequestError) as exc:
            return web.json_response({"ok": False, "error_code": 400, "description": str(exc)}, status=400)
        return web.json_response({"ok": True, "result": message})

    async def _handle_sim_press(self, request: web.Request) -> web.StreamResponse:
        """POST /_sim/press {"chat_id", "message_id", "callback_data", "user_id"?}: a button press."""
        try:
            body = await request.json()
            chat_id = int(body["chat_id"])
            user = self._users[int(body.get("user_id", chat_id))]
            query = self.user_presses_button(
                user,
                {"chat": {"id": chat_id}, "message_id": int(body["message_id"])},
                str(body["callback_data"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"ok": False, "error_code": 400, "description": str(exc)}, status=400)
        return web.json_response({"ok": True, "result": query})

    async def _handle_sim_messages(self, request: web.Request) -> web.StreamResponse:
        """GET /_sim/messages?chat_id=1001: what the bot has sent there."""
        try:
            chat_id = int(request.query["chat_id"])
        except (KeyError, ValueError):
            return web.json_response({"ok": False, "error_code": 400, "description": "chat_id?"}, status=400)
        return web.json_response({"ok": True, "result": self.sent_messages(chat_id)})


@web.middleware
async def _nodelay_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Small answers must leave at once: without TCP_NODELAY, Nagle plus delayed ACKs stall 40 ms."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return await handler(request)


async def _read_params(request: web.Request) -> tuple[dict[str, object], dict[str, UploadedFile]]:
    """Query string plus a JSON, url-encoded or multipart body; file parts come back separately."""
    raw: dict[str, object] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if not request.body_exists:
        return raw, files
    if request.content_type == "application/json":
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            raise bad_request("can't parse JSON object") from None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON object")
        raw.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                with value.file:  # aiohttp spools the part to a temporary file
                    data = value.file.read()
                files[name] = UploadedFile(name, value.filename, value.content_type, data)
            else:
                raw[name] = value if isinstance(value, str) else bytes(value).decode("utf-8", "replace")
    return raw, files


def _legacy_fields(method: MethodSpec) -> dict[str, FieldSpec]:
    extra: dict[str, FieldSpec] = {}
    if "reply_parameters" in method.fields:
        extra.update(_LEGACY_REPLY)
    if "link_preview_options" in method.fields:
        extra.update(_LEGACY_PREVIEW)
    return extra


def _chat_id_of(raw: dict[str, object]) -> int | str | None:
    value = raw.get("chat_id")
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def _attached_media(params: JsonDict, files: dict[str, UploadedFile]) -> JsonDict:
    """An InputMedia parameter (editMessageMedia's media) whose file is a multipart part, referenced
    as attach://name: the part itself, so the method finds the upload."""
    media = params.get("media")
    if isinstance(media, dict) and str(media.get("media", "")).startswith("attach://"):
        part = files.get(str(media["media"]).removeprefix("attach://"))
        if part is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        params = {**params, "media": {**media, "media": part}}
    return params
