"""Unmanaged anchor models: content lives in DynamoDB, these give the admin its permissions,
content types and history. No table is ever created for them. Two managed tables: ProgramEntry, a SQL
copy of every program, so pickers and list labels never read all programs from DynamoDB; and Revision,
the values each admin save left an item with, for its history."""

from django.contrib.admin.models import LogEntry
from django.db import models
from django.utils.translation import gettext_lazy as _


class _Anchor(models.Model):
    id = models.CharField(primary_key=True, max_length=40)
    title = models.CharField(_("title"), max_length=200)

    class Meta:
        abstract = True
        managed = False

    def __str__(self) -> str:
        return self.title


class Program(_Anchor):
    class Meta(_Anchor.Meta):
        verbose_name = _("program")
        verbose_name_plural = _("programs")


class Season(_Anchor):
    class Meta(_Anchor.Meta):
        verbose_name = _("season")
        verbose_name_plural = _("seasons")


class Episode(_Anchor):
    class Meta(_Anchor.Meta):
        verbose_name = _("episode")
        verbose_name_plural = _("episodes")


class ProgramEntry(models.Model):
    """One live program as the pickers and list labels need it: a SQL copy of its DynamoDB item, kept by
    cms.program_index when a program is saved and by a sweep."""

    id = models.CharField(primary_key=True, max_length=40)
    title = models.CharField(max_length=200)
    title_kana = models.CharField(max_length=200, blank=True)
    # Digits from cms.kana.reading_sort_text, then the id's: ordering by this column is reading order.
    reading = models.CharField(max_length=2048, db_index=True)
    status = models.CharField(max_length=20)
    genre = models.CharField(max_length=40, blank=True)
    sort_order = models.BigIntegerField(default=0)
    # Lets the list tell scheduled programs (published, starting later) from live ones.
    publish_at = models.DateTimeField(null=True, blank=True)
    version = models.BigIntegerField()
    # Title and reading folded as cms.domain.title_normalize folds a search (width, case, katakana).
    search_text = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.title


class Revision(models.Model):
    """What one admin save (a history entry) left an item with, and what it changed, so its history can show
    both sides and go back to it."""

    entry = models.OneToOneField(LogEntry, on_delete=models.CASCADE, primary_key=True, related_name="revision")
    # The item's version after the save: a revision already current offers no way back to itself.
    version = models.BigIntegerField()
    # Every field a revert can set, as the form shows it (the text a browser would post), after the save.
    values = models.JSONField(default=dict)
    # The fields this save changed, as they were before it (empty for an addition).
    before = models.JSONField(default=dict)
    # False when a value was too long to keep whole: shown cut, never reverted to.
    complete = models.BooleanField(default=True)
    # The revision this save went back to, when it was a revert.
    reverts = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"{self.entry.object_repr} v{self.version}"
