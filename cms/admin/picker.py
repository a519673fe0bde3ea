"""The admin's program picker: the search select2 asks as an editor types, and the lists' program filter.
Neither ever lists every program: both read the SQL program list."""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from cms import forms, program_index
from cms.groups import CONTENT_MODELS

from .base import LookupChoices

PER_PAGE = 20


class ProgramFilter(LookupChoices):
    """The program filter of the season and episode lists: an autocomplete select; a program asked for is
    offered if the program list has it."""

    def __init__(self, value: str):
        self.form = forms.ProgramFilterForm(initial={"program": value})

    def __contains__(self, value: str) -> bool:
        return program_index.entry_exists(value)


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": {"status": status, "message": message}}, status=status)


def _may_search(user) -> bool:
    """Whoever may see programs, seasons or episodes may search programs by title."""
    return any(user.has_perm(f"cms.{action}_{model}") for model in CONTENT_MODELS for action in ("view", "change"))


class ProgramSearchMixin:
    """A ModelAdmin with the program search at autocomplete/ (admin:cms_program_autocomplete)."""

    def get_urls(self):
        view = self.admin_site.admin_view(require_safe(self.autocomplete_view))
        # Before the admin's own URLs, whose last one takes any path as an object id.
        return [path("autocomplete/", view, name="cms_program_autocomplete"), *super().get_urls()]

    def autocomplete_view(self, request):
        """One page of the programs matching `term`, in reading order, as select2 reads them."""
        if not _may_search(request.user):
            return _error(403, _("You do not have permission to search programs."))
        query = forms.ProgramSearchQuery(request.GET)
        if not query.is_valid():
            return _error(400, " ".join(message for messages in query.errors.values() for message in messages))
        term, page = query.cleaned_data["term"], query.cleaned_data["page"] or 1
        found, more = program_index.choices_search(term, page, PER_PAGE)
        results = [{"id": program_id, "text": title} for program_id, title in found]
        return JsonResponse({"results": results, "pagination": {"more": more}})
