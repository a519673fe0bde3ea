"""SQL state of the cache engine: program sources, pending changes, the operations log."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ProgramSource(models.Model):
    """Everything about one program (drafts and future items too), as of its last read."""

    program_id = models.CharField(max_length=40, primary_key=True)
    data = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.program_id


class BuildRequest(models.Model):
    """Whether a rebuild of a family is queued; flipped atomically to fold saves together."""

    family = models.CharField(max_length=80, primary_key=True)
    queued = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.family


class PendingChange(models.Model):
    """A program changed since the last build of `family` (`*` = everything)."""

    FULL = "*"

    family = models.CharField(max_length=80, db_index=True)
    program_id = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.family} {self.program_id}"


class Operation(models.Model):
    """One cache operation: what, on which family, who asked, and how it ended."""

    kind = models.CharField(_("operation"), max_length=20)
    family = models.CharField(_("family"), max_length=80)
    requested_by = models.CharField(_("requested by"), max_length=150, blank=True)
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True)
    result = models.CharField(_("result"), max_length=20, blank=True)
    version_before = models.CharField(_("version before"), max_length=16, blank=True)
    version_after = models.CharField(_("version after"), max_length=16, blank=True)
    detail = models.TextField(_("detail"), blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("cache operation")
        verbose_name_plural = _("cache operations")

    def __str__(self) -> str:
        return f"{self.kind} {self.family} {self.result}"
