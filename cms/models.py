"""Unmanaged anchor models: content lives in DynamoDB, these give the admin its permissions,
content types and history. No table is ever created for them."""

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
