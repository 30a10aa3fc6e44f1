"""What the browser tests share: the app served by uvicorn on a free port, Debian's chromium."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking switches chromium keeps dialling Google on this closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 360, "height": 740}


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve `app` in a thread until the block ends; yields its base URL."""
    # Binding the socket here (port 0) avoids a race for the port with other test workers.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:  # waits for readiness, not a fixed delay
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright (never a downloaded browser); skips loudly without it."""
    if not CHROMIUM.exists():
        pytest.skip(f"!!! {CHROMIUM} IS MISSING: browser tests did NOT run (apt install chromium)")
    from playwright.sync_api import expect, sync_playwright

    # The suite shares two cores with everything else: a page that renders in 1 s alone can take
    # 10 s under load, and 5 s (Playwright's default) then fails a correct page.
    expect.set_options(timeout=30_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


# Links and controls that stand alone (not words inside a sentence), and the labels of radio
# buttons and check boxes: what a thumb has to hit. WCAG 2.5.5 asks for 44 x 44 CSS pixels.
_SMALL_TAP_TARGETS = """
(minimum) => {
  const targets = new Set(document.querySelectorAll(
    'header a, nav a, footer a, button, select, .button-link, .card__title a, ' +
    'input:not([type=hidden]):not([type=radio]):not([type=checkbox])'));
  for (const box of document.querySelectorAll('input[type=radio], input[type=checkbox]')) {
    targets.add(box.closest('label') || document.querySelector(`label[for="${box.id}"]`) || box);
  }
  const small = [];
  for (const element of targets) {
    const rect = element.getBoundingClientRect();
    if (rect.width === 0 || rect.bottom <= 0) continue;  // hidden, or a skip link off screen
    if (rect.height < minimum) {
      small.push(`${element.tagName.toLowerCase()} "${element.textContent.trim().slice(0, 30)}"`
                 + ` ${Math.round(rect.height)}px`);
    }
  }
  return small;
}
"""


def small_tap_targets(page: Any, minimum: int = 44) -> list[str]:
    """Links and controls of the page a thumb would miss: less than `minimum` px high."""
    return list(page.evaluate(_SMALL_TAP_TARGETS, minimum))
