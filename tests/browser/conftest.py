"""Fixtures of the browser tests: one headless Debian chromium per module, driven by
selenium, against the served test ledger under uvicorn on 127.0.0.1 (see
:mod:`tests.browser.support`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from ledger.server.app import create_app
from tests.browser.support import CHROMEDRIVER, CHROMIUM, OPTIONS, Site, require_chromium
from tests.server.support import build_ledger, running_server


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    served = build_ledger(tmp_path_factory.mktemp("browser-ledger"))
    with running_server(create_app(served.config())) as url:
        yield Site(served, url)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    require_chromium()
    options = webdriver.ChromeOptions()
    for option in OPTIONS:
        options.add_argument(option)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.binary_location = str(CHROMIUM)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
