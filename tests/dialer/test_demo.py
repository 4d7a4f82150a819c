"""Demo leads: an open calling window at every hour, valid distinct numbers, the mix,
and a CSV that the real lead importer takes."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dialer.campaign import load_campaign, save_campaign
from dialer.campaign.windows import open_everywhere
from dialer.cli import main
from dialer.compliance import BUILTIN_PROFILES, WEEKDAYS, CallingHours
from dialer.demo import (
    COUNTRIES,
    MIX,
    SPARE,
    Behaviour,
    DemoCountry,
    behaviour_counts,
    behaviour_of,
    choose_country,
    demo_leads,
    leads_in,
    open_until,
    write_csv,
)
from dialer.errors import NoDemoRegion
from dialer.keys import new_keyring
from dialer.leads import import_leads
from dialer.store import LeadStatus, Store
from dialer.store.schema import Lead
from dnc import Dnc, normalize, time_zones

REPO = Path(__file__).resolve().parents[2]
US_HOURS = BUILTIN_PROFILES["us"].calling_hours
NOW = datetime(2025, 3, 12, 2, 30, tzinfo=UTC)
# a winter Monday, a summer Saturday, the days daylight saving ends in Europe and the US
DAYS = [datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 7, 5, tzinfo=UTC),
        datetime(2025, 10, 26, tzinfo=UTC), datetime(2025, 11, 2, tzinfo=UTC)]


def _half_hours(day: datetime) -> Iterator[datetime]:
    return (day + timedelta(minutes=30 * i) for i in range(48))


@pytest.mark.parametrize("profile", sorted(BUILTIN_PROFILES))
@pytest.mark.parametrize("day", DAYS, ids=lambda d: f"{d:%Y-%m-%d}")
def test_every_half_hour_of_a_day_has_a_country_inside_its_window(profile: str,
                                                                  day: datetime) -> None:
    hours = BUILTIN_PROFILES[profile].calling_hours
    for now in _half_hours(day):
        choice = choose_country(now, hours)
        zones = (choice.country.zone,)
        # open by the gate's own test at every minute of the next 30
        assert all(open_everywhere(hours, zones, now + timedelta(minutes=m))
                   for m in range(31)), (now, choice.country.region)
        assert choice.open_until - now >= SPARE
        assert choice.local == now.astimezone(choice.local.tzinfo)


def test_the_leads_ring_inside_the_window_at_every_half_hour() -> None:
    rng = random.Random(5)
    chosen = set()
    for now in _half_hours(DAYS[0]):
        leads = demo_leads(10, now, US_HOURS, rng)
        for lead in leads:
            zones = time_zones(lead.number)  # what the importer stores, the gate reads
            assert len(zones) == 1 and open_everywhere(US_HOURS, zones, now + SPARE)
        chosen.add(normalize(leads[0].number).region)
    assert len(chosen) >= 4  # the day goes round the candidates


@pytest.mark.parametrize("country", COUNTRIES, ids=lambda c: c.region)
def test_every_candidate_makes_valid_distinct_single_zone_numbers(country: DemoCountry) -> None:
    leads = leads_in(country, 300, random.Random(1))
    numbers = [lead.number for lead in leads]
    assert len(set(numbers)) == 300
    for number in numbers:
        parsed = normalize(number)
        assert parsed.e164 == number and parsed.region == country.region
        assert time_zones(number) == (country.zone,)


def test_the_mix_at_2000_leads() -> None:
    leads = demo_leads(2000, NOW, US_HOURS, random.Random(11))
    assert len({lead.number for lead in leads}) == 2000
    assert all(normalize(lead.number).e164 == lead.number for lead in leads)
    counts = Counter(lead.behaviour for lead in leads)
    assert Behaviour.RANDOM not in counts
    for behaviour, share in MIX.items():
        assert abs(counts[behaviour] / 2000 - share) <= 0.05, behaviour
    assert counts[Behaviour.HUMAN] == 500 and counts[Behaviour.NO_ANSWER] == 700
    assert counts[Behaviour.MACHINE] + counts[Behaviour.DEAD_AIR] == 300
    assert counts[Behaviour.DECLINE] + counts[Behaviour.FAILURE] == 200
    assert all(lead.first_name.isascii() and lead.last_name.isascii() for lead in leads)
    assert {lead.priority for lead in leads} == {0, 5, 10}


def test_rounding_keeps_the_count() -> None:
    for count in (1, 7, 13, 299, 300, 301):
        assert sum(behaviour_counts(count).values()) == count
    assert behaviour_counts(300)[Behaviour.HUMAN] == 75


def test_the_same_seed_gives_the_same_leads() -> None:
    first = demo_leads(50, NOW, US_HOURS, random.Random(3))
    assert first == demo_leads(50, NOW, US_HOURS, random.Random(3))
    assert first != demo_leads(50, NOW, US_HOURS, random.Random(4))
    assert first[0].number not in repr(first[0])  # the repr masks the number


def test_the_last_digit_picks_the_behaviour() -> None:
    assert [behaviour_of(f"+86138001380{d}{d}") for d in "1234567890"] == [
        Behaviour.HUMAN, Behaviour.NO_ANSWER, Behaviour.BUSY, Behaviour.OPT_OUT,
        Behaviour.MACHINE, Behaviour.DEAD_AIR, Behaviour.DECLINE, Behaviour.FAILURE,
        Behaviour.RANDOM, Behaviour.RANDOM]


def test_no_open_country_is_a_clear_error() -> None:
    closed = CallingHours.model_validate({day: [] for day in WEEKDAYS})
    with pytest.raises(NoDemoRegion, match=r"no demo country's calling window is open .*"
                                           r"2025-03-12 02:30 UTC .*CN Wed 10:30"):
        demo_leads(10, NOW, closed, random.Random(1))
    short = CallingHours.same_every_day("08:00-08:20")  # never open for 30 minutes
    with pytest.raises(NoDemoRegion):
        choose_country(NOW, short)


def test_open_until_follows_joined_ranges() -> None:
    zone = "Asia/Shanghai"  # NOW is 10:30 there
    joined = CallingHours.same_every_day("09:00-12:00", "12:00-13:00")
    assert open_until(joined, zone, NOW) == datetime(2025, 3, 12, 5, 0, tzinfo=UTC)
    assert open_until(CallingHours.same_every_day("11:00-20:00"), zone, NOW) is None
    overnight = CallingHours.same_every_day("00:00-02:00", "10:00-24:00")
    assert open_until(overnight, zone, NOW) == datetime(2025, 3, 12, 18, 0, tzinfo=UTC)


async def test_the_csv_goes_through_the_real_importer(sqlite_url: str, tmp_path: Path) -> None:
    leads = demo_leads(300, NOW, US_HOURS, random.Random(9))
    path = tmp_path / "demo-leads.csv"
    assert write_csv(path, leads) == 300
    campaign = load_campaign(REPO / "examples" / "campaigns" / "demo.yaml")
    store = await Store.open(sqlite_url, new_keyring(), node_id="n1", linger_s=0.001)
    try:
        dnc = await Dnc.open(store.db.engine, store.hasher, region="US", clock=lambda: NOW)
        info, _, _ = await save_campaign(store, campaign, now=NOW, actor="test")
        report = await import_leads(store, campaign, info.id, path, dnc=dnc, now=NOW,
                                    actor="test")
        assert (report.rows, report.inserted, report.rejected_total) == (300, 300, 0)
        async with store.db.read() as conn:
            ids = list((await conn.execute(
                select(Lead.id).where(Lead.campaign_id == info.id))).scalars())
        stored = {}
        for lead_id in ids:
            record = await store.leads.get(lead_id, decrypt=True)
            assert record.number is not None and record.status is LeadStatus.NEW
            stored[record.number] = (dict(record.custom or {}).get("name"), record.priority,
                                     record.time_zones)
    finally:
        await store.close()
    zone = time_zones(leads[0].number)
    assert stored == {lead.number: (lead.name, lead.priority, zone) for lead in leads}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DIALER_CONFIG", "DIALER_DB_URL", "DIALER_KEY_FILE", "DIALER_NODE_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("clean_env")
def test_the_command_writes_the_file_and_prints_the_choice_and_mix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "leads.csv"
    assert main(["demo", "leads", "--count", "40", "--out", str(out), "--seed", "5"]) == 0
    printed = capsys.readouterr().out
    rows = out.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "number,name,priority" and len(rows) == 41
    region = normalize(rows[1].split(",")[0]).region
    assert f"{out}: 40 leads in {region} (" in printed and "seed 5" in printed
    assert "calling window open for another" in printed
    assert "           1  human          10   25.0 %" in printed
    assert "           2  no_answer      14   35.0 %" in printed
    assert not any(row.split(",")[0] in printed for row in rows[1:])


@pytest.mark.usefixtures("clean_env")
def test_the_command_fails_clearly_when_no_country_is_open(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO / "examples" / "campaigns" / "demo.yaml").read_text(encoding="utf-8")
    campaign = tmp_path / "short.yaml"
    campaign.write_text(text + '\ncalling_hours: {daily: ["08:00-08:20"]}\n', encoding="utf-8")
    out = tmp_path / "leads.csv"
    assert main(["demo", "leads", "--out", str(out), "--campaign", str(campaign)]) == 1
    assert "dialer: no demo country's calling window is open" in capsys.readouterr().err
    assert not out.exists()
