"""A customer's time zone from what Stripe holds about them, for quiet hours and local retry hours.

In order: the billing address's country and state, the card's issuing country, the account's own
time zone, UTC. Country zones come from the IANA tables (``pytz.country_timezones``), US states
and territories from the ``us`` package; nothing here reads the database or calls Stripe.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytz
import us

DEFAULT_ZONE = "UTC"
# The IANA table lists a country's zones in its own order (east to west, or by region), not by
# population; for these countries its first zone is a small region's, so the zone most of the
# population lives in is named here (checked against GeoNames city populations).
MOST_POPULOUS_ZONE = {
    "AU": "Australia/Sydney", "BR": "America/Sao_Paulo", "CA": "America/Toronto",
    "RU": "Europe/Moscow", "UA": "Europe/Kyiv", "UZ": "Asia/Tashkent",
}
# Canadian provinces and Australian states (ISO 3166-2 codes, as Stripe addresses carry them):
# no maintained package maps them, and each has one zone for most of its people (IANA zone.tab).
SUBDIVISION_ZONE = {
    "CA": {"AB": "America/Edmonton", "BC": "America/Vancouver", "MB": "America/Winnipeg",
           "NB": "America/Moncton", "NL": "America/St_Johns", "NS": "America/Halifax",
           "NT": "America/Edmonton", "NU": "America/Iqaluit", "ON": "America/Toronto",
           "PE": "America/Halifax", "QC": "America/Toronto", "SK": "America/Regina",
           "YT": "America/Whitehorse"},
    "AU": {"ACT": "Australia/Sydney", "NSW": "Australia/Sydney", "NT": "Australia/Darwin",
           "QLD": "Australia/Brisbane", "SA": "Australia/Adelaide", "TAS": "Australia/Hobart",
           "VIC": "Australia/Melbourne", "WA": "Australia/Perth"},
}


def customer_zone(*, address_country: str | None = None, address_state: str | None = None,
                  card_country: str | None = None, account_zone: str | None = None) -> str:
    """The IANA zone to plan this customer's local hours in."""
    return (zone_of_place(address_country, address_state) or zone_of_place(card_country)
            or valid_zone(account_zone) or DEFAULT_ZONE)


def zone_of_place(country: str | None, state: str | None = None) -> str | None:
    """The zone of a country (ISO 3166-1 alpha-2), refined by its state when the country spans
    several zones; None when the country is unknown."""
    code = (country or "").strip().upper()
    if not code:
        return None
    return _zone_of_state(code, state) or _zone_of_country(code)


def valid_zone(name: str | None) -> str | None:
    """``name`` if it is an IANA zone this machine knows, else None."""
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def _zone_of_state(country: str, state: str | None) -> str | None:
    # "US-CA" and "CA" both name California: Stripe stores what the customer or merchant typed.
    code = (state or "").strip().upper().removeprefix(f"{country}-")
    if not code:
        return None
    if country == "US":
        found = us.states.lookup(code)
        return valid_zone(found.capital_tz) if found is not None else None
    return valid_zone(SUBDIVISION_ZONE.get(country, {}).get(code))


@cache
def _zone_of_country(country: str) -> str | None:
    zones = pytz.country_timezones.get(country) or []
    return valid_zone(MOST_POPULOUS_ZONE.get(country) or (zones[0] if zones else None))
