"""An item's history: each admin save with the values it changed, both sides, and going back to a revision.

A revert is a new save through the same form and service as any edit: validated the same way, checked against
the version the editor was shown, and recorded in the history as a revert.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django import forms
from django.contrib import messages
from django.contrib.admin.models import LogEntry
from django.contrib.admin.options import get_content_type_for_model
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import PAGE_VAR
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cms.models import Revision
from cms.store.errors import NotFound

from . import conflict
from .outage import store_guarded
from .posted import posted_version

# Characters of one value a revision keeps: above every limit the forms accept (a list of tags joined included),
# so only content stored before those limits is ever cut.
VALUE_MAX = 6000
# An item never moves to another program, so no revert sets its program.
FIXED = ("program_id",)
ENTRIES_PER_PAGE = 100

REVERT_STALE = gettext_lazy(
    "This item was changed since you opened its history, so nothing was reverted. "
    "Look at the latest entries, then choose the revision again."
)
REVERT_DELETED = gettext_lazy("This item was deleted; a deleted item cannot be reverted.")
REVERT_INCOMPLETE = gettext_lazy("This revision holds a value too long to keep whole, so it cannot be restored.")


def revertible(form) -> list[str]:
    """The fields a revert sets: not hidden, not uploads (images stay as they are), never the program."""
    return [
        name
        for name, field in form.fields.items()
        if name not in FIXED and not field.widget.is_hidden and not isinstance(field, forms.FileField)
    ]


def values_of(form, obj) -> dict[str, str]:
    """The revertible fields of `obj`, as `form` shows them."""
    stored = asdict(obj)
    return {name: conflict.shown(form.fields[name], stored.get(name)) for name in revertible(form)}


def revision_record(*, entry: LogEntry, form, old, new, reverts: Revision | None = None) -> Revision:
    """Keep, with history entry `entry`, the values a save left `new` with and those it changed on `old`."""
    after = values_of(form, new)
    before = values_of(form, old) if old is not None else {}
    changed = {name: value for name, value in before.items() if after.get(name) != value}
    complete = all(len(value) <= VALUE_MAX for value in after.values())
    return Revision.objects.create(
        entry=entry,
        version=new.version,
        values={name: value[:VALUE_MAX] for name, value in after.items()},
        before={name: value[:VALUE_MAX] for name, value in changed.items()},
        complete=complete,
        reverts=reverts,
    )


def revert_data(form, obj, revision: Revision, version: int) -> QueryDict:
    """What a browser would post to set `obj` back to `revision`: its stored values, with the revision's on top."""
    stored = asdict(obj)
    data = QueryDict(mutable=True)
    for name, field in form.fields.items():
        if not isinstance(field, forms.FileField):
            data[name] = conflict.shown(field, stored.get(name))
    for name in revertible(form):
        if name in revision.values:
            data[name] = revision.values[name]
    data["version"] = str(version)
    return data


@dataclass
class Change:
    """One field a save changed, both sides as an editor reads them."""

    name: str
    label: str
    before: str
    after: str


@dataclass
class HistoryRow:
    """One history entry, the changes it recorded, and whether it can be gone back to."""

    entry: LogEntry
    changes: list[Change]
    revision: Revision | None
    offered: bool = False
    current: bool = False
    revert_url: str = ""


def _label(form, name: str) -> str:
    field = form.fields.get(name)
    return str(field.label) if field is not None and field.label else name


def _text(form, name: str, value: str) -> str:
    """A stored value as the form's input shows it: a choice by its label."""
    field = form.fields.get(name)
    return conflict.label_of(field, value) if field is not None else value


def history_rows(entries, form, current: dict | None, version: int | None) -> list[HistoryRow]:
    """Rows for `entries`, labelled by `form`; a revision is offered unless it is what the item holds now."""
    rows = []
    for entry in entries:
        revision = getattr(entry, "revision", None)
        if revision is None:
            rows.append(HistoryRow(entry, [], None))
            continue
        changes = [
            Change(name, _label(form, name), _text(form, name, old), _text(form, name, revision.values.get(name, "")))
            for name, old in revision.before.items()
        ]
        same = current is not None and (revision.version == version or revision.values == current)
        offered = current is not None and revision.complete and not same
        rows.append(HistoryRow(entry, changes, revision, offered, same))
    return rows


def _errors_text(form) -> str:
    """Every error of a bound form in one line, each after the label of its field."""
    parts = []
    for name, errors in form.errors.items():
        text = " ".join(errors)
        parts.append(text if name == NON_FIELD_ERRORS else f"{_label(form, name)}: {text}")
    return " ".join(parts)


class StoreHistoryMixin:
    """The history page of a StoreModelAdmin, the revisions its saves record, and reverting to one."""

    object_history_template = "admin/cms/object_history.html"

    def get_urls(self):
        revert = self.admin_site.admin_view(self.revert_view)
        name = f"cms_{self.opts.model_name}_revert"
        # Before the admin's own URLs, whose last one takes any path as an object id.
        return [path("<path:object_id>/history/<int:entry_id>/revert/", revert, name=name), *super().get_urls()]

    def history_record(self, request, form, old, new, *, reverts: Revision | None = None) -> None:
        """Log an addition (`old` None) or a change made through `form`, with the values it left and changed."""
        recorded = Revision.objects.filter(
            entry__object_id=new.id, entry__content_type=get_content_type_for_model(self.model), version=new.version
        )
        if recorded.exists():
            return  # the same save sent again (a second click): stored once, logged once
        anchor = self.anchor(new)
        if old is None:
            entry = self.log_addition(request, anchor, [{"added": {}}])
        else:
            # Field labels, stored untranslated, so the history shows them in each reader's language.
            entry = self.log_change(request, anchor, self.construct_change_message(request, form, None))
        revision_record(entry=entry, form=form, old=old, new=new, reverts=reverts)

    def _entries(self, object_id: str):
        return (
            LogEntry.objects.filter(object_id=object_id, content_type=get_content_type_for_model(self.model))
            .select_related("user", "revision", "revision__reverts__entry")
            .order_by("action_time")
        )

    @store_guarded()
    def history_view(self, request, object_id, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        object_id = unquote(object_id)
        try:
            obj = self.obj_get(object_id)
        except NotFound:
            obj = None
        entries = self._entries(object_id)
        last = entries.last()
        # A deleted item keeps its history; an id that never named one has none.
        if obj is None and last is None:
            raise Http404(_("No such item: it may have been deleted."))
        paginator = self.get_paginator(request, entries, ENTRIES_PER_PAGE)
        page = paginator.get_page(request.GET.get(PAGE_VAR, 1))
        form = self.form_build(request, obj) if obj is not None else self.form_offline(request, None)
        current = values_of(form, obj) if obj is not None else None
        context = self._context(
            request,
            title=_("Change history: %s") % (obj.title if obj is not None else last.object_repr),
            original=obj,
            object_id=object_id,
            rows=self._history_rows(page, form, current, obj),
            action_list=page,
            page_range=paginator.get_elided_page_range(page.number),
            page_var=PAGE_VAR,
            pagination_required=paginator.count > ENTRIES_PER_PAGE,
            version=obj.version if obj is not None else None,
            images_kept=any(isinstance(field, forms.FileField) for field in form.fields.values()),
            change_url=self._url("change", object_id),
            changelist_url=self._url("changelist"),
            **(extra_context or {}),
        )
        return TemplateResponse(request, self.object_history_template, context)

    def _history_rows(self, page, form, current, obj) -> list[HistoryRow]:
        rows = history_rows(page, form, current, obj.version if obj is not None else None)
        for row in rows:
            if row.offered:
                row.revert_url = reverse(f"admin:cms_{self.opts.model_name}_revert", args=[obj.id, row.entry.pk])
        return rows

    @store_guarded()
    def revert_view(self, request, object_id, entry_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        object_id = unquote(object_id)
        revision = Revision.objects.filter(
            entry_id=entry_id,
            entry__object_id=object_id,
            entry__content_type=get_content_type_for_model(self.model),
        ).first()
        if revision is None:
            raise Http404(_("No such revision."))
        history_url = self._url("history", object_id)
        refusal = self._revert(request, object_id, revision)
        if refusal:
            messages.error(request, refusal)
        return HttpResponseRedirect(history_url)

    def _revert(self, request, object_id: str, revision: Revision) -> str | None:
        """Save the item back to `revision`; return why not, if it was refused."""
        try:
            obj = self.obj_get(object_id)
        except NotFound:
            return REVERT_DELETED
        try:
            shown = posted_version(request)
        except ValueError:
            return _("Reload the page and try again.")
        if shown != obj.version:
            return REVERT_STALE
        if not revision.complete:
            return REVERT_INCOMPLETE
        form = self.form_build(request, obj, revert_data(self.form_build(request, obj), obj, revision, shown))
        if form.is_valid():
            try:
                updated = self.update(request, obj, form)
            except ValidationError as error:
                if getattr(error, "code", None) == "stale":
                    return REVERT_STALE
                form.add_service_error(error)
            except NotFound:
                return REVERT_DELETED
            else:
                self.history_record(request, form, obj, updated, reverts=revision)
                when = date_format(localtime(revision.entry.action_time), "DATETIME_FORMAT")
                messages.success(
                    request,
                    _("“%(title)s” was reverted to its revision of %(when)s.") % {"title": updated.title, "when": when},
                )
                return None
        return _("This revision cannot be restored as it is: %(errors)s") % {"errors": _errors_text(form)}
