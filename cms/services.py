"""Editorial writes: validate, save to the content store, enqueue follow-up work."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import replace
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ulid import ULID

from . import domain, program_index, validation
from .enqueue import task_send
from .signals import content_changed
from .store import cascade
from .store import episodes as episode_store
from .store import programs as program_store
from .store import seasons as season_store
from .store.errors import AlreadyExists, ItemTooLarge, NotFound, NotUnique, StaleVersion

STALE_MESSAGE = gettext_lazy(
    "This item was changed by someone else since you opened it. Your input is kept below, next to what they saved."
)


logger = logging.getLogger(__name__)
KINDS = {domain.Program: "program", domain.Season: "season", domain.Episode: "episode"}


def _content_changed(obj: domain.Program | domain.Season | domain.Episode, user: str, *, deleted: bool = False) -> None:
    """Announce a stored write (or delete) of `obj` at `obj.version` to whoever keeps derived data."""
    program_id = obj.id if isinstance(obj, domain.Program) else obj.program_id
    items = [(KINDS[type(obj)], obj.id, obj.version, deleted)]
    # The write is stored: a failing receiver is logged (by send_robust), never turned into an error page.
    content_changed.send_robust(sender=type(obj), program_id=program_id, items=items, user=user)


def _program_listed(program: domain.Program, *, deleted: bool = False) -> None:
    """Bring the SQL program list up to date with a stored program write (or delete)."""
    # The write is stored: a failure here is logged, never turned into an error, and the sweep repairs the list.
    try:
        if deleted:
            program_index.entry_delete(program.id)
        else:
            program_index.entry_save(program)
    except Exception:
        logger.exception("Program %s not brought up to date in the program list; the sweep will", program.id)


def new_id() -> str:
    """A fresh, never reused, time-ordered id."""
    return str(ULID())


def _request_token(save_token: str | None, item_id: str, version: int | None, fields: dict) -> str | None:
    """The token of one save: the form it came from, the item and version it read, and what it sends.

    Sent again (a retry after a lost answer, a second click), the same save is applied once and answers
    success; the same form sent with other values or against another version is another save.
    """
    if save_token is None:
        return None
    sent = repr((save_token, item_id, version, sorted(fields.items())))
    return hashlib.sha256(sent.encode()).hexdigest()[:32]


@contextlib.contextmanager
def _store_errors():
    """Turn store refusals into form-friendly validation errors."""
    try:
        yield
    except NotUnique as exc:
        messages = {
            "slug": _("Another program already uses this slug."),
            "number": _("This season already has an episode with this number."),
        }
        raise ValidationError({exc.field: messages[exc.field]}) from exc
    except StaleVersion as exc:
        raise ValidationError(STALE_MESSAGE, code="stale") from exc
    except AlreadyExists as exc:
        # A new item's id is its form's token: the same form was saved before, with other values.
        raise ValidationError(_("This form was saved already. Open the item from the list to change it.")) from exc
    except ItemTooLarge as exc:
        raise ValidationError({exc.field: _("Too large to store: the whole item must stay under 400 KB.")}) from exc
    except NotFound as exc:
        if exc.args == ("parent",):
            raise ValidationError(_("The program or season this belongs to no longer exists.")) from exc
        raise


def _stamp(obj, user: str):
    return replace(obj, updated_at=datetime.now(UTC).replace(microsecond=0), updated_by=user)


def _image_save(upload, folder: str, field: str) -> str:
    # Name and content type come from the decoded picture, never from what the browser sent.
    image = validation.image_clean(upload, field)
    content = ContentFile(image.data)
    content.content_type = image.content_type  # django-storages sends it to S3 as the object's type
    return default_storage.save(f"{folder}/{new_id()}.{image.extension}", content)


@contextlib.contextmanager
def _image_rollback(name: str | None):
    """Remove a freshly stored image when the content write that references it fails."""
    try:
        yield
    except Exception:
        if name:
            default_storage.delete(name)
        raise


def program_create(*, user: str, key_art_upload=None, save_token: str | None = None, **fields) -> domain.Program:
    """Create a program (validated, slug unique) and store its key art."""
    program = _stamp(domain.Program(id=save_token or new_id(), **fields), user)
    token = _request_token(save_token, program.id, None, fields)
    validation.program_validate(program)
    stored = _image_save(key_art_upload, "key-art", "key_art") if key_art_upload else None
    if stored:
        program.key_art = stored
    with _image_rollback(stored), _store_errors():
        program_store.program_create(program, token=token)
    _program_listed(program)
    _content_changed(program, user)
    return program


def program_update(
    *, program_id: str, version: int, user: str, key_art_upload=None, save_token: str | None = None, **fields
) -> domain.Program:
    """Save changes to a program read at `version`; refuse if it changed since."""
    token = _request_token(save_token, program_id, version, fields)
    current = program_store.program_get(program_id)
    program = _stamp(replace(current, version=version, **fields), user)
    validation.program_validate(program)
    stored = _image_save(key_art_upload, "key-art", "key_art") if key_art_upload else None
    if stored:
        program.key_art = stored
    with _image_rollback(stored), _store_errors():
        program_store.program_update(program, old_slug=current.slug, token=token)
    _program_listed(program)
    _content_changed(program, user)
    return program


def program_delete(*, program_id: str, version: int, user: str) -> None:
    """Hide a program at once and let a worker remove its seasons and episodes."""
    program = replace(program_store.program_get(program_id), version=version)
    with _store_errors():
        program_store.program_mark_deleted(_stamp(program, user))
    _program_listed(program, deleted=True)
    _content_changed(program, user, deleted=True)
    try:
        task_send("cms.tasks.program_purge", program_id)
    except Exception:
        # The program is hidden already; the beat sweep of deleted programs finishes the purge.
        logger.warning(
            "Purge of program %s not queued; the deleted-programs sweep will do it", program_id, exc_info=True
        )


def program_purge(*, program_id: str) -> bool:
    """Remove what is left of a deleted program; True once nothing remains."""
    cascade.program_children_purge(program_id)
    return cascade.program_remove_if_empty(program_id)


def program_index_sync() -> tuple[int, int, int]:
    """Make the SQL program list match the content store; return how many rows were (added, changed, removed)."""
    return program_index.entries_sync()


def deleted_programs_sweep() -> int:
    """Finish purging every deleted program (after a worker died midway, say)."""
    ids = program_store.programs_deleted_ids()
    for program_id in ids:
        program_purge(program_id=program_id)
    return len(ids)


def season_create(*, user: str, save_token: str | None = None, **fields) -> domain.Season:
    """Create a season in a live program."""
    season = _stamp(domain.Season(id=save_token or new_id(), **fields), user)
    validation.season_validate(season)
    with _store_errors():
        season_store.season_save(season, create=True, token=_request_token(save_token, season.id, None, fields))
    _content_changed(season, user)
    return season


def season_update(*, season_id: str, version: int, user: str, save_token: str | None = None, **fields) -> domain.Season:
    """Save changes to a season read at `version`; its program stays the one it was created in."""
    current = season_store.season_get(season_id)
    if fields.get("program_id", current.program_id) != current.program_id:
        # Its episodes name the program too; moving the season alone would strand them.
        raise ValidationError(
            {"program_id": _("A season's program cannot change; create a new season in the other program.")}
        )
    season = _stamp(replace(current, version=version, **fields), user)
    validation.season_validate(season)
    with _store_errors():
        season_store.season_save(season, create=False, token=_request_token(save_token, season_id, version, fields))
    _content_changed(season, user)
    return season


def season_delete(*, season_id: str, version: int, user: str) -> None:
    """Delete a season that has no episodes left."""
    season = replace(season_store.season_get(season_id), version=version)
    try:
        with _store_errors():
            season_store.season_delete(season)
    except season_store.SeasonNotEmpty as exc:
        raise ValidationError(_("Delete or move this season's episodes first.")) from exc
    _content_changed(season, user, deleted=True)


def episode_create(*, user: str, thumbnail_upload=None, save_token: str | None = None, **fields) -> domain.Episode:
    """Create an episode (number unique in its season) and store its thumbnail."""
    episode = _stamp(domain.Episode(id=save_token or new_id(), **fields), user)
    token = _request_token(save_token, episode.id, None, fields)
    return _episode_save(episode, old=None, upload=thumbnail_upload, token=token)


def episode_update(
    *, episode_id: str, version: int, user: str, thumbnail_upload=None, save_token: str | None = None, **fields
) -> domain.Episode:
    """Save changes to an episode read at `version`."""
    old = episode_store.episode_get(episode_id)
    episode = _stamp(replace(old, version=version, **fields), user)
    token = _request_token(save_token, episode_id, version, fields)
    return _episode_save(episode, old=old, upload=thumbnail_upload, token=token)


def _episode_save(episode: domain.Episode, *, old, upload, token: str | None) -> domain.Episode:
    validation.episode_validate(episode)
    try:
        season = season_store.season_get(episode.season_id)
    except NotFound:
        raise ValidationError({"season_id": _("This season no longer exists.")}) from None
    if season.program_id != episode.program_id:
        raise ValidationError({"season_id": _("Choose a season of this episode's program.")})
    stored = _image_save(upload, "thumbnails", "thumbnail") if upload else None
    if stored:
        episode.thumbnail = stored
    with _image_rollback(stored), _store_errors():
        episode_store.episode_save(episode, old=old, token=token)
    _content_changed(episode, episode.updated_by)
    return episode


def episode_delete(*, episode_id: str, version: int, user: str) -> None:
    """Delete an episode read at `version`."""
    episode = replace(episode_store.episode_get(episode_id), version=version)
    with _store_errors():
        episode_store.episode_delete(episode)
    _content_changed(episode, user, deleted=True)


def content_status_set(*, kind: str, items: list[tuple[str, int]], status: str, user: str) -> tuple[int, int, int]:
    """Publish or unpublish items read at the given versions; return (changed, refused, stale).

    An item changed since its version was read is refused and also counted as stale.
    """
    getters = {
        "program": (program_store.program_get, program_update, "program_id"),
        "season": (season_store.season_get, season_update, "season_id"),
        "episode": (episode_store.episode_get, episode_update, "episode_id"),
    }
    get, update, key = getters[kind]
    changed = refused = stale = 0
    for item_id, version in items:
        try:
            current = get(item_id)
            if current.version != version:
                raise ValidationError(STALE_MESSAGE, code="stale")
            if current.status != status:
                update(**{key: item_id}, version=version, user=user, status=status)
                changed += 1
        except NotFound:
            refused += 1
        except ValidationError as exc:
            refused += 1
            if getattr(exc, "code", None) == "stale":
                stale += 1
    return changed, refused, stale
