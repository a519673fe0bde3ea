"""Saving over someone else's save: their changes are kept, and only a field both changed asks for a choice."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from cms import services
from cms.store.errors import NotFound

from . import conflict
from .loaded import Loaded, LoadedInvalid, loaded_read, loaded_sign

# Saves that keep landing between a merge and its save are merged again this many times, then shown.
MERGE_ATTEMPTS = 3

DELETED = gettext_lazy("Someone else deleted this item since you opened it.")
LOADED_INVALID = gettext_lazy(
    "This page's record of the values you opened could not be verified, so nothing was saved. "
    "Check your input and save again."
)
CHOICES_UNKNOWN = gettext_lazy("Only the fields listed in the comparison can take the other version's value.")
CHOOSE = gettext_lazy("Choose whether to keep your value or theirs for “%(field)s”.")
KEPT_CHANGING = gettext_lazy(
    "This item was saved again while yours was being saved. Their changes are now in the form: check it and save again."
)


@dataclass
class Merged:
    """A stale save merged with the stored item: saved at once, or shown with what needs a choice."""

    form: object
    obj: object | None  # the stored item the form now stands for; None once it was deleted
    saved: object | None = None
    comparison: conflict.Comparison | None = None
    loaded: Loaded | None = None


def _loaded_of(form, obj, conflicts: tuple[str, ...] = ()) -> Loaded:
    """The values of stored `obj` as `form` shows them, with the fields that still need a choice."""
    return Loaded(obj.version, conflict.values_shown(form, obj), conflicts, obj.updated_by, obj.updated_at)


class StaleMergeMixin:
    """The change view's stale-save steps for a StoreModelAdmin."""

    def loaded_posted(self, request, obj, form) -> tuple[Loaded | None, bool]:
        """The values the posted form was loaded with (None if it does not say), and whether they were refused."""
        try:
            loaded = loaded_read(request.POST, model_name=self.opts.model_name, object_id=obj.id)
        except LoadedInvalid:
            return None, True
        # Values loaded at another version than the form says it read are not this form's: without them a stale
        # save asks about every difference, and a version that is not one is the form's own error.
        if loaded is not None and loaded.version != self._posted_version(form):
            return None, False
        return loaded, False

    def choices_taken(self, request, obj, form, loaded: Loaded | None):
        """The form with the stored value of each conflicting field whose editor chose theirs."""
        if loaded is None or not loaded.conflicts:
            return form
        return self.form_build(request, obj, conflict.data_with_choices(request.POST, loaded), request.FILES or None)

    def choices_valid(self, request, form, loaded: Loaded | None, refused: bool) -> bool:
        """Report refused values as loaded, unknown choices and missing ones on the form; True if there were none."""
        if refused:
            form.add_error(None, LOADED_INVALID)
            return False
        if conflict.choices_unknown(request.POST, loaded):
            form.add_error(None, CHOICES_UNKNOWN)
            return False
        missing = conflict.choices_missing(form, loaded)
        for name in missing:
            form.add_error(name, CHOOSE % {"field": form.fields[name].label})
        return not missing

    def loaded_shown(self, request, obj, form, loaded: Loaded | None) -> Loaded | None:
        """The values as loaded for the page to carry on: as posted, or the stored ones if the form read them."""
        if loaded is not None:
            return loaded
        if request.method == "POST" and self._posted_version(form) != obj.version:
            # The form read an older version, whose values are not known here.
            return None
        return _loaded_of(form, obj)

    def loaded_text(self, obj, loaded: Loaded | None) -> str:
        """`loaded` signed for the page of `obj`; empty for none."""
        if obj is None or loaded is None:
            return ""
        return loaded_sign(loaded, model_name=self.opts.model_name, object_id=obj.id)

    def stale_merge(self, request, object_id: str, form, loaded: Loaded | None) -> Merged:
        """Merge a save refused as stale with the stored item; save it at once when no field needs a choice."""
        base, taken = (loaded.values if loaded else None), {}
        for attempt in range(MERGE_ATTEMPTS):
            try:
                stored = self.obj_get(object_id)
            except NotFound:
                form.add_error(None, DELETED)
                return Merged(form, None)
            merge = conflict.merge(form, base, stored)
            for row in merge.taken:
                taken[row.name] = conflict.Taken(row.name, row.label, taken.get(row.name, row).before, row.now)
            comparison = conflict.Comparison(
                stored.updated_by, stored.updated_at, list(taken.values()), merge.conflicts, unrecorded=base is None
            )
            form = self.form_build(request, stored, merge.data, request.FILES or None)
            again = _loaded_of(form, stored, tuple(row.name for row in merge.conflicts))
            exhausted = attempt == MERGE_ATTEMPTS - 1
            if not form.is_valid() or merge.conflicts or exhausted:
                kept_changing = exhausted and form.is_valid() and not merge.conflicts
                form.add_error(None, KEPT_CHANGING if kept_changing else services.STALE_MESSAGE)
                return Merged(form, stored, comparison=comparison, loaded=again)
            try:
                return Merged(form, stored, saved=self.update(request, stored, form), comparison=comparison)
            except ValidationError as error:
                if getattr(error, "code", None) != "stale":
                    form.add_service_error(error)
                    return Merged(form, stored, comparison=comparison, loaded=again)
            except NotFound:
                form.add_error(None, DELETED)
                return Merged(form, None)
            base = again.values

    def stale_kept_message(self, comparison: conflict.Comparison) -> str:
        """Tell the editor whose changes made meanwhile were kept with theirs."""
        who = comparison.saved_by or _("someone else")
        if not comparison.taken:
            return _("%(user)s had saved this item meanwhile; their changes were kept too.") % {"user": who}
        fields = pgettext("list separator", ", ").join(row.label for row in comparison.taken)
        return _("The changes %(user)s saved meanwhile to %(fields)s were kept too.") % {"user": who, "fields": fields}
