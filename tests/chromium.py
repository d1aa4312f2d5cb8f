"""Debian's Chromium through Playwright, for the JupyterLab test and the book test.

Skipped with a reason on a person's machine without it; a failure in CI (``CI=true``).
"""

import contextlib
import os

import pytest

CHROMIUM = os.environ.get("GRADCLIP_CHROMIUM", "/usr/bin/chromium")  # Debian's; override to try another
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
INSTALL_HINT = "install Debian's Chromium with `sudo apt-get install chromium` to run the browser tests"
IN_CI = os.environ.get("CI", "").lower() == "true"


@contextlib.contextmanager
def launched_chromium():
    """A launched headless Chromium browser, closed afterwards (or the test skipped/failed, see above)."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pinned in requirements.txt
        missing = f"Playwright for Python is missing ({exc}); run `make test` to set up .venv"
    if missing is None and not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing = f"no Chromium at {CHROMIUM}: {INSTALL_HINT}"
    if missing:
        if IN_CI:
            pytest.fail(f"CI=true and the browser test cannot run: {missing}")
        pytest.skip(missing)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
