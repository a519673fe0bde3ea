"""The airtime page: schedule a prewarm for an instant, follow its countdown, diff and edge warming, cancel it."""

from __future__ import annotations

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

from cacheops.release import airtime
from cms.broadcast import clock_format

from ..models import AirtimeSchedule
from .forms import AirtimeForm
from .summaries import ttl_text

# Scheduling and cancelling spend cache work ahead of airtime, as the Prewarm button does: Ops hold it.
PERMISSION = "cacheops.prewarm"
RECENT = 20
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


def _render(request: HttpRequest, context: dict, status: int = 200) -> TemplateResponse:
    context = {**admin.site.each_context(request), **context}
    return TemplateResponse(request, "cacheops/console/airtime.html", context, status=status)


def _rows(now: datetime) -> tuple[list[ScheduleRow], list[ScheduleRow]]:
    """Pending schedules, soonest first, and the most recent others, newest first."""
    pending_ids = set(airtime.pending().values_list("id", flat=True))
    upcoming = airtime.pending().order_by("at", "id")
    recent = AirtimeSchedule.objects.exclude(id__in=pending_ids).order_by("-at", "-id")[:RECENT]
    return (
        [ScheduleRow(s, max(0, int((s.at - now).total_seconds())), True) for s in upcoming],
        [ScheduleRow(s, 0, False) for s in recent],
    )


def _page(request: HttpRequest, form: AirtimeForm, status: int = 200) -> TemplateResponse:
    upcoming, recent = _rows(timezone.now())
    context = {
        "title": _("Airtime prewarm"),
        "form": form,
        "can_schedule": request.user.has_perm(PERMISSION),
        "upcoming": upcoming,
        "recent": recent,
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


def readiness_read() -> datetime | None:
    """The near boundary with no staged version, if any; this process's gauge follows what the page says."""
    boundary = airtime.unready()
    airtime.UNREADY.set(1 if boundary else 0)
    return boundary
