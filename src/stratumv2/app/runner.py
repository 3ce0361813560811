"""Run a role's main coroutine so that SIGTERM and SIGINT stop it cleanly.

``asyncio.run`` alone turns Ctrl-C into KeyboardInterrupt but lets SIGTERM (systemd, docker,
``kill``) end the process without closing connections or flushing the store; and a process
started in the background by a non-interactive shell ignores SIGINT altogether. Here both
signals cancel the main task, so every ``finally`` block of the role runs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("stratumv2.app")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_until_signalled(main: Coroutine[Any, Any, T]) -> T | None:
    """``asyncio.run(main)``; SIGINT or SIGTERM cancel it and make it return None."""

    async def _guarded() -> T | None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        received: list[signal.Signals] = []

        def _stop(signum: signal.Signals) -> None:
            if not received:
                log.info("received %s: stopping", signum.name)
            received.append(signum)
            task.cancel()

        installed = []
        for signum in _SIGNALS:
            try:
                loop.add_signal_handler(signum, _stop, signum)
                installed.append(signum)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread (tests) or no signal support: keep the defaults
        try:
            return await main
        except asyncio.CancelledError:
            if received:
                return None
            raise
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)

    return asyncio.run(_guarded())
