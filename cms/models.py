"""Unmanaged anchor models: content lives in DynamoDB, these give the admin its permissions,
content types and history. No table is ever created for them. ProgramEntry is the one managed table:
a SQL copy of every program, so pickers and list labels never read all programs from DynamoDB."""

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
