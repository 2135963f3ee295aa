"""Customer messages rendered from Jinja2 templates: subject, plain text and HTML, localized.

``render`` picks the language from the customer's Stripe ``preferred_locales`` (en, de, fr, es),
formats amounts per currency and locale and dates per locale with Babel, and hands the templates
display values only: the card is its brand and last four digits, nothing else of a payment method
ever reaches a template. HTML is autoescaped; the plain text is not (it is not markup).
No I/O beyond reading the packaged templates and catalogs; no clock (dates come in the context).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton
from babel.numbers import format_currency, format_percent, get_currency_precision
from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape

from recovery.messaging.branding import Branding
from recovery.messaging.catalogs import translations

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = (
    "payment_failed", "card_update_request", "authentication_required", "reminder",
    "final_notice", "payment_recovered", "card_expiring",
)
LOCALES: tuple[str, ...] = ("en", "de", "fr", "es")
DEFAULT_LOCALE = "en"
OFFER_KINDS = ("discount", "pause")
KINDS_WITH_OFFER = ("reminder", "final_notice")
# Stripe's card brands (PaymentMethod.card.brand) as customers know them.
CARD_BRANDS = {
    "amex": "American Express", "cartes_bancaires": "Cartes Bancaires", "diners": "Diners Club",
    "discover": "Discover", "eftpos_au": "eftpos", "jcb": "JCB", "mastercard": "Mastercard",
    "unionpay": "UnionPay", "visa": "Visa",
}
_LAST4 = re.compile(r"\d{4}")
_URL = re.compile(r"https?://[^\s<>\"']+")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
MAX_NAME_LENGTH = 80


@dataclass(frozen=True)
class OfferView:
    kind: str  # "discount" | "pause"
    percent_off: int  # discount only (0 for a pause)
    months: int
    accept_url: str

    def __post_init__(self) -> None:
        if self.kind not in OFFER_KINDS:
            raise ValueError(f"offer kind must be one of {OFFER_KINDS}, got {self.kind!r}")
        if not isinstance(self.months, int) or self.months < 1:
            raise ValueError(f"offer months must be a positive integer, got {self.months!r}")
        if self.kind == "discount" and not (isinstance(self.percent_off, int)
                                            and 1 <= self.percent_off <= 100):
            raise ValueError(f"offer percent_off must be 1..100, got {self.percent_off!r}")
        _check_url("offer accept_url", self.accept_url)


@dataclass(frozen=True)
class MessageContext:
    kind: str
    customer_name: str | None
    amount: int  # minor units of ``currency``
    currency: str
    invoice_date: datetime | None = None
    ends_at: datetime | None = None  # when dunning ends (the final notice names it)
    card_brand: str | None = None  # Stripe's brand, e.g. "visa"
    card_last4: str | None = None
    card_exp: tuple[int, int] | None = None  # (month, year)
    pay_url: str | None = None  # the hosted invoice page: pay or authenticate
    update_card_url: str | None = None
    unsubscribe_url: str | None = None
    offer: OfferView | None = None
    # Beyond the contract, all optional:
    timezone: str | None = None  # the customer's IANA zone, for the dates shown; UTC if unknown
    paid_at: datetime | None = None  # the receipt's payment date
    invoice_number: str | None = None  # Stripe's invoice number, shown on the receipt

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"message kind must be one of {KINDS}, got {self.kind!r}")
        if not isinstance(self.amount, int) or isinstance(self.amount, bool) or self.amount < 0:
            raise ValueError(f"amount must be a non-negative integer (minor units), "
                             f"got {self.amount!r}")
        if not isinstance(self.currency, str) or not _CURRENCY.fullmatch(self.currency):
            raise ValueError(f"currency must be a three-letter code, got {self.currency!r}")
        if self.card_exp is not None and not (len(self.card_exp) == 2
                                              and 1 <= int(self.card_exp[0]) <= 12):
            raise ValueError(f"card_exp must be (month, year), got {self.card_exp!r}")
        for name in ("pay_url", "update_card_url", "unsubscribe_url"):
            if getattr(self, name) is not None:
                _check_url(name, getattr(self, name))
        if self.offer is not None and self.kind not in KINDS_WITH_OFFER:
            raise ValueError(f"an offer goes only with {KINDS_WITH_OFFER}, not {self.kind!r}")


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str
    locale: str  # one of LOCALES


def pick_locale(preferred: Sequence[str] | None) -> str:
    """The first of the customer's preferred locales we have a language for, else ``en``:
    ``["de-CH", "en"]`` gives ``de``; ``["pt-BR", "fr"]`` gives ``fr``."""
    return _first_supported(preferred)[0]


def render(context: MessageContext, branding: Branding,
           preferred_locales: Sequence[str] | None) -> RenderedMessage:
    language, tag = _first_supported(preferred_locales)
    formatting = _formatting_locale(language, tag)
    values = _template_values(context, branding, formatting)
    env = _environment(language)
    text_template = env.get_template(f"{context.kind}.txt")
    subject = " ".join(_render_block(text_template, "subject", values).split())
    text = _tidy_text(text_template.render(values, subject=subject))
    html = env.get_template(f"{context.kind}.html").render(values, subject=subject,
                                                            lang=language)
    return RenderedMessage(subject=subject, text=text, html=html, locale=language)


def format_amount(amount: int, currency: str, locale: Locale | str) -> str:
    """Minor units as the currency's major units, per Babel's digits (JPY 0, EUR 2, KWD 3)."""
    major = Decimal(amount).scaleb(-get_currency_precision(currency.upper()))
    return format_currency(major, currency.upper(), locale=locale)


# --- locale ---------------------------------------------------------------------------------

def _first_supported(preferred: Sequence[str] | None) -> tuple[str, str | None]:
    if isinstance(preferred, str):  # a lone tag instead of Stripe's list
        preferred = [preferred]
    for tag in preferred or ():
        if not isinstance(tag, str) or not tag.strip():
            continue
        language = tag.strip().replace("_", "-").split("-")[0].lower()
        if language in LOCALES:
            return language, tag.strip()
    return DEFAULT_LOCALE, None


@functools.cache
def _formatting_locale(language: str, tag: str | None) -> Locale:
    """The customer's full locale for numbers and dates when Babel knows it (de-CH formats
    amounts the Swiss way), else the language's."""
    if tag is not None:
        try:
            return Locale.parse(tag.replace("_", "-"), sep="-")
        except (UnknownLocaleError, ValueError, TypeError):
            log.debug("locale %r unknown to Babel; formatting as %s", tag, language)
    return Locale.parse(language)


# --- values handed to the templates --------------------------------------------------------

def _template_values(context: MessageContext, branding: Branding,
                     locale: Locale) -> dict[str, Any]:
    zone = _zone(context.timezone)

    def day(moment: datetime | None) -> str | None:
        return None if moment is None else format_date(_local(moment, zone), "long", locale)

    offer = context.offer
    return {
        "brand": branding,
        "brand_name": branding.name,
        "contact": branding.reply_to or branding.sender,
        "on_primary": _text_colour_on(branding.primary_color),
        "customer_name": _display_name(context.customer_name),
        "amount": format_amount(context.amount, context.currency, locale),
        "invoice_date": day(context.invoice_date),
        "paid_at": day(context.paid_at),
        "ends_at": day(context.ends_at),
        "invoice_number": _one_line(context.invoice_number, 40),
        "card": _card_label(context.card_brand, context.card_last4),
        "card_expiry": _expiry(context.card_exp, locale),
        "pay_url": context.pay_url,
        "update_card_url": context.update_card_url,
        "unsubscribe_url": context.unsubscribe_url,
        "offer": None if offer is None else {
            "kind": offer.kind, "months": offer.months, "accept_url": offer.accept_url,
            "percent": format_percent(Decimal(offer.percent_off) / 100, locale=locale),
        },
    }


def _card_label(brand: str | None, last4: str | None) -> str | None:
    """"Visa •••• 4242": the brand and last four digits, the only card details ever shown. A
    last4 that is not four digits is dropped, so a full number passed by mistake never shows."""
    if last4 is not None and not (isinstance(last4, str) and _LAST4.fullmatch(last4)):
        log.warning("card last4 is not four digits; left out of the message")
        last4 = None
    name = CARD_BRANDS.get(brand.lower()) if isinstance(brand, str) else None
    parts = [part for part in (name, f"•••• {last4}" if last4 else None) if part]
    return " ".join(parts) or None


def _expiry(card_exp: tuple[int, int] | None, locale: Locale) -> str | None:
    if card_exp is None:
        return None
    month, year = int(card_exp[0]), int(card_exp[1])
    return format_skeleton("yMMMM", date(year, month, 1), locale=locale)


def _display_name(name: str | None) -> str | None:
    return _one_line(name, MAX_NAME_LENGTH)


def _one_line(value: str | None, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value[:limit] or None


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r; dates shown in UTC", name)
        return None


def _local(moment: datetime, zone: ZoneInfo | None) -> date:
    if moment.tzinfo is None:  # the engine's datetimes are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone or UTC).date()


def _text_colour_on(background: str) -> str:
    """White or near-black text, whichever reads better on the brand colour (WCAG luminance)."""
    channels = [int(background[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#ffffff" if luminance < 0.4 else "#111827"


def _check_url(name: str, value: Any) -> None:
    if not isinstance(value, str) or not _URL.fullmatch(value):
        raise ValueError(f"{name} must be an http(s) URL, got {value!r}")


# --- templates ------------------------------------------------------------------------------

@functools.cache
def _environment(language: str) -> Environment:
    """One environment per language, so each has its own translations installed for good."""
    env = Environment(
        loader=PackageLoader("recovery.messaging", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.policies["ext.i18n.trimmed"] = True  # msgids without the templates' line breaks
    env.install_gettext_translations(translations(language), newstyle=True)
    return env


def _tidy_text(text: str) -> str:
    """Plain text as mail clients show it best: no trailing spaces, at most one blank line in a
    row (the templates' block tags leave uneven gaps), one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _render_block(template: Template, block: str, values: dict[str, Any]) -> str:
    return "".join(template.blocks[block](template.new_context(values)))
