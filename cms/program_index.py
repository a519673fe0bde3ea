"""The program list in SQL: one row per live program, so pickers and list labels never read every program
from DynamoDB. Saves keep it current; entries_sync repairs whatever a failed or missed save left behind."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q

from . import domain
from .kana import plain_sort_text, reading_prefix_text, reading_sort_text
from .models import ProgramEntry
from .store import programs as program_store

# NOTE: a btree index entry holds at most 2704 bytes on PostgreSQL. The reading is cut so that it and the
# id's digits fit the column: readings alike for the first ~90 characters are then in id order.
READING_MAX = ProgramEntry._meta.get_field("reading").max_length
_ID_DIGITS_MAX = 6 * ProgramEntry._meta.get_field("id").max_length + 1
_BIGINT = (-(2**63), 2**63 - 1)
_FIELDS = ("title", "title_kana", "reading", "status", "genre", "sort_order", "publish_at", "version", "search_text")
_BATCH = 500


def _text(value: str, field: str) -> str:
    """`value` as the column can hold it: content stored before the rules may be longer or hold NUL."""
    return (value or "").replace("\0", "")[: ProgramEntry._meta.get_field(field).max_length]


def _reading(program: domain.Program) -> str:
    reading = reading_sort_text(program.title_kana or program.title)
    return reading[: READING_MAX - _ID_DIGITS_MAX] + plain_sort_text(program.id)


def _values(program: domain.Program) -> dict:
    """The row of `program`, without its id."""
    return {
        "title": _text(program.title, "title"),
        "title_kana": _text(program.title_kana, "title_kana"),
        "reading": _reading(program),
        "status": _text(program.status, "status"),
        "genre": _text(program.genre, "genre"),
        "sort_order": min(max(program.sort_order or 0, _BIGINT[0]), _BIGINT[1]),
        "publish_at": program.publish_at,
        "version": program.version or 0,
        "search_text": _search_text(program),
    }


def entry_for(program: domain.Program) -> ProgramEntry:
    """The row of `program`, unsaved."""
    return ProgramEntry(id=program.id, **_values(program))


def entry_save(program: domain.Program) -> bool:
    """Write the row of `program` unless the row holds this version or a later one; True if written."""
    values = _values(program)
    newer = ProgramEntry.objects.filter(pk=program.id, version__lt=values["version"])
    with transaction.atomic():
        if newer.update(**values):
            return True
        try:
            with transaction.atomic():
                ProgramEntry.objects.create(id=program.id, **values)
        except IntegrityError:
            # The row exists (or was written meanwhile): it was at this version or later.
            return False
    return True


def entry_delete(program_id: str) -> None:
    """Remove the row of a deleted program."""
    ProgramEntry.objects.filter(pk=program_id).delete()


def entries_sync() -> tuple[int, int, int]:
    """Make the table say what the content store says; return how many rows were (added, changed, removed)."""
    # Rows first: a row a save writes while the store is read is not in `rows`, so it is left alone.
    rows = {row["id"]: row for row in ProgramEntry.objects.values("id", *_FIELDS)}
    stored = {program.id: program for program, _position in program_store.programs_stream(order="title")}
    # The index read may lag a save or a delete (on AWS): a row is only added or taken out once a read by
    # key agrees.
    new = [pid for pid in stored if pid not in rows]
    added = [entry_for(stored[pid]) for pid in program_store.programs_live_ids(new)] if new else []
    ProgramEntry.objects.bulk_create(added, batch_size=_BATCH, ignore_conflicts=True)
    changed = sum(_row_repair(rows[pid], stored[pid]) for pid in stored.keys() & rows.keys())
    missing = sorted(rows.keys() - stored.keys())
    gone = sorted(set(missing) - program_store.programs_live_ids(missing)) if missing else []
    for start in range(0, len(gone), _BATCH):
        ProgramEntry.objects.filter(pk__in=gone[start : start + _BATCH]).delete()
    return len(added), changed, len(gone)


def _row_repair(row: dict, program: domain.Program) -> bool:
    """Rewrite `row` if it differs from `program`, unless a save changed it since it was read."""
    values = _values(program)
    if all(row[name] == values[name] for name in _FIELDS):
        return False
    return bool(ProgramEntry.objects.filter(pk=row["id"], version=row["version"]).update(**values))


def titles(ids: list[str]) -> dict[str, str]:
    """The titles of those of `ids` that have a row."""
    wanted = [pid for pid in dict.fromkeys(ids) if domain.id_valid(pid)]
    return dict(ProgramEntry.objects.filter(pk__in=wanted).values_list("id", "title")) if wanted else {}


def names(ids: list[str]) -> dict[str, tuple[str, str]]:
    """The title and kana reading of those of `ids` that have a row."""
    wanted = [pid for pid in dict.fromkeys(ids) if domain.id_valid(pid)]
    rows = ProgramEntry.objects.filter(pk__in=wanted).values_list("id", "title", "title_kana") if wanted else []
    return {pid: (title, kana) for pid, title, kana in rows}


def matching(term: str):
    """The rows a search for `term` finds, as the admin's program search finds them (all rows for a blank term)."""
    return _searched(ProgramEntry.objects.all(), term)


def choices_search(term: str, page: int, per_page: int = 20) -> tuple[list[tuple[str, str]], bool]:
    """Page `page` (from 1) of programs whose title holds `term` or whose reading starts with it, in reading
    order, as (id, title); and whether another page follows."""
    entries = _searched(ProgramEntry.objects.order_by("reading"), term)
    start = (page - 1) * per_page
    found = list(entries.values_list("id", "title")[start : start + per_page + 1])
    return found[:per_page], len(found) > per_page


def _search_text(program: domain.Program) -> str:
    """Title and kana reading as a search sees them; a newline, which neither holds, keeps them apart."""
    return "\n".join(domain.title_normalize(text.replace("\0", "")) for text in (program.title, program.title_kana))


def _searched(entries, term: str):
    """`entries` narrowed to those matching `term`, unless it is blank."""
    term = term.replace("\0", "").strip()
    return entries.filter(_matching(term)) if term else entries


def _matching(term: str) -> Q:
    """Titles or kana readings holding `term` (width, case and katakana folded), or readings starting with
    its reading (voiced and small kana folded too)."""
    match = Q(search_text__contains=domain.title_normalize(term))
    prefix = reading_prefix_text(term)
    # A term of symbols and spaces only has no reading: every reading would start with it.
    return match | Q(reading__startswith=prefix) if prefix else match


def entry_exists(program_id: str) -> bool:
    """Tell whether `program_id` names a program in the list."""
    return domain.id_valid(program_id) and ProgramEntry.objects.filter(pk=program_id).exists()


def label(program_id: str) -> str | None:
    """The title of program `program_id`, or None when the list has no such program."""
    if not domain.id_valid(program_id):
        return None
    return ProgramEntry.objects.filter(pk=program_id).values_list("title", flat=True).first()


def _listed(*, q: str, status: str, genre: str, after: datetime | None):
    """The rows a list searched by `q` shows, in `status` (and starting after `after`) and `genre` if given."""
    entries = _searched(ProgramEntry.objects.all(), q)
    if status:
        entries = entries.filter(status=status)
    if after:
        entries = entries.filter(publish_at__gt=after)
    if genre:
        entries = entries.filter(genre=genre)
    return entries


def entries_count(*, q: str = "", status: str = "", genre: str = "", after: datetime | None = None) -> int:
    """How many programs the list entries_page pages through holds."""
    return _listed(q=q, status=status, genre=genre, after=after).count()


def entries_page(
    *,
    q: str = "",
    status: str = "",
    genre: str = "",
    after: datetime | None = None,
    order: str = "sort",
    offset: int = 0,
    size: int = 50,
) -> tuple[list[str], bool]:
    """Ids of one page of programs, searched by title or reading and filtered (starting after `after`, if
    given), by sort order or by reading ("title"); and whether another page follows."""
    entries = _listed(q=q, status=status, genre=genre, after=after)
    # The reading ends with the id's digits, so both orders are total and pages never overlap.
    entries = entries.order_by("reading") if order == "title" else entries.order_by("sort_order", "reading")
    ids = list(entries.values_list("id", flat=True)[offset : offset + size + 1])
    return ids[:size], len(ids) > size
