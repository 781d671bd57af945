"""Browser test support: chromium's options, the served site, logging in, screenshots.

Without chromium or chromedriver the tests are skipped, except under CI (``CI`` set), whose
``.ci/run`` installs them and so fails instead. Screenshots go to
``test-artifacts/screenshots/`` (ignored by git), for a person to look at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.server.support import Served, signed_client

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
OPTIONS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1600",
)


def require_chromium() -> None:
    """Skip when chromium or chromedriver is missing; fail instead under CI."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    message = (
        f"{' and '.join(missing)} not installed (Debian: apt-get install chromium chromium-driver)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must install them rather than skip", pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class Site:
    """The served ledger and the running server's base URL."""

    served: Served
    url: str

    def token(self, label: str) -> str:
        """A token for ``label``'s key, obtained by a request signed with it."""
        with signed_client(self.served.signer(label), base_url=self.url) as client:
            answer = client.post("/v1/auth/token")
            answer.raise_for_status()
            return str(answer.json()["token"])


def screenshot(driver: WebDriver, name: str) -> Path:
    """The whole page as ``test-artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(int(height), 800), 6000))
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1600)
    return path


def wait_for(driver: WebDriver, path: str) -> None:
    """Until the browser shows ``path`` of the site (after a redirect or a form)."""
    WebDriverWait(driver, 10).until(
        lambda d: d.current_url.split("?")[0].rstrip("/").endswith(path.rstrip("/"))
    )
    WebDriverWait(driver, 10).until(
        expected_conditions.presence_of_element_located((By.TAG_NAME, "main"))
    )


def log_in(driver: WebDriver, site: Site, label: str) -> None:
    """Paste ``label``'s token into the log-in form, as a person would."""
    driver.delete_all_cookies()
    driver.get(site.url + "/login")
    driver.find_element(By.ID, "token").send_keys(site.token(label))
    driver.find_element(By.ID, "login-submit").click()
    WebDriverWait(driver, 10).until(
        expected_conditions.presence_of_element_located((By.ID, "caller"))
    )
