"""Template filters for showing content times and statuses to editors."""

from datetime import UTC

from django import template
from django.utils.html import format_html

from cms.broadcast import JST, broadcast_format, clock_format
from cms.forms import STATUS_CHOICES

register = template.Library()


@register.filter
def jst(value) -> str:
    """Show a time in JST, with its broadcast-day form when it falls after midnight."""
    if not value:
        return "—"
    alt = broadcast_format(value)
    return f"{clock_format(value)} ({alt})" if alt else clock_format(value)


@register.filter
def jst_cell(value) -> str:
    """A time for a list column, kept on one line so a narrow column never breaks a date in two."""
    return format_html('<span class="date-nowrap">{}</span>', jst(value))


@register.filter
def jst_utc(value) -> str:
    """An instant to the second in JST with UTC beside it, in a <time> element (ops compare it with logs)."""
    if not value:
        return "—"
    return format_html(
        '<time datetime="{}" class="date-nowrap">{} JST <span class="utc">({} UTC)</span></time>',
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        value.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S"),
        value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    )


@register.filter
def lookup(mapping, key):
    """mapping[key] in a template, '' when absent."""
    return mapping.get(key, "")


@register.filter
def status_label(status: str) -> str:
    """The editor-facing name of a content status (draft, published)."""
    return dict(STATUS_CHOICES).get(status, status)
