"""ModelAdmin for content kept in DynamoDB: Django's URLs and permissions, history with revisions (history.py),
and list, add, change and delete views that call selectors and services."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cms import domain, selectors, services
from cms.reach import reach_message, reach_of
from cms.store.errors import NotFound, StoreUnavailable

from . import conflict
from .history import StoreHistoryMixin
from .loaded import FIELD as LOADED_FIELD
from .outage import StoreOutageMixin, store_guarded
from .posted import posted_version, selection_parse
from .stale import StaleMergeMixin


class LookupChoices:
    """A filter's values when they are too many to list: each asked for is checked on its own, and `form`
    renders the filter's input."""

    form = None

    def __contains__(self, value: str) -> bool:
        raise NotImplementedError


STALE_DELETE = gettext_lazy(
    "Someone else changed this item since you opened it, so it was not deleted. "
    "Look at their changes, then delete it here if you still want to."
)


@dataclass
class Row:
    """One changelist row: the item it stands for and the cells shown."""

    id: str
    version: int | None
    cells: list


class StoreModelAdmin(StaleMergeMixin, StoreOutageMixin, StoreHistoryMixin, admin.ModelAdmin):
    """Subclasses name their form, columns, filters and the services they call."""

    form_class = None
    kind = ""  # "program", "season" or "episode"
    orders: tuple[tuple[str, str], ...] = ()
    # What a search lists by, named in the note shown when a search replaces the chosen order.
    search_order = gettext_lazy("title")
    list_template = "admin/cms/store_list.html"
    form_template = "admin/cms/store_form.html"
    delete_template = "admin/cms/store_delete.html"

    # Hooks for subclasses.
    def page(self, request, params: dict) -> domain.Page:
        raise NotImplementedError

    def columns(self, items: list) -> tuple[list[str], list[Row]]:
        raise NotImplementedError

    def filters(self, request) -> list[tuple[str, str, list[tuple[str, str]]]]:
        return []

    def obj_get(self, object_id: str):
        raise NotImplementedError

    def order_used(self, params: dict) -> str | None:
        """The offered order the list is really in; None when a search lists by its own order."""
        # Searches read title indexes, which keep their own order whatever was chosen.
        if params["q"]:
            return None
        return params["o"] or self.orders[0][0]

    def order_note(self, used: str | None) -> str:
        """Tell the editor the list is not in the order they chose, and in which order it is."""
        return _("Search results are listed by %(order)s, not in the chosen order.") % {"order": self.search_order}

    def form_build(self, request, obj, data=None, files=None, read_only=False):
        raise NotImplementedError

    def create(self, request, form):
        raise NotImplementedError

    def update(self, request, obj, form):
        raise NotImplementedError

    def delete(self, request, obj, version: int) -> None:
        raise NotImplementedError

    def form_extra_context(self, request, obj) -> dict:
        return {}

    def delete_summary(self, obj) -> list[str]:
        return []

    def form_offline(self, request, object_id: str | None):
        """The posted form, built without reading the content store (it is not answering)."""
        return self.form_build(request, None, request.POST, request.FILES)

    # Plumbing shared by every content type.
    def row(self, obj, *cells) -> Row:
        """A changelist row for `obj`: its title, linking to its change page, then `cells`."""
        link = format_html('<a href="{}">{}</a>', self._url("change", obj.id), obj.title)
        return Row(obj.id, obj.version, [link, *cells])

    def get_queryset(self, request):
        return self.model.objects.none()

    def anchor(self, obj):
        """The unsaved anchor model instance standing for `obj` in logs and permissions."""
        return self.model(id=obj.id, title=obj.title)

    def get_object(self, request, object_id, from_field=None):
        try:
            return self.anchor(self.obj_get(object_id))
        except NotFound:
            return None

    def _obj_or_404(self, object_id: str):
        try:
            return self.obj_get(unquote(object_id))
        except NotFound:
            raise Http404(_("No such item: it may have been deleted.")) from None

    def _url(self, view: str, *args) -> str:
        return reverse(f"admin:cms_{self.opts.model_name}_{view}", args=args)

    def _context(self, request, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "has_view_permission": self.has_view_permission(request),
            "has_add_permission": self.has_add_permission(request),
            "has_change_permission": self.has_change_permission(request),
            "has_delete_permission": self.has_delete_permission(request),
            **extra,
        }

    @store_guarded()
    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._bulk_status(request)
        filters = self.filters(request)
        params, refused = self._params(request, filters)
        status = 400 if refused else 200
        try:
            page = self.page(request, params)
        except selectors.BadCursor:
            messages.error(request, _("That page link is invalid or out of date; showing the first page."))
            page, status = self.page(request, {**params, "cursor": ""}), 400
        headers, rows = self.columns(page.items)
        order_used, order_note = self._order_shown(params)
        total = total_text(page.total)
        base = QueryDict(mutable=True)
        base.update({key: value for key, value in params.items() if value and key != "cursor"})
        context = self._context(
            request,
            title=capfirst(self.opts.verbose_name_plural),
            page=page,
            total=total,
            headers=headers,
            rows=rows,
            params=params,
            query_base=base.urlencode(),
            filters=filters,
            orders=self.orders,
            order_used=order_used,
            order_note=order_note,
            add_url=self._url("add"),
            **(extra_context or {}),
        )
        return TemplateResponse(request, self.list_template, context, status=status)

    def _order_shown(self, params: dict) -> tuple[str | None, str | None]:
        """The order to mark as chosen in the list, and a note when it is not the one asked for."""
        if not self.orders:
            return None, None
        used = self.order_used(params)
        chosen = params["o"] or self.orders[0][0]
        return used, (self.order_note(used) if used != chosen else None)

    def _params(self, request, filters) -> tuple[dict[str, str], bool]:
        """The list's query parameters without values it does not offer, the search bounded; refused any?"""
        params = {key: request.GET.get(key, "") for key in ("q", "status", "genre", "program", "o", "cursor")}
        offered = {
            name: choices if isinstance(choices, LookupChoices) else {value for value, _text in choices}
            for name, _label, choices in filters
        }
        offered["o"] = {value for value, _label in self.orders}
        checked = ("status", "genre", "program", "o")
        unknown = [key for key in checked if params[key] and params[key] not in offered.get(key, ())]
        if unknown:
            messages.error(request, _("That link asks for a filter or order this list does not have; it was left out."))
            params.update(dict.fromkeys(unknown, ""))
        limit = selectors.SEARCH_MAX_CHARS
        long_search = len(params["q"]) > limit
        if long_search:
            messages.error(request, _("Searches look at the first %(max)d characters only.") % {"max": limit})
            params["q"] = params["q"][:limit]
        return params, bool(unknown) or long_search

    def _bulk_status(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        action = request.POST.get("action")
        selected = request.POST.getlist("_selected_action")
        if action not in ("publish", "unpublish") or not selected:
            messages.warning(request, _("Choose an action and at least one item."))
            return HttpResponseRedirect(request.get_full_path())
        items, malformed = selection_parse(selected)
        status = domain.PUBLISHED if action == "publish" else domain.DRAFT
        changed, refused, stale = services.content_status_set(
            kind=self.kind, items=items, status=status, user=request.user.get_username()
        )
        refused += malformed
        messages.success(
            request, _("%(changed)d changed, %(refused)d refused.") % {"changed": changed, "refused": refused}
        )
        if stale:
            message = ngettext(
                "%(count)d item had been changed by someone else since this list was shown; reload it first.",
                "%(count)d items had been changed by someone else since this list was shown; reload it first.",
                stale,
            )
            messages.warning(request, message % {"count": stale})
        return HttpResponseRedirect(request.get_full_path())

    @store_guarded(keeps_form=True)
    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        redirect = self.add_precondition(request)
        if redirect is not None:
            return redirect
        form = self.form_build(request, None, request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                obj = self.create(request, form)
            except ValidationError as error:
                form.add_service_error(error)
            else:
                self.history_record(request, form, None, obj)
                return self.saved_response(request, obj, _("“%(title)s” was added.") % {"title": obj.title})
        return self._form_response(request, form, None, _("Add %(name)s") % {"name": self.opts.verbose_name})

    def saved_response(self, request, obj, message: str):
        """Say the save went through and when the apps show it, then lead where the button pressed says, as Django's
        admin does: the item again ("Save and continue editing"), a new form ("Save and add another"), or the list."""
        messages.success(request, self._with_reach(obj, message))
        if "_continue" in request.POST:
            return HttpResponseRedirect(self._url("change", obj.id))
        if "_addanother" in request.POST and self.has_add_permission(request):
            return HttpResponseRedirect(self.add_another_url(obj))
        return HttpResponseRedirect(self._url("changelist"))

    def _with_reach(self, obj, message: str) -> str:
        """`message`, followed by when the apps show `obj`."""
        try:
            chain = selectors.content_chain(obj)
        except (NotFound, StoreUnavailable):
            # The save is stored: a parent gone meanwhile or a store that stops answering only cost the sentence.
            return message
        now = timezone.now()
        return _("%(saved)s %(reach)s") % {"saved": message, "reach": reach_message(reach_of(chain, now), now)}

    def add_another_url(self, obj) -> str:
        """Where "Save and add another" leads after saving `obj`: a new form, next to it where that applies."""
        return self._url("add")

    def add_precondition(self, request):
        """Return a response to show instead of the add form (e.g. a picker), or None."""
        return None

    @store_guarded(keeps_form=True)
    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Permission first, so a 404 never tells someone without rights that an id does not exist.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        obj = self._obj_or_404(object_id)
        can_change = self.has_change_permission(request)
        if request.method == "POST" and not can_change:
            raise PermissionDenied
        form = self.form_build(request, obj, request.POST or None, request.FILES or None, read_only=not can_change)
        title = (_("Change %(name)s") if can_change else _("View %(name)s")) % {"name": self.opts.verbose_name}
        if request.method != "POST":
            loaded = self.loaded_shown(request, obj, form, None) if can_change else None
            return self._form_response(request, form, obj, title, loaded=loaded)
        loaded, refused = self.loaded_posted(request, obj, form)
        form = self.choices_taken(request, obj, form, loaded)
        updated = merged = None
        if self._post_valid(request, form, loaded, refused):
            try:
                updated = self.update(request, obj, form)
            except ValidationError as error:
                if getattr(error, "code", None) != "stale":
                    form.add_service_error(error)
                else:
                    merged = self.stale_merge(request, obj.id, form, loaded)
                    form, updated = merged.form, merged.saved
            except NotFound:
                form.add_error(None, _("Someone else deleted this item since you opened it."))
        if updated is not None:
            self.history_record(request, form, merged.obj if merged is not None else obj, updated)
            response = self.saved_response(request, updated, _("“%(title)s” was changed.") % {"title": updated.title})
            if merged is not None:
                messages.info(request, self.stale_kept_message(merged.comparison))
            return response
        if merged is not None:
            return self._form_response(request, form, merged.obj or obj, title, merged.comparison, merged.loaded)
        comparison = conflict.comparison_posted(form, loaded, request.POST) if loaded and loaded.conflicts else None
        return self._form_response(request, form, obj, title, comparison, self.loaded_shown(request, obj, form, loaded))

    def _posted_version(self, form) -> int | None:
        """The version the form read, as the form itself parses it; None if it is not one."""
        try:
            return form.fields["version"].clean(form.data.get("version"))
        except ValidationError:
            return None

    def _post_valid(self, request, form, loaded, refused: bool) -> bool:
        """Validate the posted form and the editor's choices between their values and the stored ones."""
        valid = form.is_valid()
        return self.choices_valid(request, form, loaded, refused) and valid

    def _form_response(self, request, form, obj, title, comparison=None, loaded=None):
        context = self._context(
            request,
            title=title,
            form=form,
            original=obj,
            object_id=obj.id if obj else None,
            history_url=self._url("history", obj.id) if obj else None,
            delete_url=self._url("delete", obj.id) if obj else None,
            changelist_url=self._url("changelist"),
            read_only=any(field.disabled for field in form.fields.values()),
            comparison=comparison,
            keep_prefix=conflict.KEEP,
            loaded_field=LOADED_FIELD,
            loaded_text=self.loaded_text(obj, loaded),
            **self.form_extra_context(request, obj),
        )
        status = 400 if form.is_bound and form.errors else 200
        return TemplateResponse(request, self.form_template, context, status=status)

    @store_guarded()
    def delete_view(self, request, object_id, extra_context=None):
        if not self.has_delete_permission(request):
            raise PermissionDenied
        obj = self._obj_or_404(object_id)
        if request.method == "POST":
            try:
                self.delete(request, obj, posted_version(request))
            except NotFound:
                messages.error(request, _("Someone else deleted this item since you opened it."))
                return HttpResponseRedirect(self._url("changelist"))
            except ValidationError as error:
                stale = getattr(error, "code", None) == "stale"
                messages.error(request, STALE_DELETE if stale else " ".join(error.messages))
            except ValueError:
                messages.error(request, _("Reload the page and try again."))
            else:
                self.log_deletions(request, [self.anchor(obj)])
                messages.success(request, _("“%(title)s” was deleted.") % {"title": obj.title})
                return HttpResponseRedirect(self._url("changelist"))
        context = self._context(
            request,
            title=_("Are you sure?"),
            original=obj,
            object_id=obj.id,
            summary=self.delete_summary(obj),
            change_url=self._url("change", obj.id),
            changelist_url=self._url("changelist"),
        )
        return TemplateResponse(request, self.delete_template, context, status=409 if request.method == "POST" else 200)


def total_text(total: domain.Tally | None) -> str:
    """How many items the whole list holds, as the paginator says it; "N or more" when not all were counted."""
    if total is None:
        return ""
    count = number_format(total.count, force_grouping=True)
    if total.at_least:
        return _("%(count)s or more in all") % {"count": count}
    return ngettext("%(count)s item in all", "%(count)s items in all", total.count) % {"count": count}


def initial_from(obj) -> dict:
    """Form initial data from a domain object."""
    return asdict(obj) if obj else {}
