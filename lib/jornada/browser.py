"""Open saved maps in headless Chromium with no network: screenshots and the browser tests.

Playwright (PyPI) drives Debian's Chromium (``apt-get install chromium``, ``make system-deps``);
Playwright's own browser downloads are never used. Every request that is not a local file is
blocked (and recorded), and host names do not resolve, so a page that draws here draws offline.

* :func:`screenshot` — a PNG of a saved HTML map (the course runner can call it for every map);
* :func:`offline_page` — a context manager yielding an :class:`OfflinePage` (the Playwright page,
  the blocked requests and the page's JavaScript errors), which the browser tests use.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator

CHROMIUM_ENV = "JORNADA_CHROMIUM"
CHROMIUM = "/usr/bin/chromium"
FIX = "run `make system-deps web-assets`"
VIEWPORT = (1280, 860)
_LOCAL = ("file:", "data:", "blob:", "about:")


class BrowserUnavailable(RuntimeError):
    """Chromium or Playwright is missing; the message says how to install them."""


def chromium_path() -> str:
    """The Chromium executable (``$JORNADA_CHROMIUM`` or /usr/bin/chromium), or BrowserUnavailable."""
    path = os.environ.get(CHROMIUM_ENV) or CHROMIUM
    found = path if os.path.isfile(path) and os.access(path, os.X_OK) else shutil.which(path)
    if not found:
        raise BrowserUnavailable(f"Chromium not found at {path}: {FIX} (Debian package chromium)")
    return found


def _sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the pin is in requirements.txt
        raise BrowserUnavailable(f"the playwright package is not installed ({exc}): "
                                 "pip install -r requirements.txt") from exc
    return sync_playwright


# what is drawn now: markers, dots, and whether Leaflet or markercluster is mid-animation
_DRAWN_JS = """() => [document.querySelectorAll('.leaflet-marker-icon').length,
  document.querySelectorAll('path').length,
  document.querySelector('.leaflet-zoom-anim, .leaflet-cluster-anim') ? 'animating' : 'still'].join(' ')"""


@dataclass
class OfflinePage:
    """A Playwright page that can load nothing but local files."""

    page: object
    blocked: list[str] = field(default_factory=list)   # URLs of the requests that were refused
    errors: list[str] = field(default_factory=list)    # uncaught JavaScript errors

    def open(self, html_path: str | Path, settle_ms: int = 400, timeout_ms: int = 15_000) -> None:
        """Load a saved map from file:// and wait until Leaflet has drawn it and its markers
        stopped changing: during a zoom or cluster animation the old and the new cluster icons
        are both in the page, and whatever counts them then sees orders twice."""
        self.page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
        self.page.wait_for_selector(".leaflet-container", state="attached", timeout=timeout_ms)
        self.page.wait_for_timeout(settle_ms)  # blocked tiles and marker clusters settle
        last, waited = None, 0
        while waited < timeout_ms:
            now = self.page.evaluate(_DRAWN_JS)
            if now == last and not now.endswith("animating"):
                return
            last, waited = now, waited + 250
            self.page.wait_for_timeout(250)


@contextmanager
def offline_page(width: int = VIEWPORT[0], height: int = VIEWPORT[1]) -> Iterator[OfflinePage]:
    """Headless Chromium with every non-file request blocked; yields an :class:`OfflinePage`."""
    executable = chromium_path()
    with _sync_playwright()() as pw:
        browser = pw.chromium.launch(
            executable_path=executable, headless=True,
            # no name resolves, so nothing could leave the machine even past the router below
            args=["--host-resolver-rules=MAP * ~NOTFOUND", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-gpu",
                  "--disable-dev-shm-usage"])
        try:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          service_workers="block", device_scale_factor=1)
            result = OfflinePage(page=None)

            def route(r):
                if r.request.url.startswith(_LOCAL):
                    r.continue_()
                else:
                    result.blocked.append(r.request.url)
                    r.abort("internetdisconnected")

            context.route("**/*", route)
            page = context.new_page()
            page.on("pageerror", lambda exc: result.errors.append(str(exc)))
            result.page = page
            yield result
        finally:
            browser.close()


def screenshot(html_path: str | Path, png_path: str | Path | None = None, *,
               width: int = VIEWPORT[0], height: int = VIEWPORT[1]) -> Path:
    """Open ``html_path`` offline in headless Chromium and save a PNG of it.

    ``png_path`` defaults to the HTML path with ``.png``. Returns the PNG path. Raises
    :class:`BrowserUnavailable` (with the fix) when Chromium or Playwright is missing. Works from
    a Jupyter kernel or inside another Playwright session too (it then runs in a worker thread,
    since Playwright's sync API refuses a thread with a running asyncio loop).
    """
    html_path = Path(html_path)
    png = Path(png_path) if png_path is not None else html_path.with_suffix(".png")
    chromium_path()  # fail early, with the fix

    def shoot() -> Path:
        png.parent.mkdir(parents=True, exist_ok=True)
        with offline_page(width, height) as op:
            op.open(html_path)
            op.page.screenshot(path=str(png))
        return png

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return shoot()
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(shoot).result()
