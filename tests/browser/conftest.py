import os
import tempfile
from pathlib import Path

import pytest

from tests import services


@pytest.fixture
def browser():
    """Headless Debian Chromium driven by Debian's chromedriver (no browser download)."""
    paths = services.chromium_paths()
    services.need(paths is not None, "chromium and chromedriver (apt-get install chromium "
                                     "chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=390,844",
                 "--lang=en-US"):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(paths[1]), options=options)
        driver.set_page_load_timeout(30)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture
def screenshot(browser):
    """Save a screenshot when SCREENSHOT_DIR is set (used to review pages by eye)."""
    folder = os.environ.get("SCREENSHOT_DIR")

    def take(name: str) -> None:
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(Path(folder) / f"{name}.png"))

    return take
