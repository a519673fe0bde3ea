"""Content rules, checked once for every way content is written."""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from PIL import Image

from . import domain
from .broadcast import EARLIEST, LATEST, clock_format, time_in_window

SLUG_RE = re.compile(r"^[a-z0-9-]+$")
TITLE_MAX = 200
TEXT_MAX = 4000
URL_MAX = 2000
LIST_MAX = 50
LIST_ITEM_MAX = 100
# C0 controls, DEL, C1 controls (ESC starts ANSI sequences), bidi marks (LRM, RLM, ALM), the line and
# paragraph separators (JavaScript before ES2019 reads them as line ends inside strings), bidi embeddings,
# overrides and isolates.
_FORBIDDEN_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
# Multi-line text keeps tab, line feed and carriage return. The form turns the separators into line feeds
# (MULTI_LINE_BREAKS); any other writer gets them refused.
_FORBIDDEN_MULTI_LINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
SEPARATORS = "\u2028\u2029"
# What an editor's line and paragraph separators become in multi-line text: the line break they saw.
MULTI_LINE_BREAKS = str.maketrans(dict.fromkeys(SEPARATORS, "\n"))


@dataclass(frozen=True)
class Bound:
    """The range of one stored number, with what to tell an editor outside it."""

    low: int
    high: int
    too_low: str
    too_high: str

    def error(self, value) -> str | None:
        """The message for `value`, or None when it is in range."""
        if not isinstance(value, int) or isinstance(value, bool):
            return _("Enter a whole number.")
        if value < self.low:
            return str(self.too_low)
        if value > self.high:
            return str(self.too_high) % {"max": f"{self.high:,}"}
        return None


# Well inside 53 bits, so JSON readers (browsers included) and DynamoDB carry every value exactly.
SORT_ORDER = Bound(
    0, 1_000_000, gettext_lazy("Sort order cannot be negative."), gettext_lazy("Sort order can be at most %(max)s.")
)
EPISODE_NUMBER = Bound(
    1, 9_999, gettext_lazy("Episode numbers start at 1."), gettext_lazy("Episode numbers can be at most %(max)s.")
)
DURATION = Bound(
    1,
    86_400,
    gettext_lazy("Duration must be more than zero seconds."),
    gettext_lazy("Duration can be at most %(max)s seconds (24 hours)."),
)
VERSION_INVALID = gettext_lazy("This page's version number is not valid; reload the page and try again.")
VERSION = Bound(1, 1_000_000_000, VERSION_INVALID, VERSION_INVALID)
FORM_OUTDATED = gettext_lazy("This form's hidden data is not valid; reload the page and try again.")


def time_window_message() -> str:
    """The error for a time outside the window every stored time must fall in."""
    return _("Enter a time from %(earliest)s to %(latest)s (JST).") % {
        "earliest": clock_format(EARLIEST),
        "latest": clock_format(LATEST),
    }


def _window(errors: dict, publish_at: datetime | None, expire_at: datetime | None) -> None:
    for field, value in (("publish_at", publish_at), ("expire_at", expire_at)):
        if value is not None and not time_in_window(value):
            errors[field] = time_window_message()
    if "publish_at" in errors or "expire_at" in errors:
        return
    if publish_at and expire_at and publish_at >= expire_at:
        errors["expire_at"] = _("The end of availability must be after the start.")


def _title(errors: dict, title: str, field: str = "title") -> None:
    if not title.strip():
        errors[field] = _("This field is required.")
    elif len(title) > TITLE_MAX:
        errors[field] = _("Keep this to %(max)d characters or fewer.") % {"max": TITLE_MAX}


def _text(errors: dict, field: str, value: str, limit: int = TEXT_MAX) -> None:
    if len(value) > limit:
        errors[field] = _("Keep this to %(max)d characters or fewer.") % {"max": limit}


def _number(errors: dict, field: str, value, bound: Bound) -> None:
    if message := bound.error(value):
        errors[field] = message


def _version(errors: dict, version) -> None:
    # The version rides in a hidden input, so a bad one is a problem of the whole form.
    if version is not None and VERSION.error(version):
        errors[NON_FIELD_ERRORS] = str(VERSION_INVALID)


def invisible_character_message(char: str, *, multi_line: bool = False) -> str:
    """The error for a control, text-direction or separator character, named by its code point."""
    code = {"char": f"U+{ord(char):04X}"}
    if char not in SEPARATORS:
        return _("Remove the invisible character %(char)s (a control or text-direction character).") % code
    if multi_line:
        return _("Replace the line or paragraph separator %(char)s with an ordinary line break.") % code
    return _("Remove the line or paragraph separator %(char)s: this field takes one line.") % code


def _characters(errors: dict, obj, one_line: tuple[str, ...], multi_line: tuple[str, ...] = ()) -> None:
    """Refuse control characters (ANSI escapes too), bidi marks and overrides and separators, naming the field."""
    for field in one_line + multi_line:
        pattern = _FORBIDDEN_MULTI_LINE if field in multi_line else _FORBIDDEN_ONE_LINE
        value = getattr(obj, field)
        for text in value if isinstance(value, list) else [value]:
            if found := pattern.search(text or ""):
                errors[field] = invisible_character_message(found.group(), multi_line=field in multi_line)
                break


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
    _text(errors, "title_kana", program.title_kana, TITLE_MAX)
    if not SLUG_RE.match(program.slug) or len(program.slug) > 100:
        errors["slug"] = _("Use lowercase letters, digits and hyphens only (at most 100).")
    if program.genre and program.genre not in domain.GENRES:
        errors["genre"] = _("Choose a genre from the list.")
    _number(errors, "sort_order", program.sort_order, SORT_ORDER)
    _text(errors, "description", program.description)
    _characters(errors, program, ("title", "title_kana", "slug"), ("description",))
    _status(errors, program.status)
    _window(errors, program.publish_at, program.expire_at)
    _version(errors, program.version)
    _raise(errors)


def season_validate(season: domain.Season) -> None:
    """Raise ValidationError naming each field of `season` that breaks a rule."""
    errors: dict[str, str] = {}
    _title(errors, season.title)
    _number(errors, "sort_order", season.sort_order, SORT_ORDER)
    _characters(errors, season, ("title",))
    _status(errors, season.status)
    _window(errors, season.publish_at, season.expire_at)
    _version(errors, season.version)
    _raise(errors)


def episode_validate(episode: domain.Episode) -> None:
    """Raise ValidationError naming each field of `episode` that breaks a rule."""
    errors: dict[str, str] = {}
    _title(errors, episode.title)
    _number(errors, "number", episode.number, EPISODE_NUMBER)
    _number(errors, "duration_s", episode.duration_s, DURATION)
    if episode.video_url and not episode.video_url.startswith("https://"):
        errors["video_url"] = _("The video URL must start with https://.")
    _text(errors, "video_url", episode.video_url, URL_MAX)
    _text(errors, "synopsis", episode.synopsis)
    for field in ("tags", "cast"):
        values = getattr(episode, field)
        if len(values) > LIST_MAX or any(len(v) > LIST_ITEM_MAX for v in values):
            errors[field] = _("At most %(count)d entries of %(max)d characters each.") % {
                "count": LIST_MAX,
                "max": LIST_ITEM_MAX,
            }
    _characters(errors, episode, ("title", "video_url", "tags", "cast"), ("synopsis",))
    _status(errors, episode.status)
    _window(errors, episode.publish_at, episode.expire_at)
    _version(errors, episode.version)
    _raise(errors)


# Stored format -> (file extension, content type). GIF and SVG are refused: only a still picture is stored.
IMAGE_FORMATS = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"), "WEBP": ("webp", "image/webp")}
# Phones save some photos as MPO (a JPEG with extra frames): its first frame is stored as a JPEG.
_STORED_AS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}
_ORIENTATION = 0x0112


@dataclass(frozen=True)
class CleanImage:
    """An upload decoded and encoded again: only the picture, under its real format."""

    data: bytes
    extension: str
    content_type: str


def image_clean(upload, field: str) -> CleanImage:
    """Accept a JPEG, PNG or WebP no larger than CMS_IMAGE_MAX_BYTES, re-encoded so nothing else is stored."""
    limit = settings.CMS_IMAGE_MAX_BYTES
    if upload.size > limit:
        raise ValidationError({field: _("Images can be at most %(mb)d MB.") % {"mb": limit // (1024 * 1024)}})
    try:
        upload.seek(0)
        with Image.open(upload, formats=list(IMAGE_FORMATS)) as image:
            image.verify()
        upload.seek(0)
        # Past MAX_IMAGE_PIXELS Pillow only warns; decoding such a picture could exhaust memory.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload, formats=list(IMAGE_FORMATS)) as image:
                image.load()
                stored_as = _STORED_AS[image.format]
                data = _encode(image, stored_as)
    # Decoders meeting hostile bytes raise more than OSError and ValueError (struct.error, IndexError, the
    # bomb warning above): whatever they raise, the upload is not an image we can store.
    except Exception:
        raise ValidationError({field: _("Upload a valid image (JPEG, PNG or WebP).")}) from None
    finally:
        upload.seek(0)
    return CleanImage(data, *IMAGE_FORMATS[stored_as])


def _encode(image: Image.Image, stored_as: str) -> bytes:
    """Encode `image` again, dropping comments, metadata and anything appended to the file."""
    out = io.BytesIO()
    icc_profile = image.info.get("icc_profile")
    if stored_as == "JPEG":
        options = {"comment": b"", "icc_profile": icc_profile}
        if orientation := image.getexif().get(_ORIENTATION):
            exif = Image.Exif()
            exif[_ORIENTATION] = orientation  # without it, phone photos would show sideways
            options["exif"] = exif.tobytes()
        # "keep" reuses the original quantization tables, so a JPEG loses nothing visible.
        image.save(out, "JPEG", quality="keep" if image.format == "JPEG" else 95, **options)
    elif stored_as == "PNG":
        image.save(out, "PNG", icc_profile=icc_profile)
    else:
        image.save(out, "WEBP", quality=90, icc_profile=icc_profile)
    return out.getvalue()
