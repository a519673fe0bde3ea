"""Deterministic demo content: programs, seasons and episodes generated from a seed."""

# Times are relative to a reference instant: "now" floored to the hour (UTC) unless given.
# The same seed and reference give identical content, so reruns within one clock hour match.
# No publish or expire time falls within GUARD_BEFORE / GUARD_AFTER of the reference, so the
# set of live items does not change for at least an hour after seeding.

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

from ulid import ULID

from cms import domain

JST = timezone(timedelta(hours=9))
GUARD_BEFORE = timedelta(hours=2)
GUARD_AFTER = timedelta(hours=3)
ID_EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z: demo ids carry a fixed, plausible time.
SYNOPSIS_CHARS = (110, 170)
AUTHOR = "demo"

# Word lists, title patterns and per-genre shapes are data: they live in vocabulary.json.
# shapes: genre -> (seasons, episodes per season, days between episodes, duration range in seconds);
# slots: airtimes in minutes after midnight JST (past 24:00 is the next morning).
WORDS = SimpleNamespace(**json.loads(Path(__file__).with_name("vocabulary.json").read_text(encoding="utf-8")))


@dataclass
class DemoContent:
    programs: list[domain.Program] = field(default_factory=list)
    seasons: list[domain.Season] = field(default_factory=list)
    episodes: list[domain.Episode] = field(default_factory=list)


def hour_floor(now: datetime | None = None) -> datetime:
    """Return `now` (default: the current time) in UTC, floored to the hour."""
    return (now or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def demo_generate(*, seed: int, programs: int, now: datetime | None = None) -> DemoContent:
    """Generate `programs` programs with seasons and episodes, identical for the same seed and hour."""
    rng = random.Random(seed)
    reference = hour_floor(now)
    titles = _Titles(rng)
    content = DemoContent()
    for index in range(programs):
        # One sub-generator per program: program k is the same whatever the total count.
        _program_add(content, random.Random(rng.getrandbits(64)), index, titles, reference)
    return content


def _kind(rng: random.Random, index: int) -> str:
    # The first programs cover the states a demo must always show.
    forced = {0: "live", 1: "draft", 2: "expired", 3: "scheduled"}
    if index in forced:
        return forced[index]
    return rng.choices(("live", "ending", "draft", "expired", "scheduled"), (80, 5, 5, 5, 5))[0]


class _Titles:
    """Draw titles without repeats from pools shuffled once per seed."""

    def __init__(self, rng: random.Random):
        generic = [
            (f"{a}の{b}", f"{ka}の{kb}", f"{ea} {eb}") for a, ka, ea in WORDS.modifiers for b, kb, eb in WORDS.nouns
        ]
        generic += [
            (f"{a}・{b}", f"{a}・{b}", f"{ea} {eb}") for a, ea in WORDS.katakana for b, eb in WORDS.katakana_nouns
        ]
        self.pools = {"generic": generic}
        for genre, words in WORDS.genre_words.items():
            self.pools[genre] = [(a + w, ka + kw, f"{ea} {ew}") for a, ka, ea in WORDS.modifiers for w, kw, ew in words]
        for pool in self.pools.values():
            rng.shuffle(pool)
        self.used = {name: 0 for name in self.pools}
        self.slugs: set[str] = set()

    def draw(self, genre: str, english_title: bool) -> tuple[str, str, str, str]:
        """Return (title, title_kana, English title, unique slug)."""
        name = genre if genre in self.pools else "generic"
        pool, count = self.pools[name], self.used[name]
        self.used[name] += 1
        title, kana, english = pool[count % len(pool)]
        english = english.replace("-", " ")
        if count >= len(pool):
            sequel = count // len(pool) + 1
            title, kana, english = f"{title}{sequel}", f"{kana}{sequel}", f"{english} {sequel}"
        if english_title and "・" in title:
            title = english
        slug = base = re.sub(r"[^a-z0-9]+", "-", english.lower()).strip("-")
        suffix = 2
        while slug in self.slugs:
            slug, suffix = f"{base}-{suffix}", suffix + 1
        self.slugs.add(slug)
        return title, kana, english, slug


class _Ids:
    """ULIDs from the program's generator: same seed, same ids."""

    def __init__(self, rng: random.Random, index: int):
        self.rng, self.ms = rng, ID_EPOCH_MS + index * 3_600_000

    def __call__(self) -> str:
        self.ms += 1
        return str(ULID.from_bytes(self.ms.to_bytes(6, "big") + self.rng.randbytes(10)))


def _clear(moment: datetime, reference: datetime) -> datetime:
    """Move a boundary out of the guard window around the reference instant."""
    if reference - GUARD_BEFORE < moment < reference + GUARD_AFTER:
        return reference - GUARD_BEFORE if moment < reference else reference + GUARD_AFTER
    return moment


def _program_add(content: DemoContent, rng: random.Random, index: int, titles: _Titles, reference: datetime):
    kind = _kind(rng, index)
    genre = rng.choice(domain.GENRES)
    title, kana, english, slug = titles.draw(genre, english_title=rng.random() < 0.3)
    new_id = _Ids(rng, index)
    cast = [rng.choice(WORDS.family) + g for g in rng.sample(WORDS.given, rng.randint(3, 6))]
    words = _words(rng, cast)
    style = "story" if genre in WORDS.story_genres else genre
    description = WORDS.descriptions[style].format(label=WORDS.description_labels[genre], **words)
    if title != english:
        description += f"（英題：{english}）"
    midnight = reference.astimezone(JST).replace(hour=0)
    slot = rng.choice(WORDS.slots)

    def airtime(day: int) -> datetime:
        return _clear((midnight + timedelta(days=day, minutes=slot)).astimezone(UTC), reference)

    seasons_range, episodes_range, interval, _durations = WORDS.shapes[genre]
    counts = [rng.randint(*episodes_range) for _ in range(rng.randint(*seasons_range))]
    starts = _season_starts(rng, kind, counts, interval)
    program = domain.Program(
        id=new_id(),
        slug=slug,
        title=title,
        title_kana=kana,
        description=description,
        genre=genre,
        sort_order=(index + 1) * 10,
        status=domain.DRAFT if kind == "draft" else domain.PUBLISHED,
        publish_at=airtime(starts[0]) if kind != "draft" or rng.random() < 0.5 else None,
        updated_at=reference,
        updated_by=AUTHOR,
    )
    if kind == "expired":
        program.expire_at = _clear(midnight.astimezone(UTC) - timedelta(days=rng.randint(1, 45)), reference)
    elif kind == "ending":
        program.expire_at = _clear(midnight.astimezone(UTC) + timedelta(days=rng.randint(3, 60)), reference)
    content.programs.append(program)
    tags = [WORDS.genre_labels[genre], *rng.sample(WORDS.tags, rng.randint(0, 2))]
    for number, (start, count) in enumerate(zip(starts, counts, strict=True), 1):
        season = domain.Season(
            id=new_id(),
            program_id=program.id,
            title=_season_title(genre, number, airtime(start)),
            sort_order=number * 10,
            status=program.status,
            updated_at=reference,
            updated_by=AUTHOR,
        )
        if start > 0 and kind in ("live", "ending"):
            season.publish_at = airtime(start)  # an announced next season
        content.seasons.append(season)
        for n in range(1, count + 1):
            content.episodes.append(
                _episode(rng, new_id, program, season, number, n, airtime(start + (n - 1) * interval), tags, cast)
            )
        _drafts_and_expiry(rng, content.episodes[-count:], genre, kind, reference)


def _season_starts(rng: random.Random, kind: str, counts: list[int], interval: int) -> list[int]:
    """Day offsets (from the reference day) of each season's first airtime, oldest first."""
    last = counts[-1]
    if kind in ("scheduled", "draft"):
        first = rng.randint(1, 14) if kind == "scheduled" else rng.randint(15, 90)
        starts = [first]
        for previous in counts[:-1]:
            starts.append(starts[-1] + previous * interval + 7 * rng.randint(4, 12))
        return starts
    if kind == "expired":
        final = -rng.randint(60, 400) - (last - 1) * interval
    elif rng.random() < 0.35 and last > 1:
        aired = rng.randint(1, last - 1)  # on air now: some episodes are still to come
        final = -rng.randint(1, max(interval, 1)) - (aired - 1) * interval
    elif len(counts) > 1 and rng.random() < 0.2:
        final = rng.randint(7, 60)  # the next season is announced
    else:
        final = -rng.randint(3, 200) - (last - 1) * interval
    starts = [final]
    for count in reversed(counts[:-1]):
        gap = 1 if interval == 1 else 7 * rng.randint(8, 26)
        starts.insert(0, starts[0] - gap - (count - 1) * interval)
    return starts


def _words(rng: random.Random, cast: list[str]) -> dict[str, str]:
    a, b = rng.sample(cast, 2)
    team_a, team_b = rng.sample(WORDS.teams, 2)
    return {
        "a": a,
        "b": b,
        "place": rng.choice(WORDS.places),
        "thing": rng.choice(WORDS.things),
        "team_a": team_a,
        "team_b": team_b,
    }


def _season_title(genre: str, number: int, first_airtime: datetime) -> str:
    if genre in ("news", "variety", "sports", "music"):
        return f"{first_airtime.astimezone(JST).year}年シリーズ（第{number}期）"
    if genre == "movie":
        return "本編"
    return f"第{number}期" if genre == "anime" else f"シーズン{number}"


def _episode(rng, new_id, program, season, season_number, n, publish_at, tags, cast) -> domain.Episode:
    genre = program.genre
    local = publish_at.astimezone(JST)
    if genre == "news":
        title = f"{local.year}年{local.month}月{local.day}日放送"
    elif genre == "sports":
        team_a, team_b = rng.sample(WORDS.teams, 2)
        title = f"第{n}節 {team_a} vs {team_b}"
    elif genre == "movie":
        title = program.title if n == 1 else f"特典映像{n - 1}"
    else:
        title = (
            f"第{n}話「{rng.choice(WORDS.subtitles)}」"
            if genre in WORDS.story_genres
            else f"#{n} {rng.choice(WORDS.show_subtitles[genre])}"
        )
    low, high = WORDS.shapes[genre][3]
    minutes = rng.randint(5, 20) if genre == "movie" and n > 1 else rng.randint(low // 60, high // 60)
    return domain.Episode(
        id=new_id(),
        program_id=program.id,
        season_id=season.id,
        number=n,
        title=title,
        synopsis=_synopsis(rng, genre, cast),
        duration_s=minutes * 60,
        video_url=f"https://stream.airtime.example/hls/{program.slug}/s{season_number:02d}e{n:03d}/master.m3u8",
        tags=list(tags),
        cast=rng.sample(cast, min(len(cast), rng.randint(2, 4))),
        status=season.status,
        publish_at=publish_at,
        updated_at=program.updated_at,
        updated_by=AUTHOR,
    )


def _synopsis(rng: random.Random, genre: str, cast: list[str]) -> str:
    bank = WORDS.sentences["story" if genre in WORDS.story_genres else genre]
    target = rng.randint(*SYNOPSIS_CHARS)
    text = ""
    for sentence in rng.sample(bank, len(bank)):
        text += sentence.format(**_words(rng, cast))
        if len(text) >= target:
            break
    return text


def _drafts_and_expiry(rng, episodes: list[domain.Episode], genre: str, kind: str, reference: datetime) -> None:
    """Mark unfinished future episodes as drafts and let catch-up episodes expire."""
    future = [e for e in episodes if e.publish_at > reference]
    if kind in ("live", "ending") and future and rng.random() < 0.5:
        for episode in future[-rng.randint(1, min(2, len(future))) :]:
            episode.status = domain.DRAFT
    if genre == "news":
        # NOTE: news stays available for 90 days after airing, so old bulletins drop out.
        for episode in episodes:
            episode.expire_at = _clear(episode.publish_at + timedelta(days=90), reference)
