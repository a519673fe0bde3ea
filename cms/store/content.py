"""Bulk reads of published-content sources: one program by Query, or everything by parallel Scan."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from cms import domain

from .convert import episode_from_item, program_from_item, season_from_item
from .episodes import episodes_of_program
from .errors import NotFound
from .models import EpisodeItem, ProgramItem, SeasonItem
from .programs import program_get
from .seasons import seasons_of_program

Content = tuple[list[domain.Program], list[domain.Season], list[domain.Episode]]


def program_content(program_id: str) -> Content:
    """One live program with all its seasons and episodes (Queries only); empty if gone."""
    try:
        program = program_get(program_id)
    except NotFound:
        return [], [], []
    return [program], seasons_of_program(program_id), episodes_of_program(program_id)


def _scan(model, convert, segment: int, total: int) -> list:
    return [convert(item) for item in model.scan(segment=segment, total_segments=total, page_size=500)]


def content_scan(segments: int = 4) -> Content:
    """Every live program, season and episode, scanning each table in parallel segments."""
    jobs = [
        (model, convert, segment)
        for model, convert in (
            (ProgramItem, program_from_item),
            (SeasonItem, season_from_item),
            (EpisodeItem, episode_from_item),
        )
        for segment in range(segments)
    ]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        parts = list(pool.map(lambda job: (job[0], _scan(job[0], job[1], job[2], segments)), jobs))
    by_model = {model: [] for model in (ProgramItem, SeasonItem, EpisodeItem)}
    for model, items in parts:
        by_model[model].extend(items)
    programs = [p for p in by_model[ProgramItem] if not p.deleted]
    return programs, by_model[SeasonItem], by_model[EpisodeItem]
