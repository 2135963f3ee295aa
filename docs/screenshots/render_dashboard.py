"""Screenshot the dashboard for the README, holding a sandbox run's real data.

    .venv/bin/python docs/screenshots/render_dashboard.py [--subscribers 2000] [--days 90]
                                                          [--seed 1] [--experiment default:smart]

(``make screenshots`` runs it.) Needs headless Chromium and its driver (Debian:
``apt-get install -y chromium chromium-driver``, or ``make browser-tools``) and the ``dev``
extra's Selenium. In a temporary folder, which goes when it ends, it:

1. runs ``recovery simulate --experiment CONTROL:TREATMENT --warmup-days 0 --keep-database``:
   one sandbox account with both policies as versions and an experiment between them from the
   first day, its database kept;
2. makes a read/write token for the sandbox's account (``recovery tokens create``);
3. serves the app against that database on a free local port (uvicorn, no worker: nothing
   changes the run's data while it is photographed);
4. signs in with headless Chromium through Selenium and saves, 1280 px wide and as tall as
   each page, once every plotly chart is drawn:
   docs/dashboard-overview.png (the overview over the whole run),
   docs/dashboard-case.png (the timeline of a recovered case of the treatment arm with several
   attempts and messages, one "why this time" opened, the learned scorer's if it has one) and
   docs/dashboard-experiment.png (the experiment's results).

Nothing else is written: the database, the secrets and the outbox stay in the temporary folder.
About a minute and a half on two busy cores, nearly all of it the simulation.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

DOCS = Path(__file__).resolve().parent.parent
WIDTH = 1280
WAIT_SECONDS = 30
# The overview's own choices of period, the shortest that holds the whole run is used.
PERIODS_DAYS = (7, 30, 90, 365)
# A case worth reading: recovered, on the treatment's arm, with at least this many charge
# attempts and messages (the one with the most, within reason, so the page stays readable).
CASE_ATTEMPTS = (3, 6)
CASE_MESSAGES = 2


def main() -> int:
    options = _arguments()
    chromium, chromedriver = _browser_binaries()
    with tempfile.TemporaryDirectory(prefix="dashboard-screenshots-") as folder:
        work = Path(folder)
        database = work / "sandbox.db"
        env = _environment(work)
        started = time.perf_counter()
        _simulate(options, database, env, work)
        print(f"simulated in {time.perf_counter() - started:.0f} s; database kept in {work}")
        token = _token(database, env, work)
        facts = _facts(database)
        with _served(database, work) as base_url:
            _photograph(base_url, token, facts, chromium, chromedriver, work)
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--experiment", default="default:smart", metavar="CONTROL:TREATMENT")
    return parser.parse_args()


def _browser_binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not (chromium and chromedriver):
        sys.exit("needs Chromium and chromedriver: apt-get install -y chromium chromium-driver")
    return chromium, chromedriver


def _environment(work: Path) -> dict[str, str]:
    """The commands' settings: every file they might write goes to the temporary folder."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECOVERY_")}
    env.update({
        "RECOVERY_SECRETS_KEY_PATH": str(work / "secrets.key"),
        "RECOVERY_LINK_SECRET_PATH": str(work / "link.secret"),
        "RECOVERY_SESSION_SECRET_PATH": str(work / "session.secret"),
        "RECOVERY_OUTBOX_DIR": str(work / "outbox"),
        "RECOVERY_LOG_LEVEL": "WARNING",
    })
    return env


def _recovery(args: list[str], env: dict[str, str], work: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "recovery", *args], env=env, cwd=work,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"recovery {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _simulate(options: argparse.Namespace, database: Path, env: dict[str, str],
              work: Path) -> None:
    print(f"simulating {options.experiment}: {options.subscribers} subscribers, {options.days} "
          f"days, seed {options.seed} ...", flush=True)
    # The command's own database (saved policies' names) is a scratch one; the run's is kept.
    output = _recovery([
        "simulate", "--experiment", options.experiment, "--subscribers",
        str(options.subscribers), "--days", str(options.days), "--warmup-days", "0",
        "--seed", str(options.seed), "--keep-database", str(database),
    ], {**env, "RECOVERY_DATABASE_URL": f"sqlite:///{work / 'scratch.db'}",
        "COLUMNS": "120"}, work)
    print(output)


def _token(database: Path, env: dict[str, str], work: Path) -> str:
    output = _recovery(["tokens", "create", "--name", "dashboard screenshots", "--scope",
                        "read", "--scope", "write"],
                       {**env, "RECOVERY_DATABASE_URL": f"sqlite:///{database}"}, work)
    return output.strip().splitlines()[-1]  # printed alone on the last line


def _facts(database: Path) -> dict:
    """What the pages to photograph are: the experiment, a case worth reading, and the period
    that holds the whole run."""
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        experiment_id = connection.execute(text("SELECT max(id) FROM experiment")).scalar_one()
        first_failure = connection.execute(
            text("SELECT min(first_failed_at) FROM recovery_case")).scalar_one()
        invoice = connection.execute(text("""
            SELECT c.stripe_invoice_id FROM recovery_case c
            JOIN experiment_assignment a ON a.account_id = c.account_id
                 AND a.stripe_customer_id = c.stripe_customer_id AND a.experiment_id = :experiment
            WHERE c.status = 'recovered' AND a.arm = 'treatment'
              AND (SELECT count(*) FROM charge_attempt t WHERE t.case_id = c.id)
                  BETWEEN :fewest AND :most
              AND (SELECT count(*) FROM message m WHERE m.case_id = c.id) >= :messages
            ORDER BY (SELECT count(*) FROM charge_attempt t WHERE t.case_id = c.id) DESC,
                     (SELECT count(*) FROM message m WHERE m.case_id = c.id) DESC, c.id
            LIMIT 1"""), {"experiment": experiment_id, "fewest": CASE_ATTEMPTS[0],
                          "most": CASE_ATTEMPTS[1], "messages": CASE_MESSAGES}).scalar()
    engine.dispose()
    if invoice is None:
        sys.exit("no recovered case with several attempts and messages: run a larger simulation")
    started = datetime.fromisoformat(str(first_failure)).replace(tzinfo=UTC)
    needed = (datetime.now(UTC) - started).days + 1
    days = next((n for n in PERIODS_DAYS if n >= needed), needed)
    return {"experiment_id": experiment_id, "invoice": invoice, "days": days}


@contextmanager
def _served(database: Path, work: Path):
    """The app against the kept database, in a thread, on a free port."""
    import uvicorn

    from recovery.app import create_app
    from recovery.runtime.settings import Settings
    from recovery.wiring import build_services

    settings = Settings(
        database_url=f"sqlite:///{database}", run_worker=False,
        session_secret=secrets.token_urlsafe(32), secrets_key_path=work / "secrets.key",
        link_secret_path=work / "link.secret", outbox_dir=work / "outbox", log_level="WARNING")
    services = build_services(settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(services, run_worker=False),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="dashboard-screenshots", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not server.started:
        if time.monotonic() > deadline:
            sys.exit("the app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        services.close()


def _photograph(base_url: str, token: str, facts: dict, chromium: str, chromedriver: str,
                work: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--hide-scrollbars", f"--window-size={WIDTH},900",
                     "--no-first-run", "--force-device-scale-factor=1",
                     f"--user-data-dir={work / 'chromium'}"):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options,
                               service=Service(executable_path=chromedriver))
    try:
        browser.get(f"{base_url}/dashboard/login")
        _wait(browser, "#token").send_keys(token)
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        _wait(browser, "#headline")
        browser.get(f"{base_url}/dashboard/?days={facts['days']}&within=30")
        _save(browser, "dashboard-overview.png")
        browser.get(f"{base_url}/dashboard/cases/{facts['invoice']}")
        _wait(browser, "#timeline")
        # Open one "why this time": the learned scorer's, when it chose a time on this case.
        reasons = browser.find_elements(By.CSS_SELECTOR, ".explanation summary")
        learned = [reason for reason in reasons if "learned scorer" in reason.text]
        if reasons:
            (learned or reasons)[0].click()
        _save(browser, "dashboard-case.png")
        browser.get(f"{base_url}/dashboard/experiments/{facts['experiment_id']}")
        _save(browser, "dashboard-experiment.png")
    finally:
        browser.quit()


def _wait(browser, css: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT_SECONDS).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def _charts_drawn(browser) -> None:
    """Every chart on the page has its plotly SVG (drawn again after a resize)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, WAIT_SECONDS).until(lambda b: b.execute_script(
        "const charts = document.querySelectorAll('[data-figure]');"
        "return [...charts].every(c => c.querySelector('.main-svg'));"))


def _save(browser, name: str) -> None:
    """The whole page: the viewport made as tall as the page (the window's height would count
    the browser's own bars), the charts drawn at that size, plotly's hover toolbar hidden."""
    _wait(browser, "main")
    _charts_drawn(browser)
    browser.execute_script(
        "document.head.insertAdjacentHTML('beforeend',"
        " '<style>.modebar-container { display: none !important; }</style>')")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False})
    time.sleep(0.5)  # plotly redraws its responsive charts after the resize
    _charts_drawn(browser)
    png = DOCS / name
    browser.save_screenshot(str(png))
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    print(f"wrote {png.relative_to(DOCS.parent)} ({WIDTH} x {height})")


if __name__ == "__main__":
    sys.exit(main())
