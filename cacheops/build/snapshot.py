"""Published content as of an instant -> canonical JSON bytes (deterministic).

A program's *source* holds everything about it (drafts and future items too), so the
catalog for any instant can be assembled from sources without reading DynamoDB again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from cacheops.chunks import canonical
from cms import domain
from cms.domain import time_text

PROGRAM_FIELDS = ("id", "slug", "title", "title_kana", "description", "genre", "key_art", "sort_order")
SEASON_FIELDS = ("id", "title", "sort_order")
EPISODE_FIELDS = (
    "id", "number", "title", "synopsis", "duration_s", "thumbnail", "video_url", "tags", "cast",
)  # fmt: skip
WINDOW_FIELDS = ("status", "publish_at", "expire_at")


def _fields(obj, names: tuple[str, ...]) -> dict:
    values = {name: getattr(obj, name) for name in names + WINDOW_FIELDS}
    values["publish_at"] = time_text(values["publish_at"])
    values["expire_at"] = time_text(values["expire_at"])
    return values


def sources_build(content) -> dict[str, dict]:
    """Group programs, seasons and episodes into one source per program id."""
    programs, seasons, episodes = content
    sources = {p.id: {**_fields(p, PROGRAM_FIELDS), "seasons": {}} for p in programs}
    for season in seasons:
        if season.program_id in sources:
            sources[season.program_id]["seasons"][season.id] = {**_fields(season, SEASON_FIELDS), "episodes": []}
    for episode in episodes:
        season = sources.get(episode.program_id, {}).get("seasons", {}).get(episode.season_id)
        if season is not None:
            season["episodes"].append(_fields(episode, EPISODE_FIELDS))
    return sources


def is_live(item: dict, at: str) -> bool:
    """Published, and `at` falls in [publish_at, expire_at)."""
    return (
        item["status"] == domain.PUBLISHED
        and (item["publish_at"] is None or item["publish_at"] <= at)
        and (item["expire_at"] is None or at < item["expire_at"])
    )


def _public(item: dict) -> dict:
    return {k: v for k, v in item.items() if k != "status"}


def program_entry(source: dict, as_of: datetime) -> dict | None:
    """The published view of one program's source at `as_of`, or None if it is not live."""
    at = time_text(as_of)
    if not is_live(source, at):
        return None
    seasons = []
    for season in sorted(source["seasons"].values(), key=lambda s: (s["sort_order"], s["id"])):
        if not is_live(season, at):
            continue
        episodes = sorted(
            (_public(e) for e in season["episodes"] if is_live(e, at)), key=lambda e: (e["number"], e["id"])
        )
        seasons.append({**_public({k: v for k, v in season.items() if k != "episodes"}), "episodes": episodes})
    return {**_public({k: v for k, v in source.items() if k != "seasons"}), "seasons": seasons}


def catalog_body(sources: Iterable[dict], as_of: datetime) -> bytes:
    """Every live program at `as_of`, in sort order, as canonical JSON."""
    entries = [entry for source in sources if (entry := program_entry(source, as_of)) is not None]
    entries.sort(key=lambda p: (p["sort_order"], p["id"]))
    return canonical({"programs": entries})


def program_body(source: dict | None, as_of: datetime) -> bytes:
    """One program at `as_of` as canonical JSON (`{"program": null}` when it is not live)."""
    return canonical({"program": program_entry(source, as_of) if source else None})


def next_boundary(sources: Iterable[dict], as_of: datetime) -> str | None:
    """The earliest publish_at or expire_at after `as_of`: when the snapshot changes by itself.

    Only published items count, under a published program and season: a draft's times change nothing.
    """
    at = time_text(as_of)
    times = []

    def count(item: dict) -> bool:
        if item["status"] != domain.PUBLISHED:
            return False
        times.extend(t for t in (item["publish_at"], item["expire_at"]) if t and t > at)
        return True

    for source in sources:
        if not count(source):
            continue
        for season in source["seasons"].values():
            if count(season):
                for episode in season["episodes"]:
                    count(episode)
    return min(times, default=None)
