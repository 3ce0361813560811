"""The dashboard in a real headless Chromium shows the demo's live data: a block found
appears in the blocks table, the workers and the template fill in, nothing is fetched from
another origin, and the page reports no script error."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="Playwright for Python is not installed (pip install playwright)"
)


async def test_dashboard_shows_a_found_block(
    tmp_path: Path, chromium_path: str, chromium_args: list[str]
) -> None:
    exe = Path(sys.executable).with_name("sv2")
    proc = await asyncio.create_subprocess_exec(
        str(exe), "demo", "--datadir", str(tmp_path / "demo"), "--duration", "150",
        "--listen", "127.0.0.1:0", "--sv2-listen", "127.0.0.1:0", "--dashboard", "127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        dashboard = None
        async with asyncio.timeout(60):
            while dashboard is None:
                line = (await proc.stdout.readline()).decode()
                assert line, "sv2 demo exited:\n" + "".join(lines)
                lines.append(line)
                if m := re.match(r"dashboard: (http://\S+)", line):
                    dashboard = m.group(1)
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_path, args=chromium_args)
            try:
                page = await browser.new_page()
                foreign: list[str] = []
                errors: list[str] = []
                page.on(
                    "request",
                    lambda r: foreign.append(r.url) if not r.url.startswith(dashboard) else None,
                )
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(dashboard)
                # the page polls /api/all: wait until a found block is listed as accepted
                row = page.locator("#blocks tbody tr", has_text="accepted")
                await row.first.wait_for(timeout=90_000)
                block_hash = (await row.first.locator("td.hash").inner_text()).strip()
                assert re.fullmatch(r"[0-9a-f]{64}", block_hash)
                async with asyncio.timeout(30):  # the terminal printed the same block
                    while not any(block_hash in line for line in lines):
                        line = (await proc.stdout.readline()).decode()
                        assert line, "sv2 demo exited"
                        lines.append(line)
                found = next(line for line in lines if block_hash in line)
                assert found.startswith("block found: height=")
                height = re.search(r"height=(\d+)", found)
                assert height is not None
                assert await row.first.locator("td").first.inner_text() == height.group(1)
                worker = re.search(r"worker=(\S+)", found)
                assert worker is not None  # the miner that found it is listed with its shares
                workers = await page.locator("#workers tbody").inner_text()
                assert worker.group(1) in workers, workers
                assert int(await page.locator("#height").inner_text()) > int(height.group(1)) - 1
                template = await page.locator("#template").inner_text()
                assert "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080" in template
                assert await page.locator("#chart polyline").count() == 1
                connect = await page.locator("#connect").inner_text()
                assert "stratum+tcp://127.0.0.1:" in connect
                assert foreign == [] and errors == []
                await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            finally:
                await browser.close()
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
