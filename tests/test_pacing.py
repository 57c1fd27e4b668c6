"""The pacing windows alone: the overall cap, per-chat caps and 429 pauses, on virtual time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedules.pacing import SPREAD, Pacer, SlidingWindow, VirtualTime
from tests.schedules_support import max_in_window


def test_window_allows_a_burst_up_to_the_limit_then_waits() -> None:
    window = SlidingWindow(3, 1.0)
    for _ in range(3):
        assert window.ready_at(10.0) == 10.0
        window.record(10.0)
    assert window.ready_at(10.0) == pytest.approx(11.0)
    assert window.ready_at(11.0) == 11.0


async def test_a_seconds_messages_are_spread_over_most_of_it() -> None:
    vt = VirtualTime()
    pacer = Pacer(25, monotonic=vt.monotonic, sleep=vt.sleep)
    stamps = [await pacer.acquire(i) for i in range(50)]
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert min(gaps) == pytest.approx(SPREAD / 25, abs=1e-4)
    assert stamps[24] == pytest.approx(24 * SPREAD / 25, abs=1e-4)  # the 25th, within 0.9 s
    assert stamps[25] == pytest.approx(1.0, abs=1e-4)  # the 26th waits for the second to close
    # However the sends shift by up to SPREAD/25 of jitter, no 1 s window at the receiver holds more than 26.
    shifted = [t + (0.03 if i % 2 else -0.006) for i, t in enumerate(stamps)]
    assert max_in_window(shifted, 1.0) <= 26


def test_fractional_rates_space_single_messages_out() -> None:
    assert (SlidingWindow.per_second(0.5).limit, SlidingWindow.per_second(0.5).window) == (1, 2.0)
    assert (SlidingWindow.per_second(25.7).limit, SlidingWindow.per_second(25.7).window) == (25, 1.0)
    with pytest.raises(ValueError, match="positive"):
        SlidingWindow.per_second(0)


async def test_one_message_a_second_per_person_twenty_a_minute_per_group() -> None:
    vt = VirtualTime()
    pacer = Pacer(1000, monotonic=vt.monotonic, sleep=vt.sleep)
    person = [await pacer.acquire(42) for _ in range(5)]
    assert person == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0], abs=1e-4)
    start = vt.now
    group = [await pacer.acquire(-100) for _ in range(21)]
    assert group[19] - start < 0.05  # twenty at once (spread out by the overall cap's gap)
    assert group[20] == pytest.approx(group[0] + 60.0, abs=1e-4)  # the 21st waits for the minute


async def test_a_pause_holds_every_chat() -> None:
    vt = VirtualTime()
    pacer = Pacer(30, monotonic=vt.monotonic, sleep=vt.sleep)
    await pacer.acquire(1)
    pacer.pause(7)
    assert await pacer.acquire(2) == pytest.approx(7.0, abs=1e-4)
    pacer.pause(1)
    pacer.pause(0.5)  # a shorter pause does not shorten a longer one
    assert pacer.paused_until == pytest.approx(8.0, abs=1e-4)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.3, max_value=60),
    chats=st.lists(st.integers(min_value=-3, max_value=40), min_size=1, max_size=150),
)
async def test_the_caps_hold_for_any_traffic(rate: float, chats: list[int]) -> None:
    vt = VirtualTime()
    pacer = Pacer(rate, monotonic=vt.monotonic, sleep=vt.sleep)
    stamps = [(await pacer.acquire(chat), chat) for chat in chats]
    overall = SlidingWindow.per_second(rate)
    assert max_in_window([t for t, _ in stamps], overall.window) <= overall.limit
    assert max_in_window([t for t, _ in stamps], 1.0) <= max(1, int(rate))
    for chat in set(chats):
        mine = [t for t, c in stamps if c == chat]
        if chat < 0:
            assert max_in_window(mine, 60.0) <= 20
        else:
            assert max_in_window(mine, 1.0) <= 1


async def test_paid_messages_have_a_lane_of_their_own_and_the_rest_keep_the_free_cap() -> None:
    vt = VirtualTime()
    pacer = Pacer(25, paid_rate=1000, monotonic=vt.monotonic, sleep=vt.sleep)
    assert pacer.top_rate == 1000
    paid = [await pacer.acquire(10_000 + i, paid=True) for i in range(2500)]
    assert max_in_window(paid, 1.0) == 1000
    # 2,500 paid messages: a thousand in each of two seconds, spread over 0.9 of it, and 500 more.
    assert paid[-1] == pytest.approx(2.0 + 499 * SPREAD / 1000, abs=1e-3)
    free = [await pacer.acquire(20_000 + i) for i in range(60)]
    assert max_in_window(free, 1.0) == 25


async def test_free_messages_count_toward_the_paid_lanes_total() -> None:
    vt = VirtualTime()
    pacer = Pacer(25, paid_rate=30, monotonic=vt.monotonic, sleep=vt.sleep)
    stamps = [await pacer.acquire(i) for i in range(20)]
    stamps += [await pacer.acquire(100 + i, paid=True) for i in range(20)]
    assert max_in_window(stamps, 1.0) == 30
    assert max_in_window(stamps[:20], 1.0) == 20


async def test_without_a_paid_lane_paid_messages_keep_the_one_cap() -> None:
    vt = VirtualTime()
    pacer = Pacer(25, monotonic=vt.monotonic, sleep=vt.sleep)
    stamps = [await pacer.acquire(i, paid=True) for i in range(60)]
    assert max_in_window(stamps, 1.0) == 25 and pacer.top_rate == 25
