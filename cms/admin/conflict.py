"""A save refused as stale, merged field by field from the values loaded, the editor's and the stored ones."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from django import forms

from .loaded import Loaded

KEEP = "_keep_"  # posted as _keep_<field>: which value of a conflicting field the editor keeps
MINE, THEIRS = "mine", "theirs"


@dataclass
class Taken:
    """A field only the other editor changed: their value is now in the form."""

    name: str
    label: str
    before: str
    now: str


@dataclass
class Conflict:
    """A field both editors changed to different values: the editor chooses which to keep."""

    name: str
    label: str
    theirs: str
    mine: str
    choice: str = ""


@dataclass
class Comparison:
    """What a stale save's page says: who saved meanwhile, what was taken from them, what needs a choice."""

    saved_by: str
    saved_at: datetime | None
    taken: list[Taken] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    # The form did not say what it was loaded with: every difference needs a choice.
    unrecorded: bool = False


@dataclass
class Merge:
    """The posted data with the other editor's changes taken in, at the stored version, and what is left."""

    data: object
    taken: list[Taken]
    conflicts: list[Conflict]


def comparable(form) -> list[str]:
    """The fields an editor types or chooses: not hidden, not files, not read only."""
    return [
        name
        for name, field in form.fields.items()
        if not (field.widget.is_hidden or field.disabled or isinstance(field, forms.FileField))
    ]


def shown(field, value) -> str:
    """`value` as the form shows it in its input: a duration as m:ss, a time in JST."""
    value = field.prepare_value(value)
    return "" if value is None else str(value)


def label_of(field, text: str) -> str:
    """The label a choice field shows for `text`; other fields show the text itself."""
    if isinstance(field, forms.ChoiceField):
        return str(dict(field.choices).get(text, text))
    return text


def same(a: str | None, b: str | None) -> bool:
    """Whether two shown values are equal, whichever line endings the browser sent."""
    if a is None or b is None:
        return False
    return a.replace("\r\n", "\n") == b.replace("\r\n", "\n")


def values_shown(form, obj) -> dict[str, str]:
    """Each comparable field's value in `obj`, as the form shows it."""
    values = asdict(obj)
    return {name: shown(form.fields[name], values.get(name)) for name in comparable(form)}


def merge(form, base: dict[str, str] | None, stored) -> Merge:
    """Merge the editor's valid input with `stored`, from the values the form was loaded with (`base`)."""
    theirs = values_shown(form, stored)
    data = form.data.copy()
    data["version"] = str(stored.version)
    taken, conflicts = [], []
    for name in comparable(form):
        field = form.fields[name]
        mine, before = shown(field, form.cleaned_data.get(name)), (base or {}).get(name)
        if same(mine, theirs[name]) or same(before, theirs[name]):
            continue  # nobody changed it, both made the same change, or only this editor changed it
        label = str(field.label)
        if same(before, mine):
            data[name] = theirs[name]
            taken.append(Taken(name, label, label_of(field, before), label_of(field, theirs[name])))
        else:
            conflicts.append(Conflict(name, label, label_of(field, theirs[name]), label_of(field, mine)))
    return Merge(data, taken, conflicts)


def choices_posted(data) -> dict[str, str]:
    """The posted choices, by field name."""
    return {key.removeprefix(KEEP): data.get(key) for key in data if key.startswith(KEEP)}


def choices_unknown(data, loaded: Loaded | None) -> bool:
    """Whether a choice was posted for a field that is not in conflict, or is neither yours nor theirs."""
    listed = set(loaded.conflicts) if loaded else set()
    return any(name not in listed or value not in (MINE, THEIRS, "") for name, value in choices_posted(data).items())


def choices_missing(form, loaded: Loaded | None) -> list[str]:
    """The conflicting fields of the form for which no value was chosen."""
    if not loaded:
        return []
    chosen = choices_posted(form.data)
    return [name for name in loaded.conflicts if name in comparable(form) and chosen.get(name) not in (MINE, THEIRS)]


def data_with_choices(data, loaded: Loaded):
    """A copy of the posted `data` with the stored value of each conflicting field whose editor chose theirs."""
    data = data.copy()
    for name, value in choices_posted(data).items():
        if value == THEIRS and name in loaded.conflicts and name in loaded.values:
            data[name] = loaded.values[name]
    return data


def comparison_posted(form, loaded: Loaded, posted) -> Comparison:
    """The conflicts still waiting for a choice, shown again with the editor's input and choices as posted."""
    chosen, conflicts = choices_posted(posted), []
    for name in loaded.conflicts:
        if name not in form.fields or name not in loaded.values:
            continue
        field = form.fields[name]
        theirs, mine = label_of(field, loaded.values[name]), label_of(field, posted.get(name, ""))
        conflicts.append(Conflict(name, str(field.label), theirs, mine, chosen.get(name, "")))
    return Comparison(loaded.saved_by, loaded.saved_at, conflicts=conflicts)
