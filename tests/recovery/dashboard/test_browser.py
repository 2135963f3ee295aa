"""The dashboard in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium against a uvicorn server on a free port, over a
temporary SQLite database seeded with a few cases.

One flow, as a user would go: sign in with a token, read the overview (its charts drawn by
plotly.js), open a case's timeline, save an invalid then a valid policy, start an experiment
and open its page.
Skipped where Chromium or its driver is missing, unless ``RECOVERY_TEST_BROWSER=required``
(``.ci/run`` installs both and sets it, so CI never skips it silently).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest

from recovery.app import create_app
from recovery.reports.policies import active_policy
from tests.recovery.dashboard.seed import OPEN_INVOICE

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver")

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
WAIT_SECONDS = 15
MISSING = "needs Chromium and chromedriver (apt-get install chromium chromium-driver)"


@pytest.fixture
def server_url(services, tokens):
    """The app served by uvicorn in a thread, until the test ends."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(services, run_worker=False), host="127.0.0.1",
                            port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser(tmp_path):
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("RECOVERY_TEST_BROWSER") == "required":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1000", "--no-first-run",
                     f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def wait_for(browser, css: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT_SECONDS).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def click_and_wait_for_the_next_page(browser, button) -> None:
    """Click, then wait until the page it was on is gone: the next page may carry an element
    the last one had too (a second save's "saved"), which must not be read off the old one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = browser.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(browser, WAIT_SECONDS).until(expected_conditions.staleness_of(page))


def replace_text(field, text: str) -> None:
    field.clear()
    field.send_keys(text)


def test_a_user_reads_the_overview_and_a_case_edits_the_policy_and_starts_an_experiment(
        browser, server_url, tokens, services):
    from selenium.webdriver.common.by import By

    browser.get(f"{server_url}/dashboard/")
    assert browser.current_url.endswith("/dashboard/login")
    replace_text(wait_for(browser, "#token"), tokens.owner)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()

    # The overview: headline figures, and charts plotly.js drew from the server's figures.
    assert wait_for(browser, "#rate-count").text == "33.3%"
    wait_for(browser, "#chart-curve .main-svg")
    wait_for(browser, "#chart-card_brand .main-svg")
    ticks = browser.find_elements(By.CSS_SELECTOR, "#chart-curve .xtick text")
    assert [tick.text for tick in ticks][:3] == ["0", "5", "10"]

    # A case's timeline, reached from the case list.
    browser.find_element(By.LINK_TEXT, "Cases").click()
    wait_for(browser, "#cases")
    browser.find_element(By.LINK_TEXT, OPEN_INVOICE).click()
    timeline = wait_for(browser, "#timeline")
    assert "insufficient_funds" in timeline.text
    assert "Your payment did not go through" in timeline.text
    browser.find_element(By.CSS_SELECTOR, ".explanation summary").click()
    assert "propensity 0.925" in browser.find_element(By.CSS_SELECTOR, ".explanation").text

    # An invalid policy shows its field errors; a valid one is saved.
    browser.find_element(By.LINK_TEXT, "Policies").click()
    replace_text(wait_for(browser, "#document"), '{"offsets_days": [9, 3], "timing": "often"}')
    browser.find_element(By.ID, "save-button").click()
    errors = wait_for(browser, "#field-errors").text
    assert "offsets_days: must increase" in errors and "timing: must be" in errors
    for document in ('{"offsets_days": [2, 6, 12]}', '{"timing": "smart"}'):
        replace_text(browser.find_element(By.ID, "document"), document)
        click_and_wait_for_the_next_page(browser, browser.find_element(By.ID, "save-button"))
        wait_for(browser, "#saved")
    assert "Saved as version 2" in browser.find_element(By.ID, "saved").text
    versions = browser.find_element(By.ID, "versions").text
    assert "token:" in versions and "Roll back to this" in versions
    stored = active_policy(services.sessions, account_id=services.settings.account_id)
    assert stored.version.number == 2 and stored.document["timing"] == "smart"

    # An experiment between the two versions, started from the experiments page.
    browser.find_element(By.LINK_TEXT, "Experiments").click()
    replace_text(wait_for(browser, "#experiment-name"), "weekly vs smart")
    replace_text(browser.find_element(By.ID, "experiment-control"), "1")
    replace_text(browser.find_element(By.ID, "experiment-treatment"), "2")
    browser.find_element(By.ID, "start-experiment").click()
    assert "is running" in wait_for(browser, "#done").text
    row = browser.find_element(By.CSS_SELECTOR, "#experiments tbody tr").text
    assert "weekly vs smart" in row and "running" in row

    # Its own page: the arms' table and their chart, drawn by plotly.js.
    browser.find_element(By.LINK_TEXT, "weekly vs smart").click()
    wait_for(browser, "#chart-arms .main-svg")
    assert "Recovered by amount" in browser.find_element(By.ID, "arms").text
    assert "Keep running" in browser.find_element(By.ID, "sequential").text
