"""Admin forms: parse editor input; the rules themselves live in cms.validation."""

from __future__ import annotations

import re
import unicodedata

from django import forms
from django.core import signing
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ulid import ULID

from . import domain, program_index, validation
from .broadcast import OutOfWindow, broadcast_format, broadcast_parse, clock_format
from .widgets import ProgramAutocomplete, ProgramFixedInput, SeasonSelect

STATUS_CHOICES = [
    (domain.DRAFT, gettext_lazy("Draft")),
    (domain.PUBLISHED, gettext_lazy("Published")),
]
GENRE_LABELS = {
    "drama": gettext_lazy("Drama"),
    "anime": gettext_lazy("Anime"),
    "variety": gettext_lazy("Variety"),
    "documentary": gettext_lazy("Documentary"),
    "news": gettext_lazy("News"),
    "sports": gettext_lazy("Sports"),
    "music": gettext_lazy("Music"),
    "kids": gettext_lazy("Kids"),
    "movie": gettext_lazy("Movie"),
}
GENRE_CHOICES = [("", "---------")] + [(g, GENRE_LABELS.get(g, g)) for g in domain.GENRES]


DATETIME_HELP = gettext_lazy("JST, YYYY-MM-DD HH:MM. Hours up to 29 count as the next morning.")


class BroadcastDateTimeField(forms.CharField):
    """A JST date-time that accepts broadcast notation past midnight (25:30)."""

    # A placeholder shaped like a real date reads as a value already entered: show the pattern instead.
    widget = forms.TextInput(attrs={"placeholder": gettext_lazy("YYYY-MM-DD HH:MM"), "size": 18})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", DATETIME_HELP)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if hasattr(value, "astimezone"):
            return clock_format(value)
        return value

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            return broadcast_parse(value)
        except OutOfWindow:
            raise forms.ValidationError(validation.time_window_message()) from None
        except ValueError:
            raise forms.ValidationError(
                _("Enter a date and time like 2026-11-26 23:45 (hours up to 29 are accepted).")
            ) from None


class NumberField(forms.IntegerField):
    """A whole number inside one of the stored bounds, refused in the same words as the service would."""

    def __init__(self, *, bound: validation.Bound, **kwargs):
        self.bound = bound
        super().__init__(min_value=bound.low, max_value=bound.high, **kwargs)

    def validate(self, value):
        super().validate(value)
        if value is not None and (message := self.bound.error(value)):
            raise forms.ValidationError(message)


_CLOCK_DURATION = re.compile(r"(?:(?P<h>\d{1,2}):(?P<hm>[0-5]\d)|(?P<m>\d{1,4})):(?P<s>[0-5]\d)", re.ASCII)


def duration_format(seconds: int) -> str:
    """Seconds as m:ss, or h:mm:ss from one hour up (1440 -> 24:00, 5400 -> 1:30:00)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def duration_parse(text: str) -> int:
    """Seconds from m:ss, h:mm:ss or a bare number of seconds; ValueError for anything else."""
    # Full-width digits and colons come straight from a Japanese input method.
    text = unicodedata.normalize("NFKC", text).strip()
    if re.fullmatch(r"[+-]?\d+", text, flags=re.ASCII):
        return int(text)
    match = _CLOCK_DURATION.fullmatch(text)
    if not match:
        raise ValueError(text)
    minutes = int(match["h"]) * 60 + int(match["hm"]) if match["h"] else int(match["m"])
    return minutes * 60 + int(match["s"])


class DurationField(NumberField):
    """A running time entered and shown as m:ss or h:mm:ss; a bare number is seconds."""

    widget = forms.TextInput(attrs={"size": 10, "autocomplete": "off"})

    def __init__(self, **kwargs):
        super().__init__(bound=validation.DURATION, **kwargs)

    def prepare_value(self, value):
        return duration_format(value) if isinstance(value, int) and value > 0 else value

    def to_python(self, value):
        if value in self.empty_values or not str(value).strip():
            return None
        try:
            return duration_parse(str(value))
        except ValueError:
            raise forms.ValidationError(
                _("Enter the running time as m:ss or h:mm:ss (for example 24:00), or as seconds.")
            ) from None


class ListField(forms.CharField):
    """Comma-separated words (Japanese commas too) as a list."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        value = super().to_python(value) or ""
        return [part.strip() for part in re.split(r"[,、，]", value) if part.strip()]


class SaveTokenField(forms.CharField):
    """A signed id made when the form is shown: the posts of one form are one save, however often sent."""

    signer = signing.Signer(salt="cms.forms.save-token")

    def __init__(self):
        super().__init__(widget=forms.HiddenInput, required=False, max_length=100)

    @classmethod
    def fresh(cls) -> str:
        return cls.signer.sign(str(ULID()))

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None  # a page shown before forms carried one
        try:
            return self.signer.unsign(value)
        except signing.BadSignature:
            raise forms.ValidationError(validation.FORM_OUTDATED) from None


class MultiLineField(forms.CharField):
    """Text of several lines; line and paragraph separators (pasted from word processors) become line breaks."""

    widget = forms.Textarea

    def to_python(self, value):
        return super().to_python(value).translate(validation.MULTI_LINE_BREAKS)


class ContentForm(forms.Form):
    """Shared plumbing: the version the editor read, the save's token, and both forms of shown times."""

    version = NumberField(bound=validation.VERSION, widget=forms.HiddenInput, required=False)
    save_token = SaveTokenField()

    def __init__(self, *args, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["save_token"] = SaveTokenField.fresh()
        for name, field in self.fields.items():
            if isinstance(field, BroadcastDateTimeField):
                field.help_text = self._datetime_help(name)
            if type(field.widget) is forms.TextInput and not isinstance(field, (BroadcastDateTimeField, DurationField)):
                field.widget.attrs.setdefault("class", "vTextField")
            if read_only:
                field.disabled = True
            if isinstance(field, forms.CharField):
                # Django's own wording for NUL is vague (in Japanese: "enter some characters").
                field.error_messages["null_characters_not_allowed"] = validation.invisible_character_message("\0")

    def _datetime_help(self, name: str) -> str:
        """The JST help, always; with the broadcast-day form of an early-morning time alongside."""
        alt = broadcast_format(self.initial[name]) if self.initial.get(name) else None
        if not alt:
            return str(DATETIME_HELP)
        broadcast = _("Broadcast notation: %(alt)s") % {"alt": alt}
        return f"{DATETIME_HELP} {broadcast}"

    def clean(self):
        cleaned = super().clean()
        # The version rides in a hidden input, where an error would not be shown: report it on the form.
        if self._errors.pop("version", None):
            self.add_error(None, validation.VERSION_INVALID)
        for error in self._errors.pop("save_token", []):
            self.add_error(None, error)
        return cleaned

    def values(self, *, exclude=("version",)) -> dict:
        """Cleaned values for a service call."""
        exclude = (*exclude, "save_token")
        return {k: v for k, v in self.cleaned_data.items() if k not in exclude and not k.endswith("_upload")}

    @property
    def token(self) -> str | None:
        """The id of this form's save, or None for a page that carried none."""
        return self.cleaned_data.get("save_token")

    def add_service_error(self, error) -> None:
        """Attach a service ValidationError to its fields (or to the form)."""
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                # Services name the stored field (key_art); the form's file input is key_art_upload.
                if f"{field}_upload" in self.fields:
                    field = f"{field}_upload"
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, error)


def _title_field():
    # The service enforces the same limit; the form keeps a friendly maxlength in the browser.
    return forms.CharField(label=gettext_lazy("Title"), max_length=None, required=False)


class ProgramForm(ContentForm):
    title = _title_field()
    title_kana = forms.CharField(label=gettext_lazy("Title reading (kana)"), required=False)
    slug = forms.CharField(label=gettext_lazy("Slug"), required=False)
    description = MultiLineField(label=gettext_lazy("Description"), required=False)
    genre = forms.ChoiceField(label=gettext_lazy("Genre"), choices=GENRE_CHOICES, required=False)
    sort_order = NumberField(label=gettext_lazy("Sort order"), bound=validation.SORT_ORDER, initial=0)
    status = forms.ChoiceField(label=gettext_lazy("Status"), choices=STATUS_CHOICES, initial=domain.DRAFT)
    publish_at = BroadcastDateTimeField(label=gettext_lazy("Available from"))
    expire_at = BroadcastDateTimeField(label=gettext_lazy("Available until"))
    key_art_upload = forms.FileField(label=gettext_lazy("Key art"), required=False)


class ProgramChoiceField(forms.ChoiceField):
    """A program picked through the autocomplete, and accepted only if the SQL program list has it."""

    widget = ProgramAutocomplete

    # False where the service checks the program itself (a season's program, which never changes).
    listed_only = True

    def valid_value(self, value) -> bool:
        return not self.listed_only or program_index.entry_exists(value)


class SeasonForm(ContentForm):
    program_id = ProgramChoiceField(label=gettext_lazy("Program"))
    title = _title_field()
    sort_order = NumberField(label=gettext_lazy("Sort order"), bound=validation.SORT_ORDER, initial=0)
    status = forms.ChoiceField(label=gettext_lazy("Status"), choices=STATUS_CHOICES, initial=domain.DRAFT)
    publish_at = BroadcastDateTimeField(label=gettext_lazy("Available from"))
    expire_at = BroadcastDateTimeField(label=gettext_lazy("Available until"))

    def __init__(self, *args, program_fixed: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if program_fixed:
            # A season stays in the program it was created in (the service refuses a change).
            self.fields["program_id"].widget = ProgramFixedInput()
            self.fields["program_id"].listed_only = False


class EpisodeForm(ContentForm):
    # Chosen before the form opens (or kept from the episode): shown, never changed here.
    program_id = forms.CharField(label=gettext_lazy("Program"), widget=ProgramFixedInput)
    season_id = forms.ChoiceField(label=gettext_lazy("Season"), widget=SeasonSelect)
    number = NumberField(label=gettext_lazy("Episode number"), bound=validation.EPISODE_NUMBER, initial=1)
    title = _title_field()
    synopsis = MultiLineField(label=gettext_lazy("Synopsis"), required=False)
    duration_s = DurationField(
        label=gettext_lazy("Running time"),
        help_text=gettext_lazy("m:ss or h:mm:ss, e.g. 24:00 or 1:30:00. A plain number counts as seconds."),
    )
    video_url = forms.CharField(label=gettext_lazy("Video URL (HLS)"), required=False)
    tags = ListField(label=gettext_lazy("Tags"), required=False)
    cast = ListField(label=gettext_lazy("Cast"), required=False)
    status = forms.ChoiceField(label=gettext_lazy("Status"), choices=STATUS_CHOICES, initial=domain.DRAFT)
    publish_at = BroadcastDateTimeField(label=gettext_lazy("Available from"))
    expire_at = BroadcastDateTimeField(label=gettext_lazy("Available until"))
    thumbnail_upload = forms.FileField(label=gettext_lazy("Thumbnail"), required=False)

    def __init__(
        self, *args, seasons: list[tuple[str, str]], next_numbers: dict[str, int | None] | None = None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.fields["season_id"].choices = seasons
        self.fields["season_id"].widget.next_numbers = next_numbers or {}


class ProgramPickForm(forms.Form):
    program = ProgramChoiceField(label=gettext_lazy("Program"))


class ProgramFilterForm(forms.Form):
    """The changelists' program filter: one autocomplete select, empty for every program."""

    program = ProgramChoiceField(
        label=gettext_lazy("Program"), required=False, widget=ProgramAutocomplete(attrs={"data-width": "100%"})
    )


class ProgramSearchQuery(forms.Form):
    """The program autocomplete's query: what was typed, and which page of matches."""

    term = forms.CharField(max_length=100, required=False)
    page = forms.IntegerField(min_value=1, max_value=1000, required=False)
