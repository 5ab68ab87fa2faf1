"""Opening the trainwatch TensorBoard dashboard in headless Chromium (Debian's
package, driven by Playwright, which downloads no browser)."""

from __future__ import annotations

import contextlib
import shutil

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Without the networking flags Chromium keeps trying to reach Google's
# services, which a closed network refuses.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def open_dashboard(
    base_url: str, width: int = 1400, height: int = 1100, query: str = ""
):
    """Yields `(page, frame)`: the TensorBoard page on the trainwatch tab and
    the dashboard's frame, once its first run has loaded. `query` (e.g.
    `"trainwatch_run=name"`) goes into the page's URL."""
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        raise RuntimeError("Needs Chromium: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            search = f"?{query}" if query else ""
            page.goto(f"{base_url}/{search}#trainwatch", timeout=60_000)
            frame = page.frame_locator("iframe")
            frame.locator("body[data-loaded]").wait_for(timeout=120_000)
            yield page, frame
        finally:
            browser.close()
