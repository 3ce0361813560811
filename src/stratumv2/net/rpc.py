"""An asyncio JSON-RPC client for bitcoind (and for our regtest node, which speaks the same).

Authentication: the ``.cookie`` file bitcoind writes (re-read on every 401, since bitcoind
writes a new one at each start) or rpcuser/rpcpassword. Errors:
:class:`RpcError` carries bitcoind's error object (code, message); :class:`RpcConnectionError`
means the node could not be reached or answered something that is not JSON-RPC;
:class:`RpcAuthError` (a connection error) is HTTP 401/403.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

__all__ = [
    "BitcoinRpc",
    "RpcAuthError",
    "RpcClientError",
    "RpcConnectionError",
    "RpcError",
]

RPC_IN_WARMUP = -28


class RpcClientError(Exception):
    """Base class of everything this client raises."""


class RpcError(RpcClientError):
    """An error object returned by the node: ``code`` and ``message`` as bitcoind sent them."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"RPC error {code}: {message}")
        self.code = code
        self.message = message


class RpcConnectionError(RpcClientError):
    """The node is unreachable, timed out, or did not answer with JSON-RPC."""


class RpcAuthError(RpcConnectionError):
    """The node refused our credentials (HTTP 401 or 403)."""


class BitcoinRpc:
    """A bitcoind JSON-RPC client over one aiohttp session.

    ``url`` is ``http://host:port`` (optionally with ``/wallet/NAME``). Give either
    ``cookie_file`` or ``user`` and ``password``. ``timeout`` bounds each call; long-poll
    calls take their own timeout.
    """

    def __init__(
        self,
        url: str,
        *,
        cookie_file: str | Path | None = None,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        if cookie_file is None and user is None:
            raise ValueError("give cookie_file, or user and password")
        self.url = url
        self.cookie_file = Path(cookie_file) if cookie_file is not None else None
        self.user = user
        self.password = password or ""
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._auth_header: str | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> BitcoinRpc:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _auth(self, reload: bool = False) -> str:
        if self._auth_header is not None and not reload:
            return self._auth_header
        if self.cookie_file is not None and self.user is None:
            try:
                secret = self.cookie_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise RpcAuthError(f"cannot read cookie file {self.cookie_file}: {exc}") from None
        else:
            secret = f"{self.user}:{self.password}"
        token = base64.b64encode(secret.encode()).decode()
        self._auth_header = f"Basic {token}"
        return self._auth_header

    async def _post(self, body: Any, timeout: float | None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        data = json.dumps(body)
        for attempt in range(2):
            headers = {"Authorization": self._auth(reload=attempt > 0)}
            headers["Content-Type"] = "application/json"
            try:
                async with self._session.post(
                    self.url,
                    data=data,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
                ) as response:
                    if response.status in (401, 403):
                        if attempt == 0 and self.cookie_file is not None:
                            continue
                        raise RpcAuthError(f"{self.url}: HTTP {response.status} (bad credentials)")
                    text = await response.text()
                    status = response.status
            except TimeoutError:
                raise RpcConnectionError(f"{self.url}: timed out") from None
            except aiohttp.ClientError as exc:
                raise RpcConnectionError(f"{self.url}: {exc}") from None
            try:
                return json.loads(text)
            except ValueError:
                raise RpcConnectionError(
                    f"{self.url}: HTTP {status}, not JSON: {text[:200]!r}"
                ) from None
        raise RpcAuthError(f"{self.url}: bad credentials")  # pragma: no cover

    @staticmethod
    def _unwrap(reply: Any) -> Any:
        if not isinstance(reply, dict):
            raise RpcConnectionError(f"not a JSON-RPC reply: {reply!r:.200}")
        error = reply.get("error")
        if error is not None:
            if isinstance(error, dict):
                raise RpcError(int(error.get("code", -1)), str(error.get("message", "")))
            raise RpcError(-1, str(error))
        return reply.get("result")

    async def call(self, method: str, *params: Any, timeout: float | None = None) -> Any:
        """Call ``method`` with positional ``params``; the result, or RpcError."""
        body = {"jsonrpc": "1.0", "id": next(self._ids), "method": method, "params": list(params)}
        return self._unwrap(await self._post(body, timeout))

    async def batch(
        self, calls: Sequence[tuple[str, Sequence[Any]]], timeout: float | None = None
    ) -> list[Any | RpcError]:
        """Several calls in one request; each result, or the RpcError for that call."""
        first = next(self._ids)
        ids = [first + i for i in range(len(calls))]
        self._ids = itertools.count(first + len(calls))
        body = [
            {"jsonrpc": "1.0", "id": i, "method": m, "params": list(p)}
            for i, (m, p) in zip(ids, calls, strict=True)
        ]
        reply = await self._post(body, timeout)
        if not isinstance(reply, list):
            self._unwrap(reply)
            raise RpcConnectionError("batch answered with a single object")
        by_id = {item.get("id"): item for item in reply if isinstance(item, dict)}
        results: list[Any | RpcError] = []
        for i in ids:
            try:
                results.append(self._unwrap(by_id.get(i)))
            except RpcError as exc:
                results.append(exc)
        return results

    # ---- the calls the template provider and JDS make ------------------------------------

    async def getblocktemplate(
        self, longpollid: str | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """``getblocktemplate {"rules": ["segwit"]}``; with ``longpollid``, a long poll."""
        request: dict[str, Any] = {"rules": ["segwit"]}
        if longpollid is not None:
            request["longpollid"] = longpollid
        result: dict[str, Any] = await self.call("getblocktemplate", request, timeout=timeout)
        return result

    async def submitblock(self, block_hex: str) -> str | None:
        """None when accepted, else bitcoind's reason string (``high-hash``, ``duplicate``...)."""
        result = await self.call("submitblock", block_hex)
        return None if result is None else str(result)

    async def getbestblockhash(self) -> str:
        """Hash of the tip (display hex)."""
        return str(await self.call("getbestblockhash"))

    async def getblockcount(self) -> int:
        """Height of the tip."""
        return int(await self.call("getblockcount"))

    async def getblockchaininfo(self) -> dict[str, Any]:
        """Chain name, height, tip, IBD state..."""
        result: dict[str, Any] = await self.call("getblockchaininfo")
        return result

    async def getrawmempool(self) -> list[str]:
        """Txids in the mempool."""
        result: list[str] = await self.call("getrawmempool")
        return result

    async def getrawtransaction(self, txid: str) -> str:
        """Hex of a mempool or confirmed transaction."""
        return str(await self.call("getrawtransaction", txid))

    async def sendrawtransaction(self, tx_hex: str) -> str:
        """Txid of the accepted transaction."""
        return str(await self.call("sendrawtransaction", tx_hex))
