"""bitcoind's JSON-RPC over HTTP (a subset), served with aiohttp on the node.

HTTP and JSON-RPC behave as bitcoind's do: Basic auth with the ``.cookie`` secret or
rpcuser/rpcpassword (401 otherwise), POST on ``/`` (or ``/wallet/NAME``), JSON-RPC 1.0
style replies (``result``, ``error``, ``id``; HTTP 500/404/400 on errors) and JSON-RPC 2.0
replies when the request says ``"jsonrpc": "2.0"``, batches, and bitcoind's error codes.
The methods themselves live in :mod:`stratumv2.roles.regtest_node.methods`.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

RPC_INVALID_REQUEST = -32600
RPC_METHOD_NOT_FOUND = -32601
RPC_INVALID_PARAMS = -32602
RPC_INTERNAL_ERROR = -32603
RPC_PARSE_ERROR = -32700
RPC_MISC_ERROR = -1
RPC_TYPE_ERROR = -3
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_INVALID_PARAMETER = -8
RPC_DESERIALIZATION_ERROR = -22
RPC_IN_WARMUP = -28
RPC_CLIENT_NOT_CONNECTED = -9
MAX_BODY = 32 * 1024 * 1024


class RpcMethodError(Exception):
    """An error object to return to the caller (bitcoind's code and message)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Handler = Callable[[list[Any]], Awaitable[Any]]


class RpcMethod:
    """One RPC method: its handler and its parameter names (for named arguments)."""

    __slots__ = ("handler", "params", "required", "usage")

    def __init__(self, handler: Handler, params: tuple[str, ...], required: int, usage: str):
        self.handler = handler
        self.params = params
        self.required = required
        self.usage = usage


class RpcDispatcher:
    """Maps JSON-RPC request objects to method calls and reply objects."""

    def __init__(self) -> None:
        self.methods: dict[str, RpcMethod] = {}
        self.warmup: str | None = "Loading block index…"

    def register(
        self, name: str, handler: Handler, params: tuple[str, ...] = (), required: int = 0
    ) -> None:
        """Add a method; ``required`` leading ``params`` must be given."""
        usage = f"{name} " + " ".join(
            p if i < required else f"( {p} )" for i, p in enumerate(params)
        )
        self.methods[name] = RpcMethod(handler, params, required, usage.strip())

    def _positional(self, method: RpcMethod, params: Any) -> list[Any]:
        if params is None:
            args: list[Any] = []
        elif isinstance(params, list):
            args = params
        elif isinstance(params, dict):
            unknown = [k for k in params if k not in method.params]
            if unknown:
                raise RpcMethodError(RPC_MISC_ERROR, f"Unknown named parameter {unknown[0]}")
            args = [params.get(name) for name in method.params]
            while args and args[-1] is None:
                args.pop()
        else:
            raise RpcMethodError(RPC_INVALID_REQUEST, "Params must be an array or object")
        if len(args) > len(method.params) or sum(a is not None for a in args) < method.required:
            raise RpcMethodError(RPC_MISC_ERROR, method.usage)
        if any(args[i] is None for i in range(min(method.required, len(args)))):
            raise RpcMethodError(RPC_MISC_ERROR, method.usage)
        return args

    async def call_one(self, request: Any) -> tuple[dict[str, Any] | None, int]:
        """Reply object (None for a JSON-RPC 2.0 notification) and the HTTP status."""
        if not isinstance(request, dict):
            return _error(None, RPC_INVALID_REQUEST, "Invalid Request object", False), 400
        request_id = request.get("id")
        v2 = request.get("jsonrpc") == "2.0"
        notification = v2 and "id" not in request
        try:
            method_name = request.get("method")
            if method_name is None:
                raise RpcMethodError(RPC_INVALID_REQUEST, "Missing method")
            if not isinstance(method_name, str):
                raise RpcMethodError(RPC_INVALID_REQUEST, "Method must be a string")
            method = self.methods.get(method_name)
            if method is None:
                raise RpcMethodError(RPC_METHOD_NOT_FOUND, "Method not found")
            if self.warmup is not None and method_name not in ("uptime", "stop"):
                raise RpcMethodError(RPC_IN_WARMUP, self.warmup)
            args = self._positional(method, request.get("params"))
            result = await method.handler(args)
        except RpcMethodError as exc:
            if notification:
                return None, 204
            status = {RPC_INVALID_REQUEST: 400, RPC_METHOD_NOT_FOUND: 404}.get(exc.code, 500)
            return _error(request_id, exc.code, exc.message, v2), 200 if v2 else status
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("RPC %r failed", request.get("method"))
            if notification:
                return None, 204
            return _error(request_id, RPC_MISC_ERROR, str(exc), v2), 200 if v2 else 500
        if notification:
            return None, 204
        if v2:
            return {"jsonrpc": "2.0", "result": result, "id": request_id}, 200
        return {"result": result, "error": None, "id": request_id}, 200

    async def call_body(self, body: bytes) -> tuple[Any, int]:
        """Reply (object, list or None) and HTTP status for a request body."""
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _error(None, RPC_PARSE_ERROR, "Parse error", False), 500
        if isinstance(request, list):
            if not request:
                return _error(None, RPC_INVALID_REQUEST, "Invalid Request object", False), 400
            replies = await asyncio.gather(*(self.call_one(item) for item in request))
            return [reply for reply, _status in replies if reply is not None], 200
        return await self.call_one(request)


def _error(request_id: Any, code: int, message: str, v2: bool) -> dict[str, Any]:
    if v2:
        return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": request_id}
    return {"result": None, "error": {"code": code, "message": message}, "id": request_id}


class RpcHttpServer:
    """The HTTP side: auth, routing, body limits; one aiohttp site on ``host:port``."""

    def __init__(self, dispatcher: RpcDispatcher, credentials: list[tuple[str, str]]) -> None:
        self.dispatcher = dispatcher
        self.credentials = credentials
        self._runner: web.AppRunner | None = None
        self.port = 0

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        if not sep:
            return False
        ok = False
        for want_user, want_password in self.credentials:
            ok |= hmac.compare_digest(user.encode(), want_user.encode()) and hmac.compare_digest(
                password.encode(), want_password.encode()
            )
        return ok

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request.headers.get("Authorization")):
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="jsonrpc"'})
        if request.method != "POST":
            return web.Response(status=405, text="JSONRPC server handles only POST requests")
        body = await request.read()
        reply, status = await self.dispatcher.call_body(body)
        if reply is None:
            return web.Response(status=204)
        return web.Response(
            status=status, text=json.dumps(reply) + "\n", content_type="application/json"
        )

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: any free port); returns the port."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/", self._handle)
        app.router.add_route("*", "/wallet/{name:.*}", self._handle)
        # handler_cancellation: a client that hangs up ends its call (long polls above all).
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, handler_cancellation=True
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        return self.port

    async def stop(self) -> None:
        """Stop listening and close connections."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
