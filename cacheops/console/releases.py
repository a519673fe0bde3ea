"""What ops do to a family's release from the console: roll back (after a confirmation page), resume, purge, accept.

Each takes effect in the request that asks for it, whatever task, build or dead worker holds the family: none of
them is a task, and none joins one. A refusal (the family's state does not allow it) or a cache failure is said
on the page, which answers as usual.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cacheops import clock
from cacheops.release import release_actions

from ..backends import CacheError
from ..errors import PublishError
from ..models import Family, Operation
from . import actions, changes, release_state, summaries, views
from .forms import PurgeForm, RollbackForm

LABELS = {
    "rollback": gettext_lazy("Rollback"),
    "resume": gettext_lazy("Resuming publishing"),
    "purge": gettext_lazy("Purge"),
    "accept": gettext_lazy("Accepting the held-back version"),
}


def _allowed(request: HttpRequest, action: str) -> None:
    if not request.user.has_perm(actions.RELEASE_PERMISSIONS[action]):
        raise PermissionDenied


def _family_url(name: str) -> str:
    return reverse("cacheops_console:family", kwargs={"name": name})


def _taken(request: HttpRequest, name: str, action: str, call: Callable[[], Operation]) -> Operation | None:
    """Take the action; on a refusal or a cache failure, say why and return None."""
    what = {"action": LABELS[action], "family": name}
    try:
        return call()
    except PublishError as exc:  # refusals (ReleaseRefused) included
        reason = exc.text() if isinstance(exc, release_actions.ReleaseRefused) else str(exc)
        messages.error(request, _("%(action)s of %(family)s refused: %(reason)s") % {**what, "reason": reason})
    except CacheError as exc:
        messages.error(
            request,
            _(
                "%(action)s of %(family)s failed: the shared cache did not answer (%(reason)s). "
                "The release is unchanged; try again in a moment."
            )
            % {**what, "reason": exc.reason},
        )
    return None


def _rollback_page(request: HttpRequest, row: Family, earlier, form: RollbackForm, target: str, status: int = 200):
    context = {
        "title": _("Roll back %(family)s") % {"family": row.name},
        "row": row,
        "summary": summaries.family_summaries([row], clock.now())[0],
        "earlier": earlier,
        "target": target,
        "rollback_form": form,
        "changes": changes.versions_compared(row.name, row.current_version, target) if target else None,
        "reader_poll_s": settings.CACHEOPS_READER_POLL_SECONDS,
    }
    return views.render(request, "rollback.html", context, status=status)


def rollback(request: HttpRequest, name: str) -> HttpResponse:
    """GET: the confirmation page (the version chosen, what it changes, a reason). POST: roll back and pin, at once."""
    _allowed(request, "rollback")
    row = views.family_row(name)
    if row is None:
        return views.family_missing(request, name)
    earlier = release_state.earlier_read(row, clock.now())
    restorable = [e.version for e in earlier if not e.expired]
    default = row.previous_version if row.previous_version in restorable else next(iter(restorable), "")
    # The current version can be pinned as it is too: after a purge it is the earlier version being served.
    restorable += [row.current_version] if row.current_version else []
    if request.method != "POST":
        chosen = request.GET.get("version", "")
        target = chosen if chosen in restorable else default
        return _rollback_page(request, row, earlier, RollbackForm(restorable, initial={"version": target}), target)
    form = RollbackForm(restorable, request.POST)
    if not form.is_valid():
        posted = request.POST.get("version", "")
        target = posted if posted in restorable else default
        return _rollback_page(request, row, earlier, form, target, status=400)
    version, user = form.cleaned_data["version"], request.user.get_username()
    op = _taken(
        request,
        name,
        "rollback",
        lambda: release_actions.rollback(
            family=name, version=version, requested_by=user, reason=form.cleaned_data["reason"]
        ),
    )
    if op is None:
        url = reverse("cacheops_console:rollback", kwargs={"name": name})
        return redirect(f"{url}?{urlencode({'version': version})}")
    messages.success(
        request,
        _("Rolled back %(family)s to %(version)s: it stays current until publishing is resumed.")
        % {"family": name, "version": op.version_after},
    )
    return redirect(_family_url(name))


def resume(request: HttpRequest, name: str) -> HttpResponse:
    """End the pin: the newest build becomes current again."""
    _allowed(request, "resume")
    if views.family_row(name) is None:
        return views.family_missing(request, name)
    user = request.user.get_username()
    op = _taken(request, name, "resume", lambda: release_actions.resume(family=name, requested_by=user))
    if op is not None:
        messages.success(
            request,
            _("Publishing of %(family)s resumed: %(version)s is current.")
            % {"family": name, "version": op.version_after or "—"},
        )
    return redirect(_family_url(name))


def purge(request: HttpRequest, name: str) -> HttpResponse:
    """Take the current version down everywhere, once the family's name is typed again."""
    _allowed(request, "purge")
    row = views.family_row(name)
    if row is None:
        return views.family_missing(request, name)
    form = PurgeForm(name, request.POST)
    if not form.is_valid():
        return views.family_page(request, row, actions.task_shown(name, None), purge_form=form, status=400)
    user = request.user.get_username()
    op = _taken(request, name, "purge", lambda: release_actions.purge(family=name, requested_by=user))
    if op is not None:
        served = (
            _("%(version)s is served meanwhile.") % {"version": op.version_after}
            if op.version_after
            else _("Nothing is served until the rebuild is published.")
        )
        messages.success(
            request,
            _(
                "Version %(version)s of %(family)s taken down: readers are told and drop it within a second. "
                "%(served)s A full rebuild is queued."
            )
            % {"version": op.version_before, "family": name, "served": served},
        )
    return redirect(_family_url(name))


def accept(request: HttpRequest, name: str) -> HttpResponse:
    """Serve the version a rebuild produced again after a purge: ops checked what the store still holds."""
    _allowed(request, "accept")
    row = views.family_row(name)
    if row is None:
        return views.family_missing(request, name)
    held = (row.held_back or {}).get("version", "")
    user = request.user.get_username()
    op = _taken(request, name, "accept", lambda: release_actions.accept(family=name, requested_by=user))
    if op is not None:
        text = (
            _("Version %(version)s of %(family)s accepted: it is served again.")
            if op.version_after == held
            else _("Version %(version)s of %(family)s accepted: it is served once publishing is resumed.")
        )
        messages.success(request, text % {"version": held, "family": name})
    return redirect(_family_url(name))
