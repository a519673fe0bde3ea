"""The page a login gets while its username and address are locked out after failed tries."""

from django.conf import settings
from django.contrib import admin
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


def lockout_response(request, original_response=None, credentials=None):
    """Answer 429 with the admin's lockout page, saying when to try again."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = ngettext(
        "Too many failed logins for this username from your address. Try again in %(minutes)d minute.",
        "Too many failed logins for this username from your address. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}
    context = {**admin.site.each_context(request), "title": _("Login locked"), "message": message}
    return render(request, "admin/cms/lockout.html", context, status=429)
