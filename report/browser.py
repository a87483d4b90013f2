"""Open a report page in headless Chromium (Debian's package, driven by Playwright) and record what it shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}


@dataclass(frozen=True)
class PageCheck:
    console: list[tuple[str, str]] = field(default_factory=list)
    """(type, text) of every console message."""
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    """Every URL the page requested other than itself and data: URIs (a self-contained page requests none)."""
    plot_sizes: dict[str, tuple[float, float]] = field(default_factory=dict)
    """figure id → rendered (width, height) of its <svg> in CSS pixels."""
    images: list[tuple[int, int]] = field(default_factory=list)
    """(naturalWidth, naturalHeight) of every <img>: (0, 0) when it failed to decode."""


def check_page(html_path: Path, screenshot: Path | None = None) -> PageCheck:
    """Load `html_path` from file://, wait for it to settle, measure plots and images; a full-page PNG is written
    to `screenshot` when given."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (a development dependency)

    url = html_path.resolve().as_uri()
    check = PageCheck()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("console", lambda m: check.console.append((m.type, m.text)))
            page.on("pageerror", lambda e: check.page_errors.append(str(e)))
            page.on("request", lambda r: None if r.url == url or r.url.startswith("data:")
                    else check.requests.append(r.url))
            page.goto(url, wait_until="load")
            for figure in page.locator("figure.plot").all():
                box = figure.locator("svg").first.bounding_box()
                check.plot_sizes[figure.get_attribute("id")] = (box["width"], box["height"]) if box else (0, 0)
            check.images.extend(tuple(size) for size in page.eval_on_selector_all(
                "img", "els => els.map(e => [e.naturalWidth, e.naturalHeight])"))
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return check
