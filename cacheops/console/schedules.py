"""The airtime page: schedule a prewarm for an instant, follow its countdown, diff and edge warming, cancel it.

It also lists the next instants at which published content starts or ends by itself, each ready to prepare for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cacheops import clock
from cacheops.build import fragments
from cacheops.build.snapshot import instants_ahead
from cacheops.keys import CATALOG
from cacheops.release import airtime
from cms.broadcast import clock_format
from cms.domain import time_text

from ..models import AirtimeSchedule, Family
from . import details
from .forms import AirtimeForm, InstantForm, instant_text
from .summaries import DAYS_FORMAT, ttl_text

# Scheduling and cancelling spend cache work ahead of airtime, as the Prewarm button does: Ops hold it.
PERMISSION = "cacheops.prewarm"
RECENT = 20
INSTANTS = 10
RESULT_LABELS = {
    "": gettext_lazy("preparing"),
    AirtimeSchedule.PREPARED: gettext_lazy("prepared"),
    AirtimeSchedule.STAGED: gettext_lazy("staged"),
    AirtimeSchedule.DONE: gettext_lazy("on air"),
    AirtimeSchedule.MISSED: gettext_lazy("missed"),
    AirtimeSchedule.FAILED: gettext_lazy("failed"),
    AirtimeSchedule.CANCELLED: gettext_lazy("cancelled"),
}
CHANGE_LABELS = {
    "added": gettext_lazy("added"),
    "removed": gettext_lazy("removed"),
    "changed": gettext_lazy("changed"),
}
CONTENT_LABELS = {"publish": gettext_lazy("starts"), "expire": gettext_lazy("ends")}


def seconds_until(at: datetime, now: datetime) -> int:
    """Whole seconds left until `at`, rounded up: a countdown never reaches zero before the instant itself."""
    return max(0, math.ceil((at - now).total_seconds()))


@dataclass(frozen=True)
class ScheduleRow:
    """One schedule as the page shows it."""

    schedule: AirtimeSchedule
    seconds_left: int
    pending: bool

    @property
    def countdown_text(self) -> str:
        return ttl_text(self.seconds_left)

    @property
    def result_label(self) -> str:
        return RESULT_LABELS.get(self.schedule.result, self.schedule.result)

    @property
    def detail_text(self) -> str:
        """The schedule's note in the reader's language."""
        return details.detail_text(self.schedule.detail)

    @property
    def changes(self) -> list[tuple[str, str, dict]]:
        """(what, change label, {count, items}) for programs and episodes, in a fixed order."""
        found = self.schedule.changes or {}
        kinds = (("programs", _("Programs")), ("episodes", _("Episodes")))
        return [
            (label, CHANGE_LABELS[change], found[kind][change])
            for kind, label in kinds
            if kind in found
            for change in CHANGE_LABELS
        ]

    @property
    def edge_warmed(self) -> int:
        return sum(1 for entry in self.schedule.edge if entry.get("ok"))


@dataclass(frozen=True)
class InstantRow:
    """One instant at which published content starts or ends by itself, as the page shows it."""

    at: datetime
    changes: list[dict]
    seconds_left: int
    scheduled: bool

    @property
    def value(self) -> str:
        """The instant as the Prepare button posts it: ISO 8601 in UTC, to the second."""
        return time_text(self.at)

    @property
    def countdown_text(self) -> str:
        return ttl_text(self.seconds_left)

    @property
    def labelled_changes(self) -> list[tuple[str, dict]]:
        return [(CONTENT_LABELS[entry["change"]], entry) for entry in self.changes]


def content_instants(now: datetime) -> list[tuple[datetime, list[dict]]]:
    """The next instants after `now` at which the published catalog changes, from the sources of the last build."""
    return instants_ahead(fragments.sources_load().values(), now, INSTANTS)


def _render(request: HttpRequest, context: dict, status: int = 200) -> TemplateResponse:
    context = {**admin.site.each_context(request), "days_format": DAYS_FORMAT, **context}
    return TemplateResponse(request, "cacheops/console/airtime.html", context, status=status)


def upcoming(now: datetime, limit: int) -> list[ScheduleRow]:
    """The first `limit` pending schedules, soonest first (the overview's short list)."""
    return [ScheduleRow(s, seconds_until(s.at, now), True) for s in airtime.pending().order_by("at", "id")[:limit]]


def _rows(now: datetime) -> tuple[list[ScheduleRow], list[ScheduleRow]]:
    """Pending schedules, soonest first, and the most recent others, newest first."""
    pending_ids = set(airtime.pending().values_list("id", flat=True))
    upcoming = airtime.pending().order_by("at", "id")
    recent = AirtimeSchedule.objects.exclude(id__in=pending_ids).order_by("-at", "-id")[:RECENT]
    return (
        [ScheduleRow(s, seconds_until(s.at, now), True) for s in upcoming],
        [ScheduleRow(s, 0, False) for s in recent],
    )


def _page(
    request: HttpRequest,
    form: AirtimeForm,
    status: int = 200,
    *,
    prepare_form: InstantForm | None = None,
    instants: list[tuple[datetime, list[dict]]] | None = None,
) -> TemplateResponse:
    upcoming, recent = _rows(timezone.now())
    # Content instants follow the cache engine's clock, as the schedules' own checks do.
    now = clock.now()
    scheduled = {row.schedule.at for row in upcoming}
    if instants is None:
        instants = content_instants(now)
    context = {
        "title": _("Airtime prewarm"),
        "form": form,
        "prepare_form": prepare_form,
        "can_schedule": request.user.has_perm(PERMISSION),
        "upcoming": upcoming,
        "recent": recent,
        "instants": [InstantRow(at, changes, seconds_until(at, now), at in scheduled) for at, changes in instants],
        "on_air": RESULT_LABELS[AirtimeSchedule.DONE],
        "airtime_unready": readiness_read(),
    }
    return _render(request, context, status)


def airtime_page(request: HttpRequest) -> HttpResponse:
    """The schedules with their countdowns, prepared versions, changes and edge warming; the form to add one."""
    return _page(request, AirtimeForm())


def airtime_schedule(request: HttpRequest) -> HttpResponse:
    """Schedule a prewarm for the instant posted; its preparation is queued at once."""
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    form = AirtimeForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    schedule = airtime.schedule_prewarm(form.cleaned_data["at"], request.user.get_username())
    messages.success(request, _("Prewarm for %(at)s JST scheduled.") % {"at": clock_format(schedule.at)})
    return redirect("cacheops_console:airtime")


def airtime_prepare(request: HttpRequest) -> HttpResponse:
    """Schedule a prewarm for one of the content instants listed, to the second; its preparation is queued at once."""
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    instants = content_instants(clock.now())
    scheduled = set(airtime.pending().values_list("at", flat=True))
    form = InstantForm([at for at, _changes in instants], scheduled, request.POST)
    if not form.is_valid():
        return _page(request, AirtimeForm(), status=400, prepare_form=form, instants=instants)
    schedule = airtime.schedule_prewarm(form.cleaned_data["at"], request.user.get_username())
    messages.success(request, _("Prewarm for %(at)s JST scheduled.") % {"at": instant_text(schedule.at)})
    return redirect("cacheops_console:airtime")


def airtime_cancel(request: HttpRequest, schedule_id: int) -> HttpResponse:
    """Cancel a pending schedule: its instant is no longer staged."""
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    schedule = airtime.schedule_cancel(schedule_id, request.user.get_username())
    if schedule is None:
        messages.warning(request, _("That schedule is no longer pending."))
    else:
        messages.success(request, _("Prewarm for %(at)s JST cancelled.") % {"at": clock_format(schedule.at)})
    return redirect("cacheops_console:airtime")


@dataclass(frozen=True)
class Unready:
    """An airtime the catalog is not ready for: nothing staged for it, or a pin holds another version over it."""

    at: datetime
    pinned: bool


def readiness_read() -> Unready | None:
    """The near boundary not ready, if any, and why (/metrics reads the same: cacheops/monitoring/state.py)."""
    boundary = airtime.unready()
    if boundary is None:
        return None
    return Unready(boundary, Family.objects.filter(name=CATALOG, pinned_at__isnull=False).exists())
