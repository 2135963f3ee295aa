"""Customer-message rendering: every kind in every locale against committed text snapshots, HTML
escaping, Babel amounts and dates per locale, locale choice, branding validation, and that no
card detail but brand and last4 ever reaches a message.

Snapshots: ``snapshots/<kind>.<locale>.txt`` hold the subject and the plain-text part. After an
intended change to a template or a catalog, regenerate them and review the diff::

    RECOVERY_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest -q -p no:cacheprovider \\
        tests/recovery/messaging/test_rendering.py
"""

from __future__ import annotations

import dataclasses
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jinja2 import meta

from recovery.errors import PolicyError
from recovery.messaging import rendering
from recovery.messaging.branding import Branding
from recovery.messaging.catalogs import LOCALE_DIR, read_catalog, template_messages
from recovery.messaging.rendering import (
    KINDS,
    LOCALES,
    MessageContext,
    OfferView,
    RenderedMessage,
    format_amount,
    pick_locale,
    render,
)

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("RECOVERY_UPDATE_SNAPSHOTS") == "1"
BRANDING = Branding(name="Acme Cloud", sender="billing@acme.example",
                    reply_to="help@acme.example")
FULL_NUMBER = "4242424242424242"


def context(kind: str, **changes) -> MessageContext:
    offers = {
        "reminder": OfferView("discount", 20, 3, "https://acme.example/links/offer?t=tok-offer"),
        "final_notice": OfferView("pause", 0, 2, "https://acme.example/links/offer?t=tok-pause"),
    }
    values = dict(
        kind=kind, customer_name="Jane Doe", amount=4999, currency="EUR",
        invoice_date=datetime(2025, 3, 5, 10, tzinfo=UTC),
        ends_at=datetime(2025, 4, 2, 10, tzinfo=UTC),
        paid_at=datetime(2025, 3, 9, 10, tzinfo=UTC), invoice_number="ACME-0042",
        card_brand="visa", card_last4="4242", card_exp=(8, 2027),
        pay_url="https://invoice.stripe.com/i/acct_1/test_inv",
        update_card_url="https://billing.stripe.com/p/session/test_card",
        unsubscribe_url="https://acme.example/links/unsubscribe?t=tok-unsub",
        offer=offers.get(kind),
    )
    values.update(changes)
    return MessageContext(**values)


def snapshot_text(message: RenderedMessage) -> str:
    return f"Subject: {message.subject}\n\n{message.text}"


# --- every kind in every locale ------------------------------------------------------------

@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_in_every_locale_as_its_snapshot(kind, locale):
    message = render(context(kind), BRANDING, [locale])
    assert message.locale == locale
    assert f'<html lang="{locale}">' in message.html
    path = SNAPSHOTS / f"{kind}.{locale}.txt"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(snapshot_text(message), encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}: run with RECOVERY_UPDATE_SNAPSHOTS=1"
    assert snapshot_text(message) == path.read_text(encoding="utf-8")


def test_there_is_no_snapshot_of_a_kind_or_locale_that_does_not_exist():
    expected = {f"{kind}.{locale}.txt" for kind in KINDS for locale in LOCALES}
    assert {path.name for path in SNAPSHOTS.glob("*.txt")} == expected


def test_catalogs_translate_every_template_string_with_the_same_placeholders():
    wanted = template_messages()
    assert len(wanted) > 30
    template_ids = {message if isinstance(message, str) else message[0] for message in wanted}
    for language in ("de", "fr", "es"):
        catalog = read_catalog(language)
        by_id = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog if m.id}
        missing = sorted(i for i in template_ids
                         if i not in by_id or by_id[i].fuzzy or not all(_strings(by_id[i])))
        assert not missing, f"{language}: untranslated {missing}"
        for message in by_id.values():
            assert not list(message.check(catalog)), (language, message.id)
            for string in _strings(message):  # the same %(name)s placeholders as the msgid
                assert _placeholders(string) == _placeholders(message.id), (language, string)


def test_the_template_catalog_is_up_to_date_with_the_templates():
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / "messages.pot").open("rb") as pot:
        catalog_ids = {m.id if isinstance(m.id, str) else tuple(m.id)
                       for m in read_po(pot) if m.id}
    assert catalog_ids == template_messages()


# --- escaping and what may be shown -------------------------------------------------------

def test_html_escapes_the_customer_name_and_the_text_keeps_it_verbatim():
    name = "Jane <script>alert('x')</script> & Co"
    message = render(context("payment_failed", customer_name=name),
                     Branding(name="Tom & Jerry's <b>"), ["en"])
    assert "<script>" not in message.html
    assert "Jane &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co" in message.html
    assert "Tom &amp; Jerry&#39;s &lt;b&gt;" in message.html
    assert f"Hi {name}," in message.text
    assert "<b>" not in message.html.replace("<body", "")


def test_templates_see_only_display_values():
    """The templates can name nothing but the values render() prepares: the card reaches them
    as a brand-and-last4 label and an expiry month, never as a payment method."""
    env = rendering._environment("en")
    values = rendering._template_values(context("reminder"), BRANDING, rendering.Locale("en"))
    allowed = set(values) | {"subject", "lang", "m", "_", "gettext", "ngettext"}
    for name in env.list_templates():
        source = env.loader.get_source(env, name)[0]
        used = meta.find_undeclared_variables(env.parse(source))
        assert used <= allowed, (name, used - allowed)
    assert values["card"] == "Visa •••• 4242"
    assert not {"fingerprint", "payment_method", "number"} & set(values)


@pytest.mark.parametrize("kind", KINDS)
def test_a_full_card_number_passed_as_last4_is_never_shown(kind):
    message = render(context(kind, card_last4=FULL_NUMBER), BRANDING, ["en"])
    for part in (message.subject, message.text, message.html):
        assert FULL_NUMBER not in part
        assert "•••• 4242" not in part


def test_unknown_card_brand_shows_only_the_last4():
    message = render(context("card_update_request", card_brand="unknown"), BRANDING, ["en"])
    assert "Card: •••• 4242\n" in message.text


def test_no_unsubscribe_line_without_an_unsubscribe_link():
    message = render(context("payment_failed", unsubscribe_url=None), BRANDING, ["de"])
    assert "abbestellen" not in message.text
    assert "abbestellen" not in message.html
    with_link = render(context("payment_failed"), BRANDING, ["de"])
    assert ('<a href="https://acme.example/links/unsubscribe?t=tok-unsub"'
            in with_link.html)


def test_branding_reaches_the_html():
    branding = Branding(name="Acme", logo_url="https://acme.example/logo.png",
                        primary_color="#fde047", accent_color="#7c3aed",
                        sender="billing@acme.example")
    html = render(context("reminder"), branding, ["en"]).html
    assert '<img src="https://acme.example/logo.png" alt="Acme"' in html
    assert "background:#fde047" in html
    assert "border:2px solid #7c3aed" in html
    # A light brand colour gets dark button text, a dark one white.
    assert "color:#111827;text-decoration:none" in html
    assert "color:#ffffff;text-decoration:none" in render(context("reminder"), BRANDING,
                                                          ["en"]).html


def test_offer_plural_forms_follow_the_number_of_months():
    one = OfferView("discount", 15, 1, "https://acme.example/o?t=1")
    assert "15% off for 1 month." in render(context("reminder", offer=one), BRANDING,
                                            ["en"]).text
    assert "für 1 Monat." in render(context("reminder", offer=one), BRANDING, ["de"]).text
    pause = OfferView("pause", 0, 3, "https://acme.example/o?t=2")
    assert "pause pendant 3 mois" in render(context("final_notice", offer=pause), BRANDING,
                                            ["fr"]).text
    without = render(context("reminder", offer=None), BRANDING, ["en"])
    assert "offer" not in without.text.lower()


# --- amounts and dates --------------------------------------------------------------------

@pytest.mark.parametrize(("amount", "currency", "locale", "expected"), [
    (1500, "JPY", "en", "¥1,500"),
    (1500, "JPY", "de", "1.500\xa0¥"),
    (1500, "JPY", "fr", "1\u202f500\xa0JPY"),
    (123456, "EUR", "en", "€1,234.56"),
    (123456, "EUR", "de", "1.234,56\xa0€"),
    (123456, "EUR", "fr", "1\u202f234,56\xa0€"),
    (123456, "EUR", "es", "1.234,56\xa0€"),
    (1234, "KWD", "en", "KWD1.234"),  # three decimals
    (5, "usd", "en", "$0.05"),
])
def test_amounts_are_minor_units_formatted_per_currency_and_locale(amount, currency, locale,
                                                                    expected):
    assert format_amount(amount, currency, locale) == expected


def test_a_yen_amount_in_a_german_message():
    message = render(context("payment_failed", amount=1500, currency="JPY"), BRANDING,
                     ["de-DE"])
    assert "Zahlung von 1.500\xa0¥ für Acme Cloud" in message.text


def test_dates_follow_the_locale_region_and_the_customer_timezone():
    late = datetime(2025, 3, 5, 23, 30, tzinfo=UTC)
    assert "Invoice date: March 5, 2025" in render(
        context("payment_failed", invoice_date=late), BRANDING, ["en-US"]).text
    assert "Invoice date: 5 March 2025" in render(
        context("payment_failed", invoice_date=late), BRANDING, ["en-GB"]).text
    assert "Invoice date: March 6, 2025" in render(
        context("payment_failed", invoice_date=late, timezone="Asia/Tokyo"), BRANDING,
        ["en"]).text
    assert "Rechnungsdatum: 5. März 2025" in render(
        context("payment_failed", invoice_date=late, timezone="Not/AZone"), BRANDING,
        ["de"]).text
    assert "expire fin août 2027." in render(context("card_expiring"), BRANDING, ["fr"]).text


# --- locale choice ------------------------------------------------------------------------

@pytest.mark.parametrize(("preferred", "expected"), [
    (["de-CH", "en"], "de"),
    (["pt-BR", "fr-CA"], "fr"),
    (["ES"], "es"),
    (["fr_FR"], "fr"),
    (["zh-Hans", "ja"], "en"),
    ([], "en"),
    (None, "en"),
    ("de", "de"),
    ([None, 3, "  ", "es-419"], "es"),
])
def test_pick_locale(preferred, expected):
    assert pick_locale(preferred) == expected


def test_a_supported_language_with_a_region_babel_does_not_know_still_renders():
    message = render(context("payment_failed"), BRANDING, ["de-XX"])
    assert message.locale == "de"
    assert "49,99\xa0€" in message.text


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "field"), [
    ({"primary_color": "red"}, "primary_color"),
    ({"accent_color": "#12345"}, "accent_color"),
    ({"sender": "not an address"}, "sender"),
    ({"sender": "a@b.example\r\nBcc: x@y.example"}, "sender"),
    ({"reply_to": "help"}, "reply_to"),
    ({"logo_url": "javascript:alert(1)"}, "logo_url"),
    ({"name": ""}, "name"),
    ({"name": "Acme\nBcc: x"}, "name"),
    ({"colour": "#ffffff"}, "colour"),
])
def test_branding_rejects_a_bad_field_naming_it(data, field):
    with pytest.raises(PolicyError, match=field):
        Branding.from_mapping(data)


def test_branding_from_policy():
    assert Branding.from_policy(None) == Branding()
    assert Branding.from_policy({"retry": {}}) == Branding()
    branding = Branding.from_policy({"branding": {"name": "Acme", "primary_color": "#AABBCC",
                                                  "reply_to": "help@acme.example"}})
    assert (branding.name, branding.primary_color, branding.reply_to) == (
        "Acme", "#AABBCC", "help@acme.example")
    with pytest.raises(PolicyError, match="mapping"):
        Branding.from_mapping(["name"])


@pytest.mark.parametrize(("changes", "problem"), [
    ({"kind": "newsletter"}, "kind"),
    ({"amount": -1}, "amount"),
    ({"amount": 12.5}, "amount"),
    ({"currency": "EURO"}, "currency"),
    ({"pay_url": "javascript:alert(1)"}, "pay_url"),
    ({"card_exp": (13, 2027)}, "card_exp"),
    ({"kind": "payment_failed",
      "offer": OfferView("pause", 0, 1, "https://acme.example/o")}, "offer"),
])
def test_a_bad_context_is_a_clear_error(changes, problem):
    with pytest.raises(ValueError, match=problem):
        context(changes.pop("kind", "reminder"), **changes)


def test_a_bad_offer_is_a_clear_error():
    with pytest.raises(ValueError, match="percent_off"):
        OfferView("discount", 0, 3, "https://acme.example/o")
    with pytest.raises(ValueError, match="months"):
        OfferView("pause", 0, 0, "https://acme.example/o")
    with pytest.raises(ValueError, match="kind"):
        OfferView("free_month", 0, 1, "https://acme.example/o")


def test_context_fields_hold_no_payment_method_details():
    names = {f.name for f in dataclasses.fields(MessageContext)}
    assert not {n for n in names if re.search(r"fingerprint|payment_method|number$", n)
                and n != "invoice_number"}


def _strings(message) -> tuple[str, ...]:
    return (message.string,) if isinstance(message.string, str) else tuple(message.string)


def _placeholders(text) -> set[str]:
    texts = (text,) if isinstance(text, str) else text
    return {name for t in texts for name in re.findall(r"%\((\w+)\)s", t)}
