"""Broadcast-day notation (25:30 on the 26th is 01:30 on the 27th, JST) and title folding."""

from datetime import UTC, datetime, timedelta

import pytest

from cms.broadcast import JST, OutOfWindow, broadcast_format, broadcast_parse, clock_format
from cms.domain import title_normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26 25:30", datetime(2026, 11, 27, 1, 30, tzinfo=JST)),
        ("2026-11-27 01:30", datetime(2026, 11, 27, 1, 30, tzinfo=JST)),
        ("2026-11-26 23:45", datetime(2026, 11, 26, 23, 45, tzinfo=JST)),
        ("2026-11-26 24:00", datetime(2026, 11, 27, 0, 0, tzinfo=JST)),
        ("2026-11-26 29:59", datetime(2026, 11, 27, 5, 59, tzinfo=JST)),
        ("2026-12-31 25:00", datetime(2027, 1, 1, 1, 0, tzinfo=JST)),
        ("2028-02-28 24:30", datetime(2028, 2, 29, 0, 30, tzinfo=JST)),
        ("2026/11/26 9:05", datetime(2026, 11, 26, 9, 5, tzinfo=JST)),
        ("2026-11-26T25:30", datetime(2026, 11, 27, 1, 30, tzinfo=JST)),
        ("  2026-11-26 25:30  ", datetime(2026, 11, 27, 1, 30, tzinfo=JST)),
        ("2026-11-26", datetime(2026, 11, 26, 0, 0, tzinfo=JST)),
        ("2000-01-01 00:00", datetime(2000, 1, 1, 0, 0, tzinfo=JST)),
        ("1999-12-31 29:59", datetime(2000, 1, 1, 5, 59, tzinfo=JST)),
        ("2100-01-01 00:00", datetime(2100, 1, 1, 0, 0, tzinfo=JST)),
        ("2099-12-31 24:00", datetime(2100, 1, 1, 0, 0, tzinfo=JST)),
    ],
)
def test_parse(text, expected):
    parsed = broadcast_parse(text)

    assert parsed == expected
    assert parsed.utcoffset() == timedelta(hours=9)


def test_parse_past_midnight_is_the_next_day_in_utc():
    assert broadcast_parse("2026-11-26 25:30").astimezone(UTC) == datetime(2026, 11, 26, 16, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-26 30:00",
        "2026-11-26 29:60",
        "2026-11-26 23:60",
        "2026-11-26 99:00",
        "2026-02-30 10:00",
        "2026-13-01 10:00",
        "26-11-26 10:00",
        "2026-11-26 10",
        "2026-11-26 10:5",
        "tomorrow 23:45",
        "",
        None,
    ],
)
def test_parse_refuses(text):
    with pytest.raises(ValueError):
        broadcast_parse(text)


@pytest.mark.parametrize(
    ("moment", "clock", "broadcast"),
    [
        (datetime(2026, 11, 27, 1, 30, tzinfo=JST), "2026-11-27 01:30", "2026-11-26 25:30"),
        (datetime(2026, 11, 27, 0, 0, tzinfo=JST), "2026-11-27 00:00", "2026-11-26 24:00"),
        (datetime(2026, 11, 27, 4, 59, tzinfo=JST), "2026-11-27 04:59", "2026-11-26 28:59"),
        (datetime(2027, 1, 1, 2, 0, tzinfo=JST), "2027-01-01 02:00", "2026-12-31 26:00"),
        (datetime(2026, 11, 27, 5, 0, tzinfo=JST), "2026-11-27 05:00", None),
        (datetime(2026, 11, 26, 23, 45, tzinfo=JST), "2026-11-26 23:45", None),
        (datetime(2026, 11, 26, 16, 30, tzinfo=UTC), "2026-11-27 01:30", "2026-11-26 25:30"),
    ],
)
def test_format_shows_clock_and_broadcast_forms(moment, clock, broadcast):
    assert clock_format(moment) == clock
    assert broadcast_format(moment) == broadcast


@pytest.mark.parametrize("text", ["2026-11-26 25:30", "2026-11-26 23:45", "2026-11-26 24:00", "2026-11-26 28:59"])
def test_round_trip(text):
    moment = broadcast_parse(text)
    shown = broadcast_format(moment) or clock_format(moment)

    assert shown == text
    assert broadcast_parse(clock_format(moment)) == moment


def test_every_minute_of_a_broadcast_night_round_trips():
    start = datetime(2026, 11, 26, 18, 0, tzinfo=JST)
    for minutes in range(0, 12 * 60):
        moment = start + timedelta(minutes=minutes)

        assert broadcast_parse(clock_format(moment)) == moment
        alt = broadcast_format(moment)
        if alt is not None:
            assert broadcast_parse(alt) == moment


@pytest.mark.parametrize(
    ("title", "folded"),
    [
        ("キメツノヤイバ", "きめつのやいば"),
        ("ｷﾒﾂﾉﾔｲﾊﾞ", "きめつのやいば"),
        ("ポケットモンスター", "ぽけっともんすたー"),
        ("ヴァイオレット・エヴァーガーデン", "ゔぁいおれっと・えゔぁーがーでん"),
        ("ＡＢＣ　ＮＥＷＳ", "abc news"),
        ("Straße", "strasse"),
        ("ＳＰＹ×ＦＡＭＩＬＹ", "spy×family"),
        ("①②③", "123"),
        ("  鬼滅の刃  ", "鬼滅の刃"),
        ("けいおん！", "けいおん!"),
        ("", ""),
    ],
)
def test_title_normalize(title, folded):
    assert title_normalize(title) == folded


def test_title_normalize_folds_kana_both_ways_to_the_same_key():
    assert title_normalize("かぐや様") == title_normalize("カグヤ様") == title_normalize("ｶｸﾞﾔ様")
    assert title_normalize(None) == ""


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01 00:00",
        "1900-01-01 00:00",
        "1999-12-31 23:59",
        "2100-01-01 00:01",
        "2099-12-31 24:01",
        "9999-12-31 23:59",
        "9999-12-31 29:59",
    ],
)
def test_parse_refuses_times_outside_2000_to_2100(text):
    with pytest.raises(OutOfWindow):
        broadcast_parse(text)
