"""Headless Debian Chromium driven by Selenium through Debian's chromedriver.

Selenium never downloads a browser here: Chromium and chromedriver are Debian's
(`apt-get install chromium chromium-driver`); outside CI a machine without them skips.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.support.requirements import missing

PAGE_LOAD_TIMEOUT_S = 30.0
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,800",
]


def chromium(profile: Path, extra_flags: tuple[str, ...] = ()) -> Any:
    """A new headless Chromium with a fresh profile in `profile`; the caller quits it."""
    binary, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or chromedriver is None:
        missing("Chromium", "apt-get install chromium chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("Selenium", "pip install selenium")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in [*CHROMIUM_FLAGS, *extra_flags, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
    return driver
