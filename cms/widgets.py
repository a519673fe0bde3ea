"""Program inputs that never list every program (the admin's select2 autocomplete, a program shown fixed), and the
season select of a new episode."""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib.admin.widgets import get_select2_language
from django.urls import reverse
from django.utils.html import format_html

from . import program_index


class ProgramAutocomplete(forms.Select):
    """A select holding only the chosen program; select2 asks the program search for the others as you type."""

    def build_attrs(self, base_attrs, extra_attrs=None):
        attrs = super().build_attrs(base_attrs, extra_attrs)
        # The data attributes Django's own autocomplete.js and select2 read (see AutocompleteMixin).
        attrs.update(
            {
                "data-ajax--cache": "true",
                "data-ajax--delay": 250,
                "data-ajax--type": "GET",
                "data-ajax--url": reverse("admin:cms_program_autocomplete"),
                "data-theme": "admin-autocomplete",
                "data-allow-clear": json.dumps(not self.is_required),
                "data-placeholder": "",
                "lang": get_select2_language(),
                "class": " ".join(filter(None, (attrs.get("class"), "admin-autocomplete"))),
            }
        )
        return attrs

    def optgroups(self, name, value, attrs=None):
        """The empty choice unless a program is required, and the chosen program if the list has it."""
        options = [] if self.is_required else [self.create_option(name, "", "", False, 0)]
        chosen = next((v for v in value if v), None)
        title = program_index.label(chosen) if chosen else None
        if title is not None:
            options.append(self.create_option(name, chosen, title, True, len(options)))
        return [(None, options, 0)]

    @property
    def media(self) -> forms.Media:
        extra = "" if settings.DEBUG else ".min"
        language = get_select2_language()
        return forms.Media(
            js=(
                f"admin/js/vendor/jquery/jquery{extra}.js",
                f"admin/js/vendor/select2/select2.full{extra}.js",
                *((f"admin/js/vendor/select2/i18n/{language}.js",) if language else ()),
                "admin/js/jquery.init.js",
                "admin/js/autocomplete.js",
            ),
            css={"screen": (f"admin/css/vendor/select2/select2{extra}.css", "admin/css/autocomplete.css")},
        )


class ProgramFixedInput(forms.Widget):
    """A program chosen once: its title shown as a link to its page, its id sent back as it was."""

    def render(self, name, value, attrs=None, renderer=None):
        hidden = forms.HiddenInput().render(name, value, attrs, renderer)
        title = program_index.label(value)
        if title is None:
            return format_html('{}<div class="readonly">{}</div>', hidden, value or "")
        url = reverse("admin:cms_program_change", args=[value])
        return format_html('{}<div class="readonly"><a href="{}" class="program-link">{}</a></div>', hidden, url, title)


class SeasonSelect(forms.Select):
    """The seasons of an episode's program; on a new episode each names the number the episode would take in it,
    which the form's script fills in when the editor chooses another season."""

    def __init__(self, attrs=None, choices=()):
        super().__init__(attrs, choices)
        self.next_numbers: dict[str, int | None] = {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value in self.next_numbers:
            number = self.next_numbers[value]
            option["attrs"]["data-next-number"] = "" if number is None else str(number)
        return option

    @property
    def media(self) -> forms.Media:
        return forms.Media(js=("cms/episode_number.js",))
