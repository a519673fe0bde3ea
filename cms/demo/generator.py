"""Deterministic demo content: programs, seasons and episodes generated from a seed."""

# Times are relative to a reference instant: "now" floored to the hour (UTC) unless given.
# The same seed and reference give identical content, so reruns within one clock hour match.
# No publish or expire time falls within GUARD_BEFORE / GUARD_AFTER of the reference, so the
# set of live items does not change for at least an hour after seeding.

from __future__ import annotations

import base64
import functools
import json
import random
import re
import string
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
# With the media URLs below, 360 programs give a catalog of ~10 MB that gzip shrinks ~3.6 times, as a real one.
SYNOPSIS_CHARS = (60, 110)
CONNECTIVE_SHARE = 0.3
AUTHOR = "demo"
# Media URLs look like a CDN's: a content hash in the path and a signed, expiring token.
IMAGE_CDN = "https://img.example-cdn.jp"
VIDEO_CDN = "https://vod.example-cdn.jp"
HASH_BYTES = 20  # as long as a SHA-1
TOKEN_BYTES = 32  # as long as an HMAC-SHA256
TOKEN_TTL = timedelta(days=7)
SIGNING_SPREAD_S = 3600
KEY_ART_SIZES = ((1920, 1080), (2560, 1440), (1000, 1500))
THUMBNAIL_SIZES = ((640, 360), (1280, 720), (1920, 1080))

# Word lists, title patterns and per-genre shapes are data: they live in vocabulary.json.
# shapes: genre -> (seasons, episodes per season, days between episodes, duration range in seconds);
# slots: airtimes in minutes after midnight JST (past 24:00 is the next morning).
# synopses: per style, sentence templates whose {fields} are filled from the lists (see SLOTS).
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
    # Text has a generator of its own, so richer wording never moves the schedule.
    writer = _Writer(random.Random(rng.getrandbits(64)), genre, reference)
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
        description=writer.description(title, english),
        genre=genre,
        key_art=writer.image_url("key-art", KEY_ART_SIZES),
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
    tags = writer.tags([WORDS.genre_labels[genre]])
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
                _episode(rng, writer, new_id, program, season, number, n, airtime(start + (n - 1) * interval), tags)
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


def _season_title(genre: str, number: int, first_airtime: datetime) -> str:
    if genre in ("news", "variety", "sports", "music"):
        return f"{first_airtime.astimezone(JST).year}年シリーズ（第{number}期）"
    if genre == "movie":
        return "本編"
    return f"第{number}期" if genre == "anime" else f"シーズン{number}"


def _episode(rng, writer, new_id, program, season, season_number, n, publish_at, tags) -> domain.Episode:
    genre = program.genre
    low, high = WORDS.shapes[genre][3]
    return domain.Episode(
        id=new_id(),
        program_id=program.id,
        season_id=season.id,
        number=n,
        title=writer.episode_title(program.title, n, publish_at),
        synopsis=writer.synopsis(),
        duration_s=rng.randint(300, 1200) if genre == "movie" and n > 1 else rng.randint(low, high),
        thumbnail=writer.image_url("thumbnails", THUMBNAIL_SIZES),
        video_url=writer.video_url(program.slug, season_number, n),
        tags=writer.tags(tags),
        cast=writer.episode_cast(),
        status=season.status,
        publish_at=publish_at,
        updated_at=program.updated_at,
        updated_by=AUTHOR,
    )


def _choice(name: str):
    return lambda writer: writer.rng.choice(getattr(WORDS, name))


def _number(low: int, high: int, spec: str = ""):
    return lambda writer: format(writer.rng.randint(low, high), spec)


# What fills each {field} of a template; a, b (two of the cast) and team_a, team_b are drawn as pairs.
SLOTS = {
    "place": _choice("places"),
    "place2": _choice("places"),
    "spot": _choice("spots"),
    "thing": _choice("things"),
    "person": _choice("persons"),
    "moment": _choice("moments"),
    "feeling": _choice("feelings"),
    "event": _choice("events"),
    "dish": _choice("dishes"),
    "dish2": _choice("dishes"),
    "topic": _choice("topics"),
    "song": _choice("subtitles"),
    "guest": lambda writer: writer.name(),
    "guest2": lambda writer: writer.name(),
    "years": _number(2, 30),
    "days": _number(2, 60),
    "count": _number(12, 9_800, ","),
    "age": _number(8, 92),
    "hour": _number(1, 12),
    "minute": _number(0, 59, "02d"),
    "n": _number(2, 12),
    "score": lambda writer: "{}対{}".format(*sorted(writer.rng.sample(range(10), 2), reverse=True)),
    "veteran": _number(32, 41),
    "goals": _number(3, 30),
    "crowd": _number(5_000, 55_000, ","),
    "temp": _number(-3, 38),
    "km": _number(12, 1_800, ","),
    "yen": lambda writer: f"{writer.rng.randint(3, 50) * 1000:,}",
    "fx": lambda writer: f"{writer.rng.randint(13_000, 16_000) / 100:.2f}",
}


@functools.cache
def _fields(template: str) -> tuple[str, ...]:
    """The distinct field names of `template` in order of appearance, so draws never depend on set order."""
    return tuple(dict.fromkeys(name for _, name, _, _ in string.Formatter().parse(template) if name))


class _Writer:
    """What editors write about one program and its episodes, drawn from the program's own generator."""

    def __init__(self, rng: random.Random, genre: str, reference: datetime):
        self.rng, self.genre = rng, genre
        self.style = "story" if genre in WORDS.story_genres else genre
        self.signed_until = int((reference + TOKEN_TTL).timestamp())
        self.cast: list[str] = []
        for _ in range(rng.randint(3, 6)):
            self.cast.append(self._newcomer(self.cast))

    def name(self) -> str:
        """A full name: a family name and a given name from the lists."""
        return self.rng.choice(WORDS.family) + self.rng.choice(WORDS.given)

    def _newcomer(self, taken: list[str]) -> str:
        while (name := self.name()) in taken:
            pass
        return name

    def fill(self, template: str, **given: str) -> str:
        """Fill every {field} of `template`, drawing what `given` does not supply."""
        names = _fields(template)
        values = dict(given)
        if "a" in names or "b" in names:
            values["a"], values["b"] = self.rng.sample(self.cast, 2)
        if "team_a" in names or "team_b" in names:
            values["team_a"], values["team_b"] = self.rng.sample(WORDS.teams, 2)
        for name in names:
            if name not in values:
                values[name] = SLOTS[name](self)
        return template.format_map(values)

    def description(self, title: str, english: str) -> str:
        """The program's description: its genre's opening and two sentences of the kind its synopses use."""
        text = self.fill(WORDS.descriptions[self.style], label=WORDS.description_labels[self.genre])
        text += "".join(self.fill(t) for t in self.rng.sample(WORDS.synopses[self.style], 2))
        return text + (f"（英題：{english}）" if title != english else "")

    def synopsis(self) -> str:
        """Sentences of the genre's templates, in random order, until the drawn length is reached."""
        bank = WORDS.synopses[self.style]
        target = self.rng.randint(*SYNOPSIS_CHARS)
        text = ""
        for template in self.rng.sample(bank, len(bank)):
            sentence = self.fill(template)
            if text and template.startswith(("{a}", "{b}")) and self.rng.random() < CONNECTIVE_SHARE:
                sentence = self.rng.choice(WORDS.connectives) + sentence
            text += sentence
            if len(text) >= target:
                break
        return text

    def episode_title(self, program_title: str, n: int, publish_at: datetime) -> str:
        """An episode title in the genre's style."""
        if self.genre == "news":
            local = publish_at.astimezone(JST)
            return f"{local.year}年{local.month}月{local.day}日放送"
        if self.genre == "sports":
            return f"第{n}節 " + self.fill("{team_a} vs {team_b}")
        if self.genre == "movie":
            return program_title if n == 1 else f"特典映像{n - 1}"
        if self.genre in WORDS.story_genres:
            return f"第{n}話「{self.rng.choice(WORDS.subtitles)}」"
        return f"#{n} {self.fill(self.rng.choice(WORDS.show_subtitles[self.genre]))}"

    def episode_cast(self) -> list[str]:
        """Some of the regular cast, then a guest or two now and then."""
        cast = self.rng.sample(self.cast, min(len(self.cast), self.rng.randint(2, 4)))
        for _ in range(self.rng.choice((0, 0, 1, 2))):
            cast.append(self._newcomer(cast))
        return cast

    def tags(self, base: list[str]) -> list[str]:
        """`base` and up to two more tags."""
        return base + [t for t in self.rng.sample(WORDS.tags, self.rng.randint(0, 2)) if t not in base]

    def image_url(self, folder: str, sizes: tuple[tuple[int, int], ...]) -> str:
        """A WebP rendition on the image CDN, with a signed query string."""
        width, height = self.rng.choice(sizes)
        return f"{IMAGE_CDN}/{folder}/{self._hash()}/{width}x{height}.webp?token={self._token()}&exp={self._expiry()}"

    def video_url(self, slug: str, season_number: int, n: int) -> str:
        """An HLS master playlist on the video CDN."""
        # Players resolve segment URLs against the playlist's path and drop its query string, so
        # the signature rides in the path and the URL still ends in .m3u8.
        signature = f"token={self._token()}~exp={self._expiry()}"
        return f"{VIDEO_CDN}/hls/{slug}/s{season_number:02d}e{n:03d}/{signature}/master.m3u8"

    def _hash(self) -> str:
        return self.rng.randbytes(HASH_BYTES).hex()

    def _token(self) -> str:
        return base64.urlsafe_b64encode(self.rng.randbytes(TOKEN_BYTES)).rstrip(b"=").decode()

    def _expiry(self) -> int:
        # A signer working through a catalog signs over a while, not in one instant.
        return self.signed_until + self.rng.randrange(SIGNING_SPREAD_S)


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
