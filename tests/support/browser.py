"""Chromium for the browser tests: Debian's package at /usr/bin/chromium (Playwright cannot download its own builds
here), driven by Playwright's async API in the test's event loop. Missing chromium or playwright skips the tests with a
loud reason (and a warning in the summary): never a silent pass."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
INSTALL = "install it with `apt-get install -y chromium` (.ci/run does) and `pip install -e '.[dev]'` (playwright)"


def _missing(what: str) -> None:
    reason = f"BROWSER TESTS NOT RUN: {what}; {INSTALL}"
    warnings.warn(reason, stacklevel=2)
    pytest.skip(reason)


def _check_installed() -> None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        _missing("the `playwright` package is not installed")
    if not os.path.exists(CHROMIUM):
        _missing(f"no chromium at {CHROMIUM}")


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A launched headless Chromium (a Playwright Browser)."""
    _check_installed()
    from playwright.async_api import async_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses to sandbox as root
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield browser
        finally:
            await browser.close()
