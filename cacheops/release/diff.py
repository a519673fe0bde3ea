"""What changes between two catalog bodies: programs and episodes added, removed and changed, by title."""

from __future__ import annotations

import orjson

# The console shows this many programs or episodes per kind of change; the counts stay exact.
DIFF_ITEMS = 100


def _programs(body: bytes) -> dict[str, dict]:
    return {program["id"]: program for program in orjson.loads(body)["programs"]}


def _program_view(program: dict) -> dict:
    """A program without its episodes: what makes the program itself changed."""
    seasons = [{k: v for k, v in season.items() if k != "episodes"} for season in program["seasons"]]
    return {**program, "seasons": seasons}


def _episodes(programs: dict[str, dict]) -> dict[str, tuple[dict, dict]]:
    """Each episode with its program's id and title only: a sibling's change must not mark it changed."""
    return {e["id"]: (_program_label(p), e) for p in programs.values() for s in p["seasons"] for e in s["episodes"]}


def _compare(old: dict, new: dict, label) -> dict:
    """Added, removed and changed ids between two {id: value} maps, each with its count and labelled items."""
    common = old.keys() & new.keys()
    found = {
        "added": [label(new[k]) for k in new.keys() - old.keys()],
        "removed": [label(old[k]) for k in old.keys() - new.keys()],
        "changed": [label(new[k]) for k in common if old[k] != new[k]],
    }
    return {
        kind: {"count": len(items), "items": sorted(items, key=lambda i: (i.get("program_title", ""), i["title"]))[
            :DIFF_ITEMS
        ]}
        for kind, items in found.items()
    }  # fmt: skip


def _program_label(program: dict) -> dict:
    return {"id": program["id"], "title": program["title"]}


def _episode_label(pair: tuple[dict, dict]) -> dict:
    program, episode = pair
    return {
        "id": episode["id"],
        "title": episode["title"],
        "number": episode["number"],
        "program_id": program["id"],
        "program_title": program["title"],
    }


def catalog_diff(before: bytes, after: bytes, against: str = "") -> dict:
    """What changes from catalog body `before` (version `against`) to `after`: programs and episodes."""
    old, new = _programs(before), _programs(after)
    return {
        "against": against,
        "programs": _compare(
            {k: _program_view(p) for k, p in old.items()}, {k: _program_view(p) for k, p in new.items()}, _program_label
        ),
        "episodes": _compare(_episodes(old), _episodes(new), _episode_label),
    }
