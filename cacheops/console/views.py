"""The console's pages: the overview, one family, the operations log. Read-only."""

from __future__ import annotations

import functools
import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from . import chart, live, queries, summaries
from .forms import OperationsQuery, OverviewQuery

# Whoever may see the content may see how it is published: Editors, Ops and Viewers all hold this permission,
# and cms.groups gives it back to them after every migrate (and every flush), unlike a permission granted once
# by a data migration.
PERMISSION = "cms.view_program"


def console_view(view):
    """The admin's login and staff checks, then the content viewers' permission; GET and HEAD only."""

    @require_safe
    @functools.wraps(view)
    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return admin.site.admin_view(checked)


def _render(request: HttpRequest, template: str, context: dict, status: int = 200) -> TemplateResponse:
    context = {**admin.site.each_context(request), **context}
    return TemplateResponse(request, f"cacheops/console/{template}", context, status=status)


def overview(request: HttpRequest) -> HttpResponse:
    """Every family: version, sizes, TTL, traffic and state, read from SQL only."""
    form = OverviewQuery(request.GET)
    context = {"title": _("Catalog cache"), "form": form}
    if not form.is_valid():
        return _render(request, "overview.html", context, status=400)
    data = form.cleaned_data
    context["overview"] = summaries.overview_read(data["q"], data["page"], timezone.now())
    context["query_base"] = form.filters_query()
    return _render(request, "overview.html", context)


def family(request: HttpRequest, name: str) -> HttpResponse:
    """One family: its chunks with their TTLs, its manifest, its last hour of traffic, its recent operations."""
    row = queries.family_row(name) if summaries.family_name_valid(name) else None
    if row is None:
        return _render(request, "family_missing.html", {"title": _("No such family"), "name": name}, status=404)
    now = timezone.now()
    manifest = row.manifest if row.current_version else None
    start, minutes = queries.family_minutes(name, now)
    context = {
        "title": name,
        "summary": summaries.family_summaries([row], now)[0],
        "chunks": live.chunk_ttls(manifest, now),
        "manifest_json": json.dumps(manifest, indent=2, ensure_ascii=False) if manifest else "",
        "chart": chart.traffic_chart(start, minutes, queries.family_builds(name, start), queries.CHART_MINUTES),
        "operations": summaries.operation_rows(queries.family_operations(name), now),
    }
    return _render(request, "family.html", context)


def operations(request: HttpRequest) -> HttpResponse:
    """The operations log, newest first, filtered by kind, family prefix, result and requester."""
    form = OperationsQuery(request.GET)
    context = {"title": _("Operations log"), "form": form}
    if not form.is_valid():
        return _render(request, "operations.html", context, status=400)
    page = queries.operations_page(queries.operations_filtered(**form.filters()), form.cleaned_data["page"])
    context["page"] = page
    context["operations"] = summaries.operation_rows(list(page.object_list), timezone.now())
    context["query_base"] = form.filters_query()
    return _render(request, "operations.html", context)
