"""A save refused as stale: the stored values next to the editor's, and taking theirs field by field."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django import forms

THEIRS = "_theirs"  # the posted names of the fields whose stored value the editor takes


@dataclass
class Difference:
    """One field whose stored value differs from the editor's, both as the form shows them."""

    name: str
    label: str
    theirs: str
    mine: str


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


def differences(form, stored) -> list[Difference]:
    """Every comparable field whose stored value differs from the editor's valid input."""
    values = asdict(stored)
    rows = []
    for name in comparable(form):
        field = form.fields[name]
        theirs, mine = shown(field, values.get(name)), shown(field, form.cleaned_data.get(name))
        if theirs != mine:
            rows.append(Difference(name, str(field.label), label_of(field, theirs), label_of(field, mine)))
    return rows


def taken(request) -> list[str]:
    """The field names the editor asked to take from the stored version."""
    return request.POST.getlist(THEIRS)


def data_with_theirs(data, form, stored, names: list[str]):
    """A copy of the posted `data` with the stored value of each known field in `names`."""
    data, values = data.copy(), asdict(stored)
    for name in set(names) & set(comparable(form)):
        data[name] = shown(form.fields[name], values.get(name))
    return data


def data_at_version(data, version: int):
    """A copy of the posted `data` carrying the stored `version`, so the next save is checked against it."""
    data = data.copy()
    data["version"] = str(version)
    return data
