"""Programs, seasons and episodes in the admin, backed by DynamoDB."""

from __future__ import annotations

from django.contrib import admin
from django.core.files.storage import default_storage
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cms import domain, forms, models, selectors, services
from cms.templatetags.airtime import jst_cell

from .base import StoreModelAdmin, initial_from
from .picker import ProgramFilter, ProgramSearchMixin
from .posted import posted_choices

admin.site.site_header = gettext_lazy("Airtime back office")
admin.site.site_title = gettext_lazy("Airtime back office")
# No public site lives at "/" (the catalog is an API for apps): no "View site" link leading nowhere.
admin.site.site_url = None

STATUS_FILTER = (
    "status",
    gettext_lazy("Status"),
    [
        ("", gettext_lazy("All")),
        ("draft", gettext_lazy("Draft")),
        ("published", gettext_lazy("Published")),
        (selectors.SCHEDULED, gettext_lazy("Scheduled (published, not yet live)")),
    ],
)


def stored_image_url(name: str) -> str | None:
    """Where the admin shows an image uploaded to the media storage; None for none or one held elsewhere."""
    # Imported content may name images on a CDN by full URL: the admin's CSP loads images from the media
    # storage only, so those get no preview.
    if not name or "://" in name:
        return None
    return default_storage.url(name)


STATUS_LABELS = dict(forms.STATUS_CHOICES)


def _user(request) -> str:
    return request.user.get_username()


def _parents(program_id: str, season: domain.Season | None = None) -> list[dict]:
    """The program (and season) an item belongs to, each with its page, for the breadcrumb; [] if unknown."""
    title = selectors.program_titles([program_id]).get(program_id) if domain.id_valid(program_id) else None
    if title is None:
        return []
    parents = [{"kind": "program", "title": title, "url": reverse("admin:cms_program_change", args=[program_id])}]
    if season is not None and season.program_id == program_id:
        url = reverse("admin:cms_season_change", args=[season.id])
        parents.append({"kind": "season", "title": season.title, "url": url})
    return parents


def _chosen(request, name: str) -> str:
    """The value an add form was opened with (?program=, ?season=), or the one it posted."""
    return request.POST.get(f"{name}_id") or request.GET.get(name, "")


def _program_filter(request):
    return ("program", gettext_lazy("Program"), ProgramFilter(request.GET.get("program", "")))


@admin.register(models.Program)
class ProgramAdmin(ProgramSearchMixin, StoreModelAdmin):
    kind = "program"
    orders = (("sort", gettext_lazy("Sort order")), ("title", gettext_lazy("Title (gojuon order of the reading)")))

    def order_used(self, params):
        # The SQL program list keeps the chosen order when searching too.
        return params["o"] or self.orders[0][0]

    def page(self, request, params):
        return selectors.programs_page(
            q=params["q"],
            status=params["status"],
            genre=params["genre"],
            order=params["o"] or "sort",
            cursor=params["cursor"],
        )

    def columns(self, items):
        headers = [_("Title"), _("Reading"), _("Genre"), _("Status"), _("Sort order"), _("Available from")]
        rows = [
            self.row(
                p,
                p.title_kana,
                forms.GENRE_LABELS.get(p.genre, p.genre),
                STATUS_LABELS[p.status],
                p.sort_order,
                jst_cell(p.publish_at),
            )
            for p in items
        ]
        return headers, rows

    def filters(self, request):
        genres = [("", _("All"))] + forms.GENRE_CHOICES[1:]
        return [STATUS_FILTER, ("genre", _("Genre"), genres)]

    def obj_get(self, object_id):
        return selectors.program_get(object_id)

    def form_build(self, request, obj, data=None, files=None, read_only=False):
        return forms.ProgramForm(data, files, initial=initial_from(obj), read_only=read_only)

    def create(self, request, form):
        return services.program_create(
            user=_user(request),
            key_art_upload=form.cleaned_data["key_art_upload"],
            save_token=form.token,
            **form.values(),
        )

    def update(self, request, obj, form):
        return services.program_update(
            program_id=obj.id,
            version=form.cleaned_data["version"],
            user=_user(request),
            key_art_upload=form.cleaned_data["key_art_upload"],
            save_token=form.token,
            **form.values(),
        )

    def delete(self, request, obj, version):
        services.program_delete(program_id=obj.id, version=version, user=_user(request))

    def delete_summary(self, obj):
        seasons, episodes = selectors.program_children_count(obj.id)
        parts = {
            "seasons": ngettext("%(count)d season", "%(count)d seasons", seasons) % {"count": seasons},
            "episodes": ngettext("%(count)d episode", "%(count)d episodes", episodes) % {"count": episodes},
        }
        return [_("%(seasons)s and %(episodes)s will be deleted with it.") % parts]

    def form_extra_context(self, request, obj):
        if obj is None:
            return {}
        seasons, episodes = selectors.program_contents(obj.id)
        return {
            "image_url": stored_image_url(obj.key_art),
            "contents": [(season, episodes.get(season.id, [])) for season in seasons],
            "season_add_url": reverse("admin:cms_season_add") + f"?program={obj.id}",
            "episode_add_url": reverse("admin:cms_episode_add") + f"?program={obj.id}",
        }


@admin.register(models.Season)
class SeasonAdmin(StoreModelAdmin):
    kind = "season"

    def page(self, request, params):
        return selectors.seasons_page(
            q=params["q"], status=params["status"], program_id=params["program"], cursor=params["cursor"]
        )

    def columns(self, items):
        titles = selectors.program_titles([s.program_id for s in items])
        headers = [_("Title"), _("Program"), _("Sort order"), _("Status"), _("Available from")]
        rows = [
            self.row(
                s,
                titles.get(s.program_id, "—"),
                s.sort_order,
                STATUS_LABELS[s.status],
                jst_cell(s.publish_at),
            )
            for s in items
        ]
        return headers, rows

    def filters(self, request):
        return [STATUS_FILTER, _program_filter(request)]

    def obj_get(self, object_id):
        return selectors.season_get(object_id)

    def form_build(self, request, obj, data=None, files=None, read_only=False):
        initial = initial_from(obj) or {"program_id": request.GET.get("program", "")}
        return forms.SeasonForm(data, files, initial=initial, read_only=read_only, program_fixed=obj is not None)

    def form_offline(self, request, object_id):
        return forms.SeasonForm(request.POST, request.FILES, program_fixed=object_id is not None)

    def form_extra_context(self, request, obj):
        return {"parents": _parents(obj.program_id if obj else _chosen(request, "program"))}

    def add_another_url(self, obj):
        return f"{self._url('add')}?{urlencode({'program': obj.program_id})}"

    def create(self, request, form):
        return services.season_create(user=_user(request), save_token=form.token, **form.values())

    def update(self, request, obj, form):
        return services.season_update(
            season_id=obj.id,
            version=form.cleaned_data["version"],
            user=_user(request),
            save_token=form.token,
            **form.values(),
        )

    def delete(self, request, obj, version):
        services.season_delete(season_id=obj.id, version=version, user=_user(request))


@admin.register(models.Episode)
class EpisodeAdmin(StoreModelAdmin):
    kind = "episode"
    orders = (("program", gettext_lazy("Program, season, number")), ("airtime", gettext_lazy("Available from")))

    def page(self, request, params):
        return selectors.episodes_page(
            q=params["q"],
            status=params["status"],
            program_id=params["program"],
            order=params["o"] or "program",
            cursor=params["cursor"],
        )

    def columns(self, items):
        titles = selectors.program_titles([e.program_id for e in items])
        headers = [_("Title"), _("Program"), _("No."), _("Status"), _("Available from"), _("Running time")]
        rows = [
            self.row(
                e,
                titles.get(e.program_id, "—"),
                e.number,
                STATUS_LABELS[e.status],
                jst_cell(e.publish_at),
                forms.duration_format(e.duration_s),
            )
            for e in items
        ]
        return headers, rows

    def filters(self, request):
        return [STATUS_FILTER, _program_filter(request)]

    def order_used(self, params):
        # One program's episodes come from its own index, always by season and number.
        if params["program"]:
            return "program"
        # Scheduled episodes are read by airtime from now on (the next to go live first), unless searched by title.
        if params["status"] == selectors.SCHEDULED and not params["q"]:
            return "soonest"
        return super().order_used(params)

    def order_note(self, used):
        if used == "program":
            return _("With a program chosen, episodes are listed by season and number, not in the chosen order.")
        if used == "soonest":
            return _("Scheduled episodes are listed by airtime, the next to go live first.")
        return super().order_note(used)

    def obj_get(self, object_id):
        return selectors.episode_get(object_id)

    def add_precondition(self, request):
        posted = request.POST.get("program_id")
        if posted:
            # A posted episode names its program in the form; the service checks it.
            return None if domain.id_valid(posted) else self._program_pick(request, forms.ProgramPickForm())
        form = forms.ProgramPickForm(request.GET if "program" in request.GET else None)
        if form.is_bound and form.is_valid():
            return None
        return self._program_pick(request, form)

    def _program_pick(self, request, form):
        context = self._context(request, title=_("Add episode: choose its program"), form=form)
        return TemplateResponse(request, "admin/cms/program_pick.html", context)

    def form_build(self, request, obj, data=None, files=None, read_only=False):
        if obj:
            seasons, _episodes = selectors.program_contents(obj.program_id)
            initial, next_numbers = initial_from(obj), {}
        else:
            program_id = _chosen(request, "program")
            seasons, next_numbers = selectors.episode_numbers_next(program_id)
            initial = {"program_id": program_id, **self._season_initial(request, seasons, next_numbers)}
        return forms.EpisodeForm(
            data,
            files,
            initial=initial,
            read_only=read_only,
            seasons=[(s.id, s.title) for s in seasons],
            next_numbers=next_numbers,
        )

    def _season_initial(self, request, seasons, next_numbers) -> dict:
        """A new episode's season (the one asked for, else the select's first) and the next number in it."""
        season_id = request.GET.get("season", "")
        if season_id not in next_numbers:
            season_id = seasons[0].id if seasons else ""
        return {"season_id": season_id, "number": next_numbers[season_id]} if season_id else {}

    def form_offline(self, request, object_id):
        return forms.EpisodeForm(request.POST, request.FILES, seasons=posted_choices(request, "season_id"))

    def form_extra_context(self, request, obj):
        program_id = obj.program_id if obj else _chosen(request, "program")
        return {
            "image_url": stored_image_url(obj.thumbnail) if obj else None,
            "parents": _parents(program_id, self._season(obj.season_id if obj else _chosen(request, "season"))),
        }

    def add_another_url(self, obj):
        # The next episode of the same season, numbered after this one.
        return f"{self._url('add')}?{urlencode({'program': obj.program_id, 'season': obj.season_id})}"

    def _season(self, season_id: str) -> domain.Season | None:
        try:
            return selectors.season_get(season_id)
        except selectors.NotFound:
            return None

    def create(self, request, form):
        return services.episode_create(
            user=_user(request),
            thumbnail_upload=form.cleaned_data["thumbnail_upload"],
            save_token=form.token,
            **form.values(),
        )

    def update(self, request, obj, form):
        values = form.values(exclude=("version", "program_id"))
        return services.episode_update(
            episode_id=obj.id,
            version=form.cleaned_data["version"],
            user=_user(request),
            thumbnail_upload=form.cleaned_data["thumbnail_upload"],
            save_token=form.token,
            **values,
        )

    def delete(self, request, obj, version):
        services.episode_delete(episode_id=obj.id, version=version, user=_user(request))
