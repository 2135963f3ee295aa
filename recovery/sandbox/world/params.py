"""Parameters of the built-in worlds and their two presets; numbers only, no behaviour.

Every figure is a plausible reading of a published source named beside it. None is fitted to make
any retry strategy look good: presets differ so that a strategy tuned on one can be checked on the
other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

Weighted = tuple[tuple[str, float], ...]

# US population by time zone is roughly Eastern 47%, Central 29%, Mountain 7%, Pacific 17% (US
# Census county populations grouped by zone); Alaska and Hawaii are left out.
US_ZONES: Weighted = (("America/New_York", 0.47), ("America/Chicago", 0.29),
                      ("America/Denver", 0.07), ("America/Los_Angeles", 0.17))


@dataclass(frozen=True)
class Market:
    country: str
    currency: str
    weight: float
    timezones: Weighted
    paydays: Weighted
    brands: Weighted
    funding: Weighted
    updater_coverage: float  # share of reissued cards the network updater delivers to merchants
    sca: bool  # issuers under PSD2 strong customer authentication (EEA, UK)


@dataclass(frozen=True)
class Declines:
    fragile_share: float  # share of funding accounts that can run short before payday
    fragile_range: tuple[float, float]  # chance per pay period that a fragile account runs short
    robust_rate: float  # the same chance for everyone else
    funding_factor: tuple[tuple[str, float], ...]  # multiplier on that chance by card funding
    chain: float  # chance a shortfall survives the next payday (other bills take the wages),
    # plus 0.6 x the account's fragility: the most fragile accounts stay short longest
    credit_velocity_share: float  # credit cards over limit answer card_velocity_exceeded, not 51
    chronic_share: float  # share of fragile accounts that are frequent overdrafters
    chronic_rate: float  # chance per pay period that a chronic account is short after its window
    chronic_window_hours: float  # median hours wages stay usable before overdraft and bills
    distress_per_month: float  # chance per month that a fragile account loses its income
    distress_median_weeks: float  # how long such a loss lasts (log-normal: median and mean)
    distress_mean_weeks: float
    nsf_as_do_not_honor: float  # share of issuers that answer a shortfall with 05, not 51
    switch_bank_per_year: float  # customers who move their main bank, leaving the debit card dry
    hold: float  # chance per invoice of an issuer risk hold (do_not_honor / generic_decline)
    hold_median_hours: float  # how fast a hold's risk decays (median time constant)
    hold_permanent: float  # share of holds that never lift for this merchant
    noise: float  # per-attempt risk decline of a healthy card at a neutral hour
    auth: float  # chance per invoice that an SCA issuer asks for authentication
    hard: float  # chance per invoice of a hard decline that kills the card for good
    hard_codes: Weighted
    reissue_per_year: float  # lost, stolen, compromised or upgraded cards per year
    outage_per_issuer_hour: float  # issuer unreachable (Visa/MC code 91) for a given hour
    processing_error: float  # per attempt, on the processor's side
    velocity_attempts: int  # attempts on one card within 24 h that trip the issuer's velocity check


@dataclass(frozen=True)
class Behaviour:
    monthly_churn: float  # voluntary cancellation without any payment trouble
    spontaneous_fix: float  # a customer with a dead card fixes it unprompted
    fix: tuple[tuple[str, float], ...]  # message kind -> chance to update a broken card
    pay: tuple[tuple[str, float], ...]  # message kind -> chance to pay the open invoice on session
    funds_fix: float  # a customer short of funds switches to another card after a message
    auth_complete: float  # completes 3-D Secure after an authentication_required message
    fatigue: float  # each dunning message after the second keeps this share of the effect
    fatigue_churn: float  # extra chance to cancel per dunning message after the second
    reaction_median_hours: float
    offer_discount_base: float
    offer_discount_per_percent: float
    offer_pause: float
    at_risk_offer_factor: float


@dataclass(frozen=True)
class Hours:
    risk_by_local_hour: tuple[float, ...]  # 24 multipliers on issuer risk declines
    weekend_debit: float  # multiplier on risk declines of debit and prepaid cards at weekends


@dataclass(frozen=True)
class WorldParams:
    name: str
    markets: tuple[Market, ...]
    yearly_share: float
    monthly_prices: tuple[tuple[int, float], ...]  # price in minor units, weight
    early_deposit_share: float  # wages usable up to two days before payday
    funds_hours: tuple[float, float]  # local hours on payday when wages become usable
    declines: Declines
    behaviour: Behaviour
    hours: Hours


# BLS Current Employment Statistics, March 2013: private businesses pay weekly 32.4%, biweekly
# 36.5%, semimonthly 19.8%, monthly 11.3% ("How frequently do private businesses pay workers?").
US_PAYDAYS: Weighted = (("weekly_fri", 0.324), ("biweekly_fri", 0.365),
                        ("semimonthly_1_15", 0.198), ("monthly_last_bday", 0.113))
# CIPP payroll survey (UK): over 96% of employers pay monthly, most often on the last working day;
# a fixed date such as the 25th is the other common choice.
UK_PAYDAYS: Weighted = (("monthly_last_bday", 0.60), ("monthly_25", 0.35), ("weekly_fri", 0.05))
# Continental salaries are paid monthly at the end of the month.
EU_PAYDAYS: Weighted = (("monthly_last_bday", 0.85), ("monthly_25", 0.10), ("weekly_fri", 0.05))

# Nilson Report 2021 US credit outstandings: Visa 47.7%, Mastercard 31.3%, Amex 13.0%, Discover
# the rest; debit is mostly Visa, which lifts Visa's share of all cards on file to the high 50s.
US_BRANDS: Weighted = (("visa", 0.57), ("mastercard", 0.27), ("amex", 0.11), ("discover", 0.05))
EU_BRANDS: Weighted = (("visa", 0.52), ("mastercard", 0.42), ("amex", 0.06))
# Federal Reserve Payments Study 2013: 334M credit, 283M debit, 159M prepaid cards in the US, with
# debit used about twice as often; cards saved for subscriptions lean to credit.
US_FUNDING: Weighted = (("credit", 0.56), ("debit", 0.38), ("prepaid", 0.06))
EU_FUNDING: Weighted = (("credit", 0.40), ("debit", 0.55), ("prepaid", 0.05))


def _markets(us: Weighted, uk: Weighted, eu: Weighted, coverage: tuple[float, float],
             us_weight: float) -> tuple[Market, ...]:
    us_cov, eu_cov = coverage
    rest = 1.0 - us_weight
    return (
        Market("US", "usd", us_weight, US_ZONES, us, US_BRANDS, US_FUNDING, us_cov, False),
        Market("GB", "gbp", rest * 0.36, (("Europe/London", 1.0),), uk, EU_BRANDS, EU_FUNDING,
               eu_cov, True),
        Market("DE", "eur", rest * 0.30, (("Europe/Berlin", 1.0),), eu, EU_BRANDS, EU_FUNDING,
               eu_cov, True),
        Market("FR", "eur", rest * 0.20, (("Europe/Paris", 1.0),), eu, EU_BRANDS, EU_FUNDING,
               eu_cov, True),
        Market("NL", "eur", rest * 0.14, (("Europe/Amsterdam", 1.0),), eu, EU_BRANDS, EU_FUNDING,
               eu_cov, True),
    )


# Recurly ("Credit card declines: time of day is critical"): decline rates rise from about 18% in
# business hours to 25-28% between 1 and 4 am, a 44-55% increase; the early morning after the
# overnight posting run is taken as slightly better than business hours.
_DEFAULT_HOURS = (1.25, 1.5, 1.5, 1.5, 1.5, 0.85, 0.85, 0.85, 0.9, 1.0, 1.0, 1.0,
                  1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.05, 1.05, 1.05, 1.05, 1.15, 1.15)
# The alternate issuer runs its risk batch in the early morning and is most lenient mid-afternoon.
_ALTERNATE_HOURS = (1.1, 1.1, 1.1, 1.1, 1.1, 1.2, 1.4, 1.4, 1.4, 1.1, 1.0, 1.0,
                    1.0, 0.8, 0.8, 0.8, 0.8, 0.8, 1.0, 1.0, 1.0, 1.0, 1.05, 1.1)

DEFAULT = WorldParams(
    name="default",
    # Visa Account Updater: about 30% of accounts change number or expiry, or close, every year
    # (Visa DPS); updater reach is high for US Visa/Mastercard and lower elsewhere, so 75% US and
    # 50% in Europe, inside the 50-80% that processors report.
    markets=_markets(US_PAYDAYS, UK_PAYDAYS, EU_PAYDAYS, (0.75, 0.50), us_weight=0.72),
    yearly_share=0.15,
    monthly_prices=((900, 0.16), (1500, 0.18), (2900, 0.22), (4900, 0.17), (7900, 0.10),
                    (9900, 0.09), (14900, 0.05), (29900, 0.03)),
    # Neobanks release direct deposits up to two days early; ACH credits otherwise post overnight.
    early_deposit_share=0.2,
    funds_hours=(1.0, 7.0),
    declines=Declines(
        # Federal Reserve SHED 2023: 37% of US adults could not cover a $400 expense with cash;
        # SaaS payers are better off, so a quarter of accounts are fragile (the quarter of
        # consumers who overdraw or bounce in a year, CFPB 2013). Those that are not chronic
        # (below) overdraw one to ten times a year (CFPB 2017): over 26 biweekly pay periods, a
        # chance of 1/26 to 10/26 per period.
        fragile_share=0.25, fragile_range=(0.04, 0.38), robust_rate=0.01,
        funding_factor=(("credit", 0.8), ("debit", 1.3), ("prepaid", 1.8)),
        chain=0.25, credit_velocity_share=0.25,
        # CFPB, "Data Point: Frequent Overdrafters" (2017): 9% of accounts overdraw or bounce more
        # than ten times a year and pay 79% of all overdraft and NSF fees, with typical daily
        # balances under $350; 5% (more than half of them) overdraw more than twenty times a
        # year, about every pay period. Scaled like the fragile share above (SaaS payers are
        # better off: 25/37), 6% of accounts are chronic, 0.24 of the fragile ones: short in
        # 5/9 x 0.95 + 4/9 x 0.7 = 0.85 of pay periods, usable only in the days after a deposit,
        # which first repays the overdraft and fees (CRL, "High-cost overdraft practices", 2013).
        # The two-day median window is a reading of those balances, not a published figure.
        chronic_share=0.24, chronic_rate=0.85, chronic_window_hours=48.0,
        # Lost income: BLS JOLTS layoffs and discharges run about 1% of employment a month; CPS
        # duration of unemployment in 2023 had a median of about 9 weeks and a mean of about 21
        # (table A-12, "Unemployed persons by duration"). An account without a buffer stays short
        # through such a spell, whatever the payday.
        distress_per_month=0.01, distress_median_weeks=9.0, distress_mean_weeks=21.0,
        # Adyen's decline analysis (quoted in Churnward's decline-code guide): about half of
        # "do not honor" (05) answers are insufficient funds in disguise. A quarter of issuers
        # answer a shortfall with 05, and the risk holds behind the other 05s are half as common
        # as before, so 05 keeps its share of declines. Visa turns suspected fraud (59) into 05
        # before merchants see it (same source), and Stripe's advice for do_not_honor and
        # generic_decline is that the customer must call the issuer: the holds left are fraud
        # rules more often than passing doubts, so half of them never lift by themselves.
        nsf_as_do_not_honor=0.25,
        # J.D. Power retail banking studies: 4% (2019) to 8% (2016 peak) of consumers move their
        # primary bank in a year. The debit card left on file then draws on a drained account:
        # short for good, whatever the payday, until the customer gives us the new card.
        switch_bank_per_year=0.05,
        hold=0.011, hold_median_hours=40.0, hold_permanent=0.5,
        noise=0.012, auth=0.015, hard=0.004,
        hard_codes=(("fraudulent", 0.25), ("restricted_card", 0.15),
                    ("revocation_of_authorization", 0.25), ("invalid_account", 0.15),
                    ("pickup_card", 0.10), ("stolen_card", 0.10)),
        reissue_per_year=0.05, outage_per_issuer_hour=0.002, processing_error=0.002,
        velocity_attempts=4,
    ),
    behaviour=Behaviour(
        # SaaS voluntary churn benchmarks run from under 2% (infrastructure) to 5% a month.
        monthly_churn=0.025, spontaneous_fix=0.10,
        # Dunning benchmarks: a first failed-payment email recovers 15-20% and a second 8-12%
        # (paymentrescue.dev, 2026): the fatigue factor below produces that decay.
        fix=(("payment_failed", 0.18), ("card_update_request", 0.22), ("final_notice", 0.25),
             ("card_expiring", 0.25)),
        pay=(("payment_failed", 0.10), ("card_update_request", 0.05), ("final_notice", 0.20)),
        funds_fix=0.06,
        # 3-D Secure challenges are abandoned 8-15% of the time (Authorize.Net/Cybersource KPI
        # baselines); fewer customers open the email in the first place.
        auth_complete=0.55,
        fatigue=0.55, fatigue_churn=0.03, reaction_median_hours=20.0,
        offer_discount_base=0.08, offer_discount_per_percent=0.004, offer_pause=0.15,
        at_risk_offer_factor=1.6,
    ),
    hours=Hours(risk_by_local_hour=_DEFAULT_HOURS, weekend_debit=1.2),
)

ALTERNATE = replace(
    DEFAULT,
    name="alternate",
    # BLS CES 2023: biweekly 43%, weekly 27%, semimonthly about 20%, monthly 10%; here biweekly
    # payrolls run on Thursdays and semimonthly ones on the 15th and the last day.
    markets=_markets((("weekly_fri", 0.27), ("biweekly_thu", 0.43), ("semimonthly_15_last", 0.20),
                      ("monthly_first_bday", 0.10)),
                     (("monthly_25", 0.70), ("monthly_last_bday", 0.25), ("weekly_fri", 0.05)),
                     (("monthly_first_bday", 0.55), ("monthly_last_bday", 0.40),
                      ("weekly_fri", 0.05)),
                     (0.55, 0.40), us_weight=0.55),
    yearly_share=0.25,
    early_deposit_share=0.05,
    funds_hours=(6.0, 11.0),
    declines=replace(
        DEFAULT.declines,
        fragile_share=0.18, chain=0.3, hold=0.0175, hold_median_hours=24.0, hold_permanent=0.6,
        noise=0.02, auth=0.03, hard=0.006, reissue_per_year=0.08,
        hard_codes=(("fraudulent", 0.15), ("restricted_card", 0.25),
                    ("revocation_of_authorization", 0.15), ("invalid_account", 0.25),
                    ("lost_card", 0.10), ("pickup_card", 0.10)),
    ),
    behaviour=replace(DEFAULT.behaviour, monthly_churn=0.04, fatigue=0.45,
                      reaction_median_hours=30.0),
    hours=Hours(risk_by_local_hour=_ALTERNATE_HOURS, weekend_debit=0.95),
)
