"""Published content as of an instant -> canonical JSON bytes (deterministic).

A program's *source* holds everything about it (drafts and future items too), so the
catalog for any instant can be assembled from sources without reading DynamoDB again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from cacheops.chunks import canonical
from cms import domain
from cms.domain import time_parse, time_text

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


def _published_items(sources: Iterable[dict]) -> Iterator[tuple[dict, dict, dict | None]]:
    """(item, its program, its season) for each published item under a published program and season.

    A draft's times change nothing, and neither do those of anything under a draft.
    """
    for source in sources:
        if source["status"] != domain.PUBLISHED:
            continue
        yield source, source, None
        for season in source["seasons"].values():
            if season["status"] != domain.PUBLISHED:
                continue
            yield season, source, season
            for episode in season["episodes"]:
                if episode["status"] == domain.PUBLISHED:
                    yield episode, source, season


def _times_after(item: dict, at: str) -> Iterator[tuple[str, str]]:
    """("publish" or "expire", time) for each of the item's window times after `at` (both as time_text)."""
    for change, field in (("publish", "publish_at"), ("expire", "expire_at")):
        if item[field] and item[field] > at:
            yield change, item[field]


def next_boundary(sources: Iterable[dict], as_of: datetime) -> str | None:
    """The earliest publish_at or expire_at after `as_of`: when the snapshot changes by itself."""
    at = time_text(as_of)
    return min((t for item, _, _ in _published_items(sources) for _, t in _times_after(item, at)), default=None)


def _change(change: str, item: dict, program: dict, season: dict | None) -> dict:
    """What happens to one item at an instant, named as people read it."""
    episode = season is not None and item is not season
    return {
        "change": change,
        "kind": "episode" if episode else "season" if season is not None else "program",
        "id": item["id"],
        "program_id": program["id"],
        "program_title": program["title"],
        "season_title": season["title"] if season is not None else None,
        "title": item["title"],
        "number": item["number"] if episode else None,
    }


def _change_order(entry: dict) -> tuple:
    kinds = ("program", "season", "episode")
    return (
        entry["program_title"], entry["program_id"], kinds.index(entry["kind"]), entry["season_title"] or "",
        entry["number"] or 0, entry["id"], entry["change"],
    )  # fmt: skip


def instants_ahead(sources: Iterable[dict], as_of: datetime, limit: int = 10) -> list[tuple[datetime, list[dict]]]:
    """The next `limit` instants after `as_of` at which the snapshot changes by itself, earliest first, each with
    what starts or ends there; the items counted are those next_boundary counts."""
    at = time_text(as_of)
    found: dict[str, list[dict]] = {}
    for item, program, season in _published_items(sources):
        for change, t in _times_after(item, at):
            found.setdefault(t, []).append(_change(change, item, program, season))
    return [(time_parse(t), sorted(found[t], key=_change_order)) for t in sorted(found)[:limit]]
