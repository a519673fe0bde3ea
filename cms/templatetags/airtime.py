"""Template filters for showing content times and statuses to editors."""

from django import template
from django.utils.html import format_html

from cms.broadcast import broadcast_format, clock_format, utc_format
from cms.domain import time_text
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
    """A time to the second as ops read it: JST (its broadcast-day form beside it after midnight) with UTC beside,
    in a <time> element whose datetime attribute machines read."""
    if not value:
        return "—"
    alt = broadcast_format(value, seconds=True)
    return format_html(
        '<time class="jst-utc" datetime="{}"><span class="jst">{} JST</span>{} <span class="utc">{} UTC</span></time>',
        time_text(value),
        clock_format(value, seconds=True),
        format_html(' <span class="broadcast-day">({})</span>', alt) if alt else "",
        utc_format(value),
    )


@register.filter
def lookup(mapping, key):
    """mapping[key] in a template, '' when absent."""
    return mapping.get(key, "")


@register.filter
def status_label(status: str) -> str:
    """The editor-facing name of a content status (draft, published)."""
    return dict(STATUS_CHOICES).get(status, status)
