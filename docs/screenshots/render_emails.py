"""Render the card-update email in English and German and screenshot it for the README.

    .venv/bin/python docs/screenshots/render_emails.py

Writes docs/screenshots/email-card-update-<lang>.html (not kept in git: made again on each run)
and, when a Chromium binary is on the PATH
(Debian: ``apt-get install -y chromium``), docs/email-card-update-<lang>.png taken with headless
Chromium. Without Chromium it writes the HTML only and says so.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from recovery.messaging.branding import Branding
from recovery.messaging.rendering import MessageContext, render

DOCS = Path(__file__).resolve().parent.parent
HERE = DOCS / "screenshots"
WINDOW = "680,660"  # wide enough for the 600 px layout, tall enough for the whole message
BRANDING = Branding(name="Northwind Analytics", primary_color="#1a56db",
                    accent_color="#0e9f6e", sender="billing@northwind.example",
                    reply_to="support@northwind.example")
CONTEXT = MessageContext(
    kind="card_update_request", customer_name="Jane Doe", amount=4900, currency="EUR",
    invoice_date=datetime(2025, 3, 5, 9, tzinfo=UTC), ends_at=None,
    card_brand="visa", card_last4="4242", card_exp=(2, 2025),
    pay_url="https://invoice.stripe.com/i/acct_example/inv_example",
    update_card_url="https://billing.stripe.com/p/session/example",
    unsubscribe_url="https://recovery.northwind.example/links/unsubscribe?t=example",
)


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


def screenshot(browser: str, page: Path, png: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={profile}", f"--window-size={WINDOW}",
             f"--screenshot={png}", page.as_uri()],
            check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )


def main() -> int:
    browser = chromium()
    for language in ("en", "de"):
        message = render(CONTEXT, BRANDING, [language])
        page = HERE / f"email-card-update-{language}.html"
        page.write_text(message.html, encoding="utf-8")
        print(f"wrote {page.relative_to(DOCS.parent)}  ({message.subject})")
        if browser:
            png = DOCS / f"email-card-update-{language}.png"
            screenshot(browser, page, png)
            print(f"wrote {png.relative_to(DOCS.parent)}")
    if not browser:
        print("no Chromium on the PATH: HTML only (apt-get install -y chromium)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
