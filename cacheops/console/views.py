"""The console's pages: the overview, one family, the operations log; its task buttons and their progress."""

from __future__ import annotations

import functools
import json

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from . import actions, chart, live, queries, release_state, schedules, summaries, workers_panel
from .forms import OperationsQuery, OverviewQuery, PurgeForm

# Whoever may see the content may see how it is published: Editors, Ops and Viewers all hold this permission,
# and cms.groups gives it back to them after every migrate (and every flush), unlike a permission granted once
# by a data migration.
PERMISSION = "cms.view_program"


def _guarded(method_check, view):
    """The admin's login and staff checks, then the content viewers' permission, for the methods allowed."""

    @method_check
    @functools.wraps(view)
    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return admin.site.admin_view(checked)


def console_view(view):
    """A console page: GET and HEAD only."""
    return _guarded(require_safe, view)


def console_action(view):
    """A console action: POST only (with CSRF); each action checks its own permission too."""
    return _guarded(require_POST, view)


def console_form(view):
    """A console page that confirms an action: GET and HEAD show it, POST (with CSRF) does it."""
    return _guarded(require_http_methods(["GET", "HEAD", "POST"]), view)


def render(request: HttpRequest, template: str, context: dict, status: int = 200) -> TemplateResponse:
    # The countdown script writes a count of days as the server does, in the page's language.
    context = {**admin.site.each_context(request), "days_format": summaries.DAYS_FORMAT, **context}
    return TemplateResponse(request, f"cacheops/console/{template}", context, status=status)


def overview(request: HttpRequest) -> HttpResponse:
    """Every family: version, sizes, TTL, traffic and state, read from SQL only."""
    form = OverviewQuery(request.GET)
    context = {"title": _("Catalog cache"), "form": form}
    if not form.is_valid():
        return render(request, "overview.html", context, status=400)
    data, now = form.cleaned_data, timezone.now()
    context["overview"] = found = summaries.overview_read(data["q"], data["page"], now)
    context["query_base"] = form.filters_query()
    # The actions live on each family's page; the catalog's card shows the task running, if any.
    running = actions.running_by_family([found.catalog.name]) if found.catalog else {}
    context["catalog_task"] = next(iter(running.values()), None)
    context["airtimes"] = schedules.upcoming(now, summaries.AIRTIMES_SHOWN)
    context["on_air"] = schedules.RESULT_LABELS[schedules.AirtimeSchedule.DONE]
    context["airtime_unready"] = schedules.readiness_read()
    context["workers"] = queries.workers_read(now)
    return render(request, "overview.html", context)


def family_missing(request: HttpRequest, name: str) -> HttpResponse:
    return render(request, "family_missing.html", {"title": _("No such family"), "name": name}, status=404)


def family_row(name: str):
    return queries.family_row(name) if summaries.family_name_valid(name) else None


def family(request: HttpRequest, name: str) -> HttpResponse:
    """One family: its chunks with their TTLs, its manifest, its last hour of traffic, its recent operations."""
    row = family_row(name)
    if row is None:
        return family_missing(request, name)
    return family_page(request, row, actions.task_shown(name, request.GET.get("task")))


def family_page(request: HttpRequest, row, task, purge_form: PurgeForm | None = None, status: int = 200):
    """The family page; `purge_form` carries a refused purge's errors."""
    name, now = row.name, timezone.now()
    shown = actions.task_status(task) if task else None
    manifest = row.manifest if row.current_version else None
    start, minutes = queries.family_minutes(name, now)
    summary = summaries.family_summaries([row], now)[0]
    context = {
        "title": summary.display_name,
        "summary": summary,
        "chunks": live.chunk_ttls(manifest, now),
        "manifest_json": json.dumps(manifest, indent=2, ensure_ascii=False) if manifest else "",
        "chart": chart.traffic_chart(start, minutes, queries.family_builds(name, start), queries.CHART_MINUTES),
        "operations": summaries.operation_rows(queries.family_operations(name), now),
        "console_actions": actions.permitted(request.user),
        "release_allowed": actions.release_allowed(request.user),
        "task": shown,
        "task_running": shown is not None and not shown.finished,
        "purge_form": purge_form,
        "pin": release_state.pin_read(row),
        "held": release_state.held_read(row),
        "cdn": release_state.cdn_read(row),
        "reader_poll_s": settings.CACHEOPS_READER_POLL_SECONDS,
    }
    return render(request, "family.html", context, status=status)


def action(request: HttpRequest, name: str, action: str) -> HttpResponse:
    """Start a task button's task for a family, or join the one running; then show the family with the progress."""
    chosen = actions.ACTIONS.get(action)
    if chosen is None:
        raise Http404
    if not request.user.has_perm(chosen.permission):
        raise PermissionDenied
    row = family_row(name)
    if row is None:
        return family_missing(request, name)
    try:
        started = actions.start(name, chosen, request.user.get_username())
    except actions.SendFailed as exc:
        messages.error(request, actions.send_failed_text(exc))
        return redirect("cacheops_console:family", name=name)
    messages.add_message(request, messages.INFO if started.joined else messages.SUCCESS, started.text(chosen))
    url = reverse("cacheops_console:family", kwargs={"name": name})
    return redirect(f"{url}?{urlencode({'task': started.task.id})}")


def task(request: HttpRequest, task_id: str) -> HttpResponse:
    """One console task's progress as JSON: state, stage, done, total and a readable message."""
    found = actions.task_get(task_id)
    if found is None:
        return JsonResponse({"error": {"status": 404, "message": _("No such task.")}}, status=404)
    return JsonResponse(actions.task_status(found).as_json())


def operations(request: HttpRequest) -> HttpResponse:
    """The operations log, newest first, filtered by kind, family prefix, result and requester."""
    form = OperationsQuery(request.GET)
    context = {"title": _("Operations log"), "form": form}
    if not form.is_valid():
        return render(request, "operations.html", context, status=400)
    page = queries.operations_page(queries.operations_filtered(**form.filters()), form.cleaned_data["page"])
    context["page"] = page
    context["operations"] = summaries.operation_rows(list(page.object_list), timezone.now())
    context["query_base"] = form.filters_query()
    return render(request, "operations.html", context)


def workers(request: HttpRequest) -> HttpResponse:
    """Workers alive or not with their tasks, the queue, what waits longest, and beat's schedule."""
    panel = workers_panel.panel_read(timezone.now())
    return render(request, "workers.html", {"title": _("Workers, queue and beat"), "panel": panel})


def workers_json(request: HttpRequest) -> HttpResponse:
    """The workers page as JSON, for dashboards."""
    return JsonResponse(workers_panel.panel_read(timezone.now()).as_json())
