"""The console's query strings, checked before any of them reaches SQL (lengths, numbers, NUL characters)."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime

from django import forms
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from cacheops.release import airtime
from cms.broadcast import JST, clock_format, time_in_window
from cms.domain import time_parse
from cms.forms import BroadcastDateTimeField

from ..models import Family, Operation
from .summaries import KIND_LABELS, RESULT_LABELS

UNFINISHED = "unfinished"
# An instant as published and stored: ISO 8601 in UTC, to the second (2026-11-26T14:45:00Z), nothing else.
INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z", re.ASCII)
INSTANT_MAX_LENGTH = 40


def instant_text(at: datetime) -> str:
    """A JST clock time, to the second when the instant is not on a whole minute."""
    return at.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S") if at.second else clock_format(at)


def _max_length(model, field: str) -> int:
    return model._meta.get_field(field).max_length


def _choices(labels: dict, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [("", _("All")), *extra, *labels.items()]


class PageForm(forms.Form):
    page = forms.IntegerField(label=_("Page"), required=False, min_value=1)

    def filters_query(self) -> str:
        """The checked filters as a query string (without the page), for paging links."""
        return urlencode({name: value for name, value in self.cleaned_data.items() if name != "page" and value})


class OverviewQuery(PageForm):
    q = forms.CharField(label=_("Search"), required=False, max_length=_max_length(Family, "name"))


class OperationsQuery(PageForm):
    # Free text behind the lists: a kind or result this console does not know yet still filters.
    kind = forms.CharField(
        label=Operation._meta.get_field("kind").verbose_name,
        required=False,
        max_length=_max_length(Operation, "kind"),
        widget=forms.Select(choices=_choices(KIND_LABELS)),
    )
    family = forms.CharField(label=_("Family starts with"), required=False, max_length=_max_length(Operation, "family"))
    result = forms.CharField(
        label=Operation._meta.get_field("result").verbose_name,
        required=False,
        max_length=_max_length(Operation, "result"),
        widget=forms.Select(choices=_choices(RESULT_LABELS, (UNFINISHED, _("unfinished")))),
    )
    requested_by = forms.CharField(
        label=Operation._meta.get_field("requested_by").verbose_name,
        required=False,
        max_length=_max_length(Operation, "requested_by"),
    )

    def filters(self) -> dict:
        """The keyword arguments of queries.operations_filtered."""
        data = self.cleaned_data
        result = {"": None, UNFINISHED: ""}.get(data["result"], data["result"])
        return {"kind": data["kind"], "family": data["family"], "result": result, "requested_by": data["requested_by"]}


class PurgeForm(forms.Form):
    """Purge forgets the current version: the family's name, typed again, confirms it."""

    confirm = forms.CharField(label=_("Family name to purge"), max_length=_max_length(Family, "name"))

    def __init__(self, family: str, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.family = family

    def clean_confirm(self) -> str:
        typed = self.cleaned_data["confirm"]
        if typed != self.family:
            raise forms.ValidationError(
                _("Type “%(family)s” exactly to purge it."), code="mismatch", params={"family": self.family}
            )
        return typed


class RollbackForm(forms.Form):
    """The version to roll back to (one the page lists: earlier, or the current one) and why, for the pin banner."""

    version = forms.ChoiceField(label=_("Version to roll back to"), widget=forms.HiddenInput)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=_max_length(Family, "pin_reason"),
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=_("Shown to everyone on the family page while the version stays pinned."),
    )

    def __init__(self, versions: list[str], *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(version, version) for version in versions]


class AirtimeForm(forms.Form):
    """An airtime to prepare for: a JST date-time ahead, broadcast notation (25:30) accepted."""

    at = BroadcastDateTimeField(label=_("Airtime (JST)"), required=True)

    def clean_at(self):
        try:
            return airtime.at_check(self.cleaned_data["at"])
        except airtime.ScheduleRefused as exc:
            raise forms.ValidationError(str(exc), code="refused") from None


class InstantForm(forms.Form):
    """A content instant to prepare for, to the second, as the airtime page lists it: it must still be listed."""

    at = forms.CharField(
        label=_("Content instant (UTC)"), max_length=INSTANT_MAX_LENGTH, strip=False, widget=forms.HiddenInput
    )

    def __init__(self, listed: Collection[datetime], scheduled: Collection[datetime], *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.listed, self.scheduled = listed, scheduled

    def clean_at(self) -> datetime:
        text = self.cleaned_data["at"]
        try:
            at = time_parse(text) if INSTANT.fullmatch(text) else None
        except ValueError:
            at = None  # well-formed, yet no such day or time (2026-02-30, 25:00)
        if at is None:
            raise forms.ValidationError(
                _("“%(text)s” is not an instant like 2026-11-26T14:45:00Z (ISO 8601, UTC)."),
                code="invalid",
                params={"text": text},
            )
        if not time_in_window(at):
            raise forms.ValidationError(
                _("%(text)s is outside the broadcast window (2000-2100)."), code="window", params={"text": text}
            )
        try:
            airtime.at_check(at)
        except airtime.ScheduleRefused as exc:
            raise forms.ValidationError(str(exc), code="refused") from None
        if at not in self.listed:
            raise forms.ValidationError(
                _("No published content starts or ends at %(at)s JST; reload the page for the instants ahead."),
                code="unlisted",
                params={"at": instant_text(at)},
            )
        if at in self.scheduled:
            raise forms.ValidationError(
                _("A prewarm for %(at)s JST is already scheduled."), code="scheduled", params={"at": instant_text(at)}
            )
        return at
