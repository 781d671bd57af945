"""The monitor's pages in a real browser (headless chromium): logging in with a token, the
redirect without one, who sees which subjects, the audit trail's filters and CSV link, the
as-of control around a correction, and a screenshot of every page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from tests.browser.support import Site, log_in, screenshot, wait_for
from tests.server.support import SUBJECTS

SUBJECT = "MC0282-001-017"  # a serum M-protein of 3.1 corrected to 3.0


def listed(browser: WebDriver) -> set[str]:
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.subject")
    return {row.get_attribute("data-subject") or "" for row in rows}


def lab_values(browser: WebDriver) -> list[str]:
    cells = browser.find_elements(By.CSS_SELECTOR, "#labs tr.lab-row .lab-value")
    return [cell.text for cell in cells]


def test_without_a_token_every_page_redirects_to_login(browser: WebDriver, site: Site) -> None:
    browser.delete_all_cookies()
    for path in ("/", f"/subjects/{SUBJECT}", "/audit"):
        browser.get(site.url + path)
        wait_for(browser, "/login")
        assert browser.find_elements(By.ID, "caller") == []
    assert browser.find_element(By.ID, "login-form").is_displayed()
    screenshot(browser, "login")


def test_a_pasted_token_logs_in_and_every_page_loads(browser: WebDriver, site: Site) -> None:
    log_in(browser, site, "monitor")
    wait_for(browser, "/")
    assert "Mona Monitor (monitor" in browser.find_element(By.ID, "caller").text
    assert browser.find_element(By.ID, "covered").text.startswith("yes")
    screenshot(browser, "subjects-monitor")
    browser.find_element(By.LINK_TEXT, SUBJECT).click()
    wait_for(browser, f"/subjects/{SUBJECT}")
    timeline = browser.find_element(By.ID, "timeline")
    assert timeline.find_elements(By.CSS_SELECTOR, "rect.segment.r-induction")
    assert timeline.find_elements(By.CSS_SELECTOR, "circle.point")
    screenshot(browser, "subject")
    browser.find_element(By.ID, "nav-audit").click()
    wait_for(browser, "/audit")
    assert browser.find_elements(By.CSS_SELECTOR, "tr.audit-row")
    screenshot(browser, "audit")


def test_the_monitor_sees_every_site_and_a_coordinator_only_theirs(
    browser: WebDriver, site: Site
) -> None:
    log_in(browser, site, "monitor")
    assert listed(browser) == {s for subjects in SUBJECTS.values() for s in subjects}
    log_in(browser, site, "coordinator-001")
    assert listed(browser) == set(SUBJECTS["001"])
    assert browser.find_elements(By.ID, "site-002") == []
    screenshot(browser, "subjects-coordinator-001")


def test_an_audit_filter_changes_the_rows_and_the_csv_link_carries_it(
    browser: WebDriver, site: Site
) -> None:
    log_in(browser, site, "monitor")
    browser.get(site.url + "/audit")
    every = browser.find_elements(By.CSS_SELECTOR, "tr.audit-row")
    browser.find_element(By.ID, "f-subject").send_keys(SUBJECT)
    Select(browser.find_element(By.ID, "f-type")).select_by_value("CorrectionRecorded")
    old_page = browser.find_element(By.TAG_NAME, "main")
    browser.find_element(By.ID, "audit-submit").click()
    WebDriverWait(browser, 10).until(expected_conditions.staleness_of(old_page))
    wait_for(browser, "/audit")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.audit-row")
    assert 0 < len(rows) < len(every)
    assert {r.get_attribute("data-type") for r in rows} == {"CorrectionRecorded"}
    assert {r.get_attribute("data-subject") for r in rows} == {SUBJECT}
    href = browser.find_element(By.ID, "csv-link").get_attribute("href") or ""
    query = parse_qs(urlsplit(href).query)
    assert query == {"subject": [SUBJECT], "type": ["CorrectionRecorded"], "format": ["csv"]}
    screenshot(browser, "audit-filtered")


def test_the_as_of_position_before_the_correction_shows_the_value_then_recorded(
    browser: WebDriver, site: Site
) -> None:
    log_in(browser, site, "monitor")
    browser.get(f"{site.url}/subjects/{SUBJECT}")
    (correction,) = browser.find_elements(By.CSS_SELECTOR, "#corrections tr.correction-row")
    position, _corrects, _field, old, new, *_ = (
        c.text for c in correction.find_elements(By.TAG_NAME, "td")
    )
    assert lab_values(browser) == [f"{new} g/dL"]
    form = browser.find_element(By.ID, "position")
    form.send_keys(str(int(position) - 1))
    old_page = browser.find_element(By.TAG_NAME, "main")
    browser.find_element(By.ID, "as-of-submit").click()
    WebDriverWait(browser, 10).until(expected_conditions.staleness_of(old_page))
    wait_for(browser, f"/subjects/{SUBJECT}")
    assert browser.find_element(By.ID, "as-of-position").text == str(int(position) - 1)
    assert lab_values(browser) == [f"{old} g/dL"]
    assert browser.find_elements(By.CSS_SELECTOR, "#corrections tr.correction-row") == []
    screenshot(browser, "subject-before-correction")
    old_page = browser.find_element(By.TAG_NAME, "main")
    browser.find_element(By.ID, "as-of-now").click()
    WebDriverWait(browser, 10).until(expected_conditions.staleness_of(old_page))
    wait_for(browser, f"/subjects/{SUBJECT}")
    assert lab_values(browser) == [f"{new} g/dL"]


def test_logging_out_ends_the_session(browser: WebDriver, site: Site) -> None:
    log_in(browser, site, "auditor")
    browser.find_element(By.ID, "logout").click()
    wait_for(browser, "/login")
    browser.get(site.url + "/")
    wait_for(browser, "/login")
