"""Demo leads for `make demo`: callees inside their calling window now, a known mix of
behaviours at the SIPp customers.

    leads = demo_leads(300, now, BUILTIN_PROFILES["us"].calling_hours, random.Random(7))
    write_csv("demo-leads.csv", leads)        # for `dialer leads import`

The calling window is checked in the callee's time zone, whatever the hour the demo
runs, so the leads come from a country whose whole mobile numbering plan lies in one
time zone (per `phonenumbers`, as the gate sees it) and whose local time is inside the
window with at least 30 minutes to spare; of those, the one whose window stays open
longest. Great Britain is no candidate: its mobiles carry four zones (London, Jersey,
Guernsey, Isle of Man). The candidates' UTC offsets (−5 to +12, no gap over 7 hours)
cover every hour of every day for each built-in profile's hours.

The SIPp customers pick their behaviour from the LAST digit of the number (1 human,
2 no answer, 3 busy, 4 opt-out key, 5 answering machine, 6 dead air, 7 decline,
8 failure, 9 and 0 random); the last digits are dealt out to give `MIX` exactly (up to
rounding). The numbers are valid, real-looking mobile numbers: they are meant for the
SIPp test trunk only, never a real carrier.
"""

from __future__ import annotations

import csv
import enum
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

from dialer.compliance import CallingHours
from dialer.errors import NoDemoRegion
from dnc import mask_number, normalize, time_zones

SPARE = timedelta(minutes=30)  # the window must stay open at least this long after `now`
CSV_COLUMNS = ("number", "name", "priority")
_MAX_TRIES = 1000              # random numbers drawn per lead before giving up


class Behaviour(enum.StrEnum):
    """What a SIPp customer does when called (tests/sipp/customers.xml)."""

    HUMAN = "human"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    OPT_OUT = "opt_out"
    MACHINE = "machine"
    DEAD_AIR = "dead_air"
    DECLINE = "decline"
    FAILURE = "failure"
    RANDOM = "random"


BEHAVIOUR_OF_DIGIT: Mapping[str, Behaviour] = MappingProxyType({
    "1": Behaviour.HUMAN, "2": Behaviour.NO_ANSWER, "3": Behaviour.BUSY,
    "4": Behaviour.OPT_OUT, "5": Behaviour.MACHINE, "6": Behaviour.DEAD_AIR,
    "7": Behaviour.DECLINE, "8": Behaviour.FAILURE, "9": Behaviour.RANDOM,
    "0": Behaviour.RANDOM})
DIGIT_OF: Mapping[Behaviour, str] = MappingProxyType(
    {b: d for d, b in BEHAVIOUR_OF_DIGIT.items() if b is not Behaviour.RANDOM})

# The demo's share of each behaviour: 25 % human, 15 % machine (answering machine and
# dead air), 35 % no answer, 10 % busy, 5 % opt-out, 10 % declined or failed.
MIX: Mapping[Behaviour, float] = MappingProxyType({
    Behaviour.HUMAN: 0.25, Behaviour.MACHINE: 0.075, Behaviour.DEAD_AIR: 0.075,
    Behaviour.NO_ANSWER: 0.35, Behaviour.BUSY: 0.10, Behaviour.OPT_OUT: 0.05,
    Behaviour.DECLINE: 0.05, Behaviour.FAILURE: 0.05})


@dataclass(frozen=True, slots=True)
class DemoCountry:
    """A country whose mobile numbers all ring in one time zone, and how to make them."""

    region: str
    zone: str
    country_code: int
    prefixes: tuple[str, ...]   # mobile prefixes of the national significant number
    length: int                 # digits of the national significant number


COUNTRIES: tuple[DemoCountry, ...] = (
    DemoCountry("FJ", "Pacific/Fiji", 679, ("7", "8", "9"), 7),
    DemoCountry("JP", "Asia/Tokyo", 81, ("90", "80", "70"), 10),
    DemoCountry("CN", "Asia/Shanghai", 86, ("130", "135", "138", "139", "150", "158", "186",
                                            "188"), 11),
    DemoCountry("IN", "Asia/Calcutta", 91, ("98", "99", "97", "94", "81"), 10),
    DemoCountry("AE", "Asia/Dubai", 971, ("50", "52", "54", "55", "56", "58"), 9),
    DemoCountry("KE", "Africa/Nairobi", 254, ("70", "71", "72", "79"), 9),
    DemoCountry("NG", "Africa/Lagos", 234, ("803", "806", "813", "816", "703", "706"), 10),
    DemoCountry("AR", "America/Buenos_Aires", 54, ("911",), 11),
    DemoCountry("CO", "America/Bogota", 57, ("300", "301", "310", "311", "315", "320"), 10),
    DemoCountry("PE", "America/Lima", 51, ("9",), 9),
)

_FIRST_NAMES = ("Alex", "Amara", "Chen", "Diego", "Fatima", "Hana", "Jun", "Kwame", "Lucas",
                "Maria", "Mateo", "Ngozi", "Omar", "Priya", "Ravi", "Sam", "Sofia", "Wei",
                "Yuki", "Zara")
_LAST_NAMES = ("Adeyemi", "Garcia", "Haddad", "Kaur", "Khan", "Li", "Lopez", "Mendoza",
               "Mwangi", "Okafor", "Otieno", "Patel", "Rivera", "Romero", "Sato", "Sharma",
               "Silva", "Tanaka", "Wang", "Zhang")
_PRIORITIES = (0, 0, 0, 0, 0, 0, 5, 5, 10)


@dataclass(frozen=True, slots=True, repr=False)
class DemoLead:
    """One demo lead: an E.164 number, a made-up ASCII name and a priority."""

    number: str
    first_name: str
    last_name: str
    priority: int

    @property
    def name(self) -> str:
        """`First Last`."""
        return f"{self.first_name} {self.last_name}"

    @property
    def behaviour(self) -> Behaviour:
        """What the SIPp customer does when this number is called."""
        return behaviour_of(self.number)

    def __repr__(self) -> str:
        return (f"DemoLead({mask_number(self.number)}, {self.name!r}, "
                f"priority={self.priority})")


@dataclass(frozen=True, slots=True)
class Choice:
    """The country the demo leads come from, its local time now and when its window shuts."""

    country: DemoCountry
    local: datetime
    open_until: datetime


def behaviour_of(number: str) -> Behaviour:
    """The SIPp customers' behaviour for a number: by its last digit."""
    return BEHAVIOUR_OF_DIGIT[number[-1]]


def open_until(hours: CallingHours, zone: str, now: datetime) -> datetime | None:
    """When the calling window open at `now` in `zone` closes (following ranges that
    join, across midnight too); None when it is closed at `now`."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    spans: list[tuple[datetime, datetime]] = []
    for offset in range(-1, 3):
        day = today + timedelta(days=offset)
        midnight = datetime.combine(day, time(0), tzinfo=tz)
        spans += [((midnight + timedelta(minutes=r.start)).astimezone(UTC),
                   (midnight + timedelta(minutes=r.end)).astimezone(UTC))
                  for r in hours.ranges_on(day.weekday())]
    end = now
    while (later := next((e for s, e in spans if s <= end < e), None)) is not None:
        end = later
    return end if end > now else None


def choose_country(now: datetime, hours: CallingHours, *, spare: timedelta = SPARE,
                   countries: Sequence[DemoCountry] = COUNTRIES) -> Choice:
    """The candidate whose window is open now for at least `spare` and stays open
    longest (the first such in `countries` on a tie); `NoDemoRegion` if there is none."""
    best: Choice | None = None
    for country in countries:
        until = open_until(hours, country.zone, now)
        if until is None or until - now < spare:
            continue
        if best is None or until > best.open_until:
            best = Choice(country, now.astimezone(ZoneInfo(country.zone)), until)
    if best is None:
        locals_ = ", ".join(f"{c.region} {now.astimezone(ZoneInfo(c.zone)):%a %H:%M}"
                            for c in countries)
        raise NoDemoRegion(f"no demo country's calling window is open for another "
                           f"{spare.total_seconds() / 60:.0f} minutes at "
                           f"{now.astimezone(UTC):%Y-%m-%d %H:%M} UTC (local times: {locals_})")
    return best


def behaviour_counts(count: int, mix: Mapping[Behaviour, float] = MIX) -> dict[Behaviour, int]:
    """How many of `count` leads get each behaviour: `mix` rounded by largest remainder."""
    exact = {b: count * share / sum(mix.values()) for b, share in mix.items()}
    counts = {b: int(x) for b, x in exact.items()}
    by_remainder = sorted(mix, key=lambda b: exact[b] - counts[b], reverse=True)
    for b in by_remainder[:count - sum(counts.values())]:
        counts[b] += 1
    return counts


def demo_leads(count: int, now: datetime, hours: CallingHours,
               rng: random.Random) -> list[DemoLead]:
    """`count` leads in the country `choose_country` picks for `now` and `hours`
    (`NoDemoRegion` if none is open), made by `leads_in`."""
    return leads_in(choose_country(now, hours).country, count, rng)


def leads_in(country: DemoCountry, count: int, rng: random.Random) -> list[DemoLead]:
    """`count` leads with distinct valid mobile numbers of `country`, their last digits
    dealt out per `MIX` in random order."""
    digits = [DIGIT_OF[b] for b, n in behaviour_counts(count).items() for _ in range(n)]
    rng.shuffle(digits)
    taken: set[str] = set()
    leads = []
    for digit in digits:
        number = _number(country, digit, rng, taken)
        taken.add(number)
        leads.append(DemoLead(number, rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES),
                              rng.choice(_PRIORITIES)))
    return leads


def _number(country: DemoCountry, digit: str, rng: random.Random, taken: set[str]) -> str:
    """A valid mobile number of `country`, ringing in its zone only, ending in `digit`."""
    for _ in range(_MAX_TRIES):
        prefix = rng.choice(country.prefixes)
        middle = "".join(rng.choice("0123456789")
                         for _ in range(country.length - len(prefix) - 1))
        number = normalize(f"+{country.country_code}{prefix}{middle}{digit}")
        if (number.e164 is not None and number.region == country.region
                and number.e164 not in taken and time_zones(number.e164) == (country.zone,)):
            return number.e164
    raise NoDemoRegion(f"cannot make a valid {country.region} number ending in {digit} "
                       f"in {_MAX_TRIES} tries")


def write_csv(path: str | Path, leads: Iterable[DemoLead]) -> int:
    """Write leads as a CSV file `dialer leads import` reads (number, name, priority);
    returns how many were written."""
    written = 0
    with Path(path).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for lead in leads:
            writer.writerow((lead.number, lead.name, lead.priority))
            written += 1
    return written
