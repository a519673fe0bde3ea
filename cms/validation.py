"""Content rules, checked once for every way content is written."""

from __future__ import annotations

import re
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from . import domain

SLUG_RE = re.compile(r"^[a-z0-9-]+$")
TITLE_MAX = 200
TEXT_MAX = 4000
LIST_MAX = 50
LIST_ITEM_MAX = 100


def _window(errors: dict, publish_at: datetime | None, expire_at: datetime | None) -> None:
    if publish_at and expire_at and publish_at >= expire_at:
        errors["expire_at"] = _("The end of availability must be after the start.")


def _title(errors: dict, title: str, field: str = "title") -> None:
    if not title.strip():
        errors[field] = _("This field is required.")
    elif len(title) > TITLE_MAX:
        errors[field] = _("Keep this to %(max)d characters or fewer.") % {"max": TITLE_MAX}


def _text(errors: dict, field: str, value: str) -> None:
    if len(value) > TEXT_MAX:
        errors[field] = _("Keep this to %(max)d characters or fewer.") % {"max": TEXT_MAX}


def _status(errors: dict, status: str) -> None:
    if status not in domain.STATUSES:
        errors["status"] = _("Choose draft or published.")


def _raise(errors: dict) -> None:
    if errors:
        raise ValidationError(errors)


def program_validate(program: domain.Program) -> None:
    """Raise ValidationError naming each field of `program` that breaks a rule."""
    errors: dict[str, str] = {}
    _title(errors, program.title)
    if len(program.title_kana) > TITLE_MAX:
        errors["title_kana"] = _("Keep this to %(max)d characters or fewer.") % {"max": TITLE_MAX}
    if not SLUG_RE.match(program.slug) or len(program.slug) > 100:
        errors["slug"] = _("Use lowercase letters, digits and hyphens only (at most 100).")
    if program.genre and program.genre not in domain.GENRES:
        errors["genre"] = _("Choose a genre from the list.")
    if program.sort_order < 0:
        errors["sort_order"] = _("Sort order cannot be negative.")
    _text(errors, "description", program.description)
    _status(errors, program.status)
    _window(errors, program.publish_at, program.expire_at)
    _raise(errors)


def season_validate(season: domain.Season) -> None:
    """Raise ValidationError naming each field of `season` that breaks a rule."""
    errors: dict[str, str] = {}
    _title(errors, season.title)
    if season.sort_order < 0:
        errors["sort_order"] = _("Sort order cannot be negative.")
    _status(errors, season.status)
    _window(errors, season.publish_at, season.expire_at)
    _raise(errors)


def episode_validate(episode: domain.Episode) -> None:
    """Raise ValidationError naming each field of `episode` that breaks a rule."""
    errors: dict[str, str] = {}
    _title(errors, episode.title)
    if episode.number < 1:
        errors["number"] = _("Episode numbers start at 1.")
    if episode.duration_s <= 0:
        errors["duration_s"] = _("Duration must be more than zero seconds.")
    if episode.video_url and not episode.video_url.startswith("https://"):
        errors["video_url"] = _("The video URL must start with https://.")
    _text(errors, "synopsis", episode.synopsis)
    for field in ("tags", "cast"):
        values = getattr(episode, field)
        if len(values) > LIST_MAX or any(len(v) > LIST_ITEM_MAX for v in values):
            errors[field] = _("At most %(count)d entries of %(max)d characters each.") % {
                "count": LIST_MAX,
                "max": LIST_ITEM_MAX,
            }
    _status(errors, episode.status)
    _window(errors, episode.publish_at, episode.expire_at)
    _raise(errors)


def image_validate(upload, field: str) -> None:
    """Accept only a real image no larger than CMS_IMAGE_MAX_BYTES."""
    limit = settings.CMS_IMAGE_MAX_BYTES
    if upload.size > limit:
        raise ValidationError({field: _("Images can be at most %(mb)d MB.") % {"mb": limit // (1024 * 1024)}})
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise ValidationError({field: _("Upload a valid image (JPEG, PNG, GIF or WebP).")}) from None
    finally:
        upload.seek(0)
