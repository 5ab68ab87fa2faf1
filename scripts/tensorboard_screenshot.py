"""Produces docs/tensorboard.png, the README's picture of the demo in
TensorBoard: runs the demo (unless --log-dir holds its logs already), serves
the logs with a real TensorBoard, opens the custom-scalars dashboard in
headless Chromium (Debian's `chromium` package, driven by Playwright), puts
the gradient charts on a log scale and takes the screenshot.

Needs: apt-get install chromium; .venv/bin/pip install playwright
(Playwright drives the system Chromium; it downloads no browser).

    .venv/bin/python scripts/tensorboard_screenshot.py [--log-dir DIR] [--out docs/tensorboard.png]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from dashboard_browser import CHROMIUM, CHROMIUM_FLAGS
from tensorboard_server import serve_tensorboard

LOG_SCALE_CHARTS = 2  # gradient norm, relative gradient


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-dir", default="trainwatch_logs")
    parser.add_argument(
        "--out", default=os.path.join("docs", "tensorboard.png")
    )
    parser.add_argument(
        "--runs",
        default="vanishing/",
        help="regex of the runs to show (default: %(default)s)",
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        sys.exit("Needs Chromium: apt-get install chromium")
    if not os.path.isdir(os.path.join(args.log_dir, "vanishing")):
        from keras_trainwatch.cli.demo import run_demo

        run_demo(log_dir=args.log_dir)
    expected = (
        "vanishing/broken/gradient_watch",
        "vanishing/fixed/gradient_watch",
    )
    with (
        serve_tensorboard(args.log_dir, expected_runs=expected) as base,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS
        )
        page = browser.new_page(viewport={"width": 1500, "height": 780})
        page.goto(f"{base}/#custom_scalars&regexInput={args.runs}")
        toggles = page.locator(
            'paper-icon-button[title="Toggle y-axis log scale"]'
        )
        toggles.first.wait_for(timeout=60_000)
        page.wait_for_timeout(3000)  # let the charts load their data
        for i in range(LOG_SCALE_CHARTS):
            toggles.nth(i).click()
        page.wait_for_timeout(2000)
        page.screenshot(path=args.out)
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
