"""When the content store does not answer: a 503 page, or the posted form with the input kept."""

from __future__ import annotations

import functools
import logging

from django.template.response import TemplateResponse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cms.store.errors import StoreUnavailable, StoreUnconfirmed

from . import loaded

logger = logging.getLogger(__name__)

STORE_READ_UNAVAILABLE = gettext_lazy(
    "The content store is not answering, so this page cannot be shown. Try again in a minute."
)
STORE_SAVE_UNAVAILABLE = gettext_lazy(
    "The content store is not answering; your input is kept below; nothing was saved."
)
STORE_SAVE_UNCONFIRMED = gettext_lazy(
    "The content store did not confirm the save; your input is kept below. Save again: a save that went through "
    "is not applied twice."
)
STORE_CHANGE_UNCONFIRMED = gettext_lazy(
    "The content store did not answer; reload the page to check whether your change went through before trying again."
)


def store_guarded(*, keeps_form: bool = False):
    """Answer 503 with a message an editor can act on when the content store does not answer in time."""

    def decorate(view):
        @functools.wraps(view)
        def guarded(self, request, *args, **kwargs):
            try:
                return view(self, request, *args, **kwargs)
            except StoreUnavailable as error:
                logger.warning("Content store unavailable: %s %s", request.method, request.path, exc_info=True)
                if keeps_form and request.method == "POST":
                    return self.store_unavailable_form(request, error, kwargs.get("object_id"))
                return self.store_unavailable_page(request)

        return guarded

    return decorate


class StoreOutageMixin:
    """The answers of a StoreModelAdmin while the content store is not answering."""

    def store_unavailable_form(self, request, error, object_id: str | None):
        """The posted form again, the editor's input kept, saying whether the save may have happened."""
        form = self.form_offline(request, object_id)
        form.add_error(None, STORE_SAVE_UNCONFIRMED if isinstance(error, StoreUnconfirmed) else STORE_SAVE_UNAVAILABLE)
        # Only what the request itself says about the item: reading it would wait on the store again.
        original = {"id": object_id, "title": request.POST.get("title", "")} if object_id else None
        title = _("Change %(name)s") if object_id else _("Add %(name)s")
        context = self._context(
            request,
            title=title % {"name": self.opts.verbose_name},
            form=form,
            original=original,
            object_id=object_id,
            history_url=self._url("history", object_id) if object_id else None,
            delete_url=self._url("delete", object_id) if object_id else None,
            changelist_url=self._url("changelist"),
            read_only=False,
            # Sent back unchecked, so the next save still merges from the values the editor opened.
            loaded_field=loaded.FIELD,
            loaded_text=loaded.posted_text(request.POST),
        )
        return TemplateResponse(request, self.form_template, context, status=503)

    def store_unavailable_page(self, request):
        """A short page saying the store is not answering (and, after a change, that it may have happened)."""
        message = STORE_CHANGE_UNCONFIRMED if request.method == "POST" else STORE_READ_UNAVAILABLE
        context = self._context(
            request,
            title=capfirst(self.opts.verbose_name_plural),
            message=message,
            changelist_url=self._url("changelist"),
        )
        return TemplateResponse(request, "admin/cms/store_unavailable.html", context, status=503)
