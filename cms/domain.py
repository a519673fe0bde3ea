"""Plain content types: Program, Season, Episode (no Django, no DynamoDB)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Instants as stored in DynamoDB and published in snapshots and manifests: UTC, ISO 8601, with a Z.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

DRAFT = "draft"
PUBLISHED = "published"
STATUSES = (DRAFT, PUBLISHED)

GENRES = ("drama", "anime", "variety", "documentary", "news", "sports", "music", "kids", "movie")

# Ids are ULIDs (26 Crockford base32 characters) or uuid4 strings; nothing else names an item.
_ID = re.compile(
    r"[0-7][0-9A-HJKMNP-TV-Z]{25}"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
)

# Katakana U+30A1..U+30F6 sit exactly 0x60 above their hiragana twins.
_KATAKANA_TO_HIRAGANA = {cp: cp - 0x60 for cp in range(0x30A1, 0x30F7)}


def id_valid(value: str) -> bool:
    """Tell whether `value` has the shape of an item id."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def time_text(value: datetime | None) -> str | None:
    """Format an aware datetime as stored and published (2026-11-26T14:45:00Z)."""
    return value.astimezone(UTC).strftime(TIME_FORMAT) if value else None


def time_parse(text: str | None) -> datetime | None:
    """Parse a time written by time_text."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC) if text else None


def title_normalize(text: str) -> str:
    """Fold a title for prefix search: NFKC, case folding, katakana to hiragana."""
    folded = unicodedata.normalize("NFKC", text or "").casefold().strip()
    return folded.translate(_KATAKANA_TO_HIRAGANA)


@dataclass
class Program:
    id: str
    slug: str
    title: str
    title_kana: str = ""
    description: str = ""
    genre: str = ""
    key_art: str = ""
    sort_order: int = 0
    status: str = DRAFT
    publish_at: datetime | None = None
    expire_at: datetime | None = None
    version: int | None = None
    updated_at: datetime | None = None
    updated_by: str = ""
    deleted: bool = False


@dataclass
class Season:
    id: str
    program_id: str
    title: str
    sort_order: int = 0
    status: str = DRAFT
    publish_at: datetime | None = None
    expire_at: datetime | None = None
    version: int | None = None
    updated_at: datetime | None = None
    updated_by: str = ""


@dataclass
class Episode:
    id: str
    program_id: str
    season_id: str
    number: int
    title: str
    synopsis: str = ""
    duration_s: int = 0
    thumbnail: str = ""
    video_url: str = ""
    tags: list[str] = field(default_factory=list)
    cast: list[str] = field(default_factory=list)
    status: str = DRAFT
    publish_at: datetime | None = None
    expire_at: datetime | None = None
    version: int | None = None
    updated_at: datetime | None = None
    updated_by: str = ""


@dataclass
class Tally:
    """How many items a list holds, or at least how many when counting all of them would cost too much."""

    count: int
    at_least: bool = False


@dataclass
class Page:
    """One page of a list plus opaque positions of its neighbours."""

    items: list
    next_cursor: str | None = None
    prev_cursor: str | None = None
    total: Tally | None = None
