"""The page a login gets while its username and address are locked out after failed tries, and the lockout
admin (django-axes) in the editors' language."""

from axes import admin as axes_admin
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop, ngettext

# django-axes ships no Japanese: these are its own words in its lockout admin (models, fields, filters, actions),
# named here so that the project's catalog keeps their translations.
AXES_WORDS = (
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("access attempt expiration"),
    gettext_noop("access attempt expirations"),
    gettext_noop("Access Attempt"),
    gettext_noop("Expires At"),
    gettext_noop("The time when access attempt expires and is no longer valid."),
    gettext_noop("User Agent"),
    gettext_noop("IP Address"),
    gettext_noop("Username"),
    gettext_noop("HTTP Accept"),
    gettext_noop("Path"),
    gettext_noop("Attempt Time"),
    gettext_noop("Logout Time"),
    gettext_noop("Session key hash (sha256)"),
    gettext_noop("Access lock out"),
    gettext_noop("GET Data"),
    gettext_noop("POST Data"),
    gettext_noop("Failed Logins"),
    gettext_noop("Locked Out"),
    gettext_noop("Form Data"),
    gettext_noop("Meta Data"),
    gettext_noop("Clean up expired attempts"),
    gettext_noop("Attempt Remaining"),
    gettext_noop("Not set"),
)


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


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    """django-axes' list of login attempts, its status column labelled in words the catalog translates."""

    @admin.display(description=gettext_lazy("Lockout status"))
    def status(self, obj: AccessAttempt):
        return super().status(obj)


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, AccessAttemptAdmin)
