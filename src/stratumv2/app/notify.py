"""Notifications: a generic JSON webhook and ntfy-style topics.

Events: a block found, a new best share difficulty, a worker gone silent, an upstream
failover. Each target gets one HTTP POST per event:

* :class:`WebhookTarget` posts ``{"event": KIND, "title": ..., "message": ..., "data": {...}}``
  as JSON;
* :class:`NtfyTarget` posts the message as plain text to ``URL/TOPIC`` with ``Title`` and
  ``Tags`` headers (what ntfy.sh and self-hosted ntfy servers read).

Sending never raises: a failed POST is logged and counted (:attr:`Notifier.failures`), so a
dead receiver never disturbs mining.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import aiohttp
from pydantic import Field

from stratumv2.app.config import Settings

__all__ = [
    "EventKind",
    "Notification",
    "Notifier",
    "NotifySettings",
    "NtfyTarget",
    "Target",
    "WebhookTarget",
    "best_difficulty",
    "block_found",
    "upstream_failover",
    "worker_offline",
]

log = logging.getLogger("stratumv2.notify")

EventKind = Literal["block_found", "best_difficulty", "worker_offline", "upstream_failover"]
ALL_EVENTS: tuple[EventKind, ...] = (
    "block_found",
    "best_difficulty",
    "worker_offline",
    "upstream_failover",
)


@dataclass(frozen=True, slots=True)
class Notification:
    """One event to tell the user about."""

    kind: EventKind
    title: str
    message: str
    tags: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)


def block_found(height: int, block_hash: str, worker: str, payee: str) -> Notification:
    """A block the pool found (and sent to the node)."""
    return Notification(
        "block_found",
        f"Block found at height {height}",
        f"Block {block_hash} at height {height} by {worker}, paying {payee}.",
        ("tada", "bitcoin"),
        {"height": height, "hash": block_hash, "worker": worker, "payee": payee},
    )


def best_difficulty(worker: str, difficulty: float, previous: float) -> Notification:
    """A worker beat its best share difficulty."""
    return Notification(
        "best_difficulty",
        f"New best difficulty for {worker}",
        f"{worker} reached share difficulty {difficulty:.6g} (previous best {previous:.6g}).",
        ("chart_with_upwards_trend",),
        {"worker": worker, "difficulty": difficulty, "previous": previous},
    )


def worker_offline(worker: str, silent_for: float) -> Notification:
    """A worker sent no share for ``silent_for`` seconds."""
    return Notification(
        "worker_offline",
        f"Worker {worker} offline",
        f"{worker} has sent no share for {silent_for:.0f} s.",
        ("warning",),
        {"worker": worker, "silent_for": silent_for},
    )


def upstream_failover(previous: str, current: str, reason: str) -> Notification:
    """The connection upstream moved from ``previous`` to ``current`` (or went down)."""
    return Notification(
        "upstream_failover",
        "Upstream failover",
        f"Upstream {previous} failed ({reason}); now using {current}.",
        ("rotating_light",),
        {"previous": previous, "current": current, "reason": reason},
    )


class Target(Protocol):
    """Somewhere a notification is POSTed."""

    @property
    def url(self) -> str:
        """Where it goes (for logs)."""

    async def send(self, session: aiohttp.ClientSession, note: Notification) -> None:
        """POST ``note``; raise on failure (the notifier logs it)."""


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """POST a JSON object to ``url``."""

    url: str

    async def send(self, session: aiohttp.ClientSession, note: Notification) -> None:
        """POST ``note`` as JSON."""
        body = {
            "event": note.kind,
            "title": note.title,
            "message": note.message,
            "data": dict(note.data),
        }
        async with session.post(self.url, json=body) as response:
            response.raise_for_status()


@dataclass(frozen=True, slots=True)
class NtfyTarget:
    """POST plain text to ``url/topic`` with ``Title`` and ``Tags`` headers (ntfy)."""

    url: str
    topic: str
    priority: str | None = None

    async def send(self, session: aiohttp.ClientSession, note: Notification) -> None:
        """POST ``note`` as text."""
        headers = {"Title": note.title}
        if note.tags:
            headers["Tags"] = ",".join(note.tags)
        if self.priority:
            headers["Priority"] = self.priority
        url = self.url.rstrip("/") + "/" + self.topic
        async with session.post(url, data=note.message.encode(), headers=headers) as response:
            response.raise_for_status()


class NotifySettings(Settings):
    """``[notify]``: where notifications go and which events are sent."""

    webhooks: list[str] = Field(default_factory=list, description="URLs that get JSON POSTs")
    ntfy_url: str = Field(default="https://ntfy.sh", description="ntfy server")
    ntfy_topics: list[str] = Field(default_factory=list, description="ntfy topics to POST to")
    events: list[EventKind] = Field(default_factory=lambda: list(ALL_EVENTS))
    worker_offline_after: float = Field(default=600.0, gt=0, description="seconds of silence")
    timeout: float = Field(default=10.0, gt=0, description="seconds per POST")

    def targets(self) -> list[Target]:
        """The configured targets."""
        out: list[Target] = [WebhookTarget(url) for url in self.webhooks]
        out.extend(NtfyTarget(self.ntfy_url, topic) for topic in self.ntfy_topics)
        return out


class Notifier:
    """Sends notifications to every target, in the background, never raising."""

    def __init__(
        self,
        targets: Sequence[Target],
        events: Sequence[EventKind] = ALL_EVENTS,
        timeout: float = 10.0,
    ) -> None:
        self.targets = list(targets)
        self.events = frozenset(events)
        self.timeout = timeout
        self.sent = 0
        self.failures = 0
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> Notifier:
        """A notifier for the ``[notify]`` table."""
        return cls(settings.targets(), settings.events, settings.timeout)

    def notify(self, note: Notification) -> None:
        """Send ``note`` in the background (if its kind is enabled and there are targets)."""
        if not self.targets or note.kind not in self.events:
            return
        task = asyncio.get_running_loop().create_task(self.send(note))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, note: Notification) -> None:
        """Send ``note`` to every target now; failures are logged and counted."""
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)
        session = self._session
        results = await asyncio.gather(
            *(target.send(session, note) for target in self.targets), return_exceptions=True
        )
        for target, result in zip(self.targets, results, strict=True):
            if isinstance(result, BaseException):
                self.failures += 1
                log.warning("notification to %s failed: %s", target.url, result or type(result))
            else:
                self.sent += 1

    async def close(self) -> None:
        """Wait briefly for notifications in flight, then close the HTTP session."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.timeout)
        if self._session is not None:
            await self._session.close()
