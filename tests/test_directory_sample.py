"""Tests of the bundled sample register of Xiamen: the committed file is what its generator writes, and
it matches the 2022 普惠 figures per district with plausible, clearly marked rows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bot.directory import credit_code as cc
from bot.directory import sample
from bot.directory.csv_io import parse_institutions
from bot.directory.geo import haversine_m

# Seed 000: 55 普惠 nurseries with 4,352 普惠 places at the end of 2022.
EXPECTED = {
    "思明区": (8, 750),
    "湖里区": (13, 832),
    "海沧区": (3, 300),
    "集美区": (8, 755),
    "同安区": (10, 885),
    "翔安区": (13, 830),
}


def test_committed_file_is_what_the_generator_writes(tmp_path: Path) -> None:
    fresh = tmp_path / "sample.csv"
    sample.write(fresh)
    assert fresh.read_bytes() == sample.SAMPLE_PATH.read_bytes(), "run python -m bot.directory.sample"


def test_sample_reads_cleanly_and_matches_the_published_figures() -> None:
    parsed = parse_institutions(sample.SAMPLE_PATH.read_bytes())
    assert not parsed.rejected and not parsed.warnings
    records = [r.record for r in parsed.rows]
    counts: Counter[str] = Counter()
    places: Counter[str] = Counter()
    for r in records:
        if r.inclusive:
            counts[r.district or ""] += 1
            places[r.district or ""] += r.total_capacity
    assert {d: (counts[d], places[d]) for d in EXPECTED} == EXPECTED
    assert sum(counts.values()) == 55 and sum(places.values()) == 4352
    others = [r for r in records if not r.inclusive]
    assert 20 <= len(others) <= 30


def test_sample_rows_are_plausible_and_marked() -> None:
    records = sample.generate()
    anchors = {d.name: d.anchors for d in sample.DISTRICTS}
    assert len({r.credit_code for r in records}) == len(records)
    assert len({r.name for r in records}) == len(records)
    for r in records:
        assert r.name.endswith(sample.SAMPLE_MARK) and r.is_sample
        assert cc.is_valid(r.credit_code)
        assert r.district is not None
        division = next(d.division for d in sample.DISTRICTS if d.name == r.district)
        assert cc.parse(r.credit_code).division == division
        nearest = min(haversine_m(r.lat, r.lon, a_lat, a_lon) for _, a_lat, a_lon in anchors[r.district])
        assert nearest <= sample.JITTER_M + 1
        assert 24.38 < r.lat < 24.95 and 117.85 < r.lon < 118.45
        for c in ("infant", "toddler", "older", "mixed"):
            cap, free = getattr(r, f"{c}_capacity"), getattr(r, f"{c}_free")
            assert cap >= 0 and (free is None or 0 <= free <= cap)
        assert r.fee_min is not None and r.fee_max is not None and r.fee_min <= r.fee_max
        assert r.services
        if r.legal_form and r.legal_form.value == "home_based":
            assert r.total_capacity <= 5  # 家庭托育点管理办法: at most 5 children
    assert len({r.legal_form for r in records}) >= 5
    assert any(r.filed_on is None for r in records) and all(r.filed_on for r in records if r.inclusive)
    assert any(r.infant_capacity for r in records) and any(r.mixed_capacity for r in records)


def test_generator_is_deterministic() -> None:
    assert sample.generate() == sample.generate()
    assert sample.generate(1) != sample.generate(2)
