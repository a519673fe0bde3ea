"""SQL state of the cache engine: program sources, pending changes, the operations log, family rows."""

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
    # When it was sent, or last kept by a worker waiting its turn: a mark older than CACHEOPS_QUEUED_STALE_SECONDS
    # may name a lost message and is sent again.
    queued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.family


class PendingChange(models.Model):
    """A program changed since the last published build of `family` (`*` = everything).

    It stays until a build that contains it is published: a build marks it taken when it starts and gives
    it back if it fails; the stalled-changes sweep gives back what a dead build held.
    """

    FULL = "*"
    # Nothing changed in the store: publish again from the stored sources (the cache lost what was published).
    AGAIN = "="

    family = models.CharField(max_length=80, db_index=True)
    program_id = models.CharField(max_length=40)
    # The items written, as [kind, id, version, deleted]: a build reads them by key, whatever the indexes say.
    items = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    taken_by = models.ForeignKey(
        "Operation", null=True, blank=True, on_delete=models.SET_NULL, related_name="changes_taken"
    )
    taken_at = models.DateTimeField(null=True, blank=True)

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
    # Written when the operation starts, while it runs, and when it ends: a row without a result whose heartbeat
    # missed three beats belongs to a dead worker and is marked abandoned.
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)
    # The Celery task running it (empty outside a task): the console follows its buttons' tasks through it.
    task_id = models.CharField(max_length=255, blank=True, db_index=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["result", "heartbeat_at"], name="cacheops_op_unfinished")]
        verbose_name = _("cache operation")
        verbose_name_plural = _("cache operations")

    def __str__(self) -> str:
        return f"{self.kind} {self.family} {self.result}"


class Family(models.Model):
    """The release state of one family, changed only by `cacheops.release.releases` under this row's lock.

    The cache's manifest is a projection of this row and the family's `Release` rows; nothing reads it back to
    decide anything.
    """

    name = models.CharField(max_length=80, primary_key=True)
    current_version = models.CharField(max_length=16, blank=True)
    # The newest intact earlier version that was current and is not purged (what "roll back" restores).
    previous_version = models.CharField(max_length=16, blank=True)
    # The newest build's version: current unless a pin holds another one or a purge held it back.
    latest_version = models.CharField(max_length=16, blank=True)
    # Taken by each build before it reads content; a build is recorded only above the last recorded one.
    generation = models.PositiveBigIntegerField(default=0)
    published_generation = models.PositiveBigIntegerField(default=0)
    # Bumped by every change of this state; the manifest carries it so readers order what they see.
    revision = models.PositiveBigIntegerField(default=0)
    staged_version = models.CharField(max_length=16, blank=True)
    staged_at = models.DateTimeField(null=True, blank=True)
    # When the newest build's content changes by itself (its next publish_at or expire_at).
    next_boundary = models.DateTimeField(null=True, blank=True)
    stale = models.BooleanField(default=False)
    # A pin (a rollback) holds the current version through builds, ticks and airtimes until resumed.
    pinned_at = models.DateTimeField(null=True, blank=True)
    pinned_by = models.CharField(max_length=150, blank=True)
    pin_reason = models.CharField(max_length=500, blank=True)
    # What builds made while pinned, compared with the pinned version (catalog only): {"version", "changes"}.
    waiting = models.JSONField(null=True, blank=True)
    # A build produced a purged version again (the store still holds it): {"version", "changes"}.
    held_back = models.JSONField(null=True, blank=True)
    # The projection as last written to the cache: pages read it, never the cache.
    manifest = models.JSONField(null=True, blank=True)
    # The CDN invalidation the last release change sent: {"id", "status", "paths", "at"} or {"error"}.
    cdn = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class Release(models.Model):
    """One version of a family: the facts of its snapshot, and what the family did with it."""

    family = models.CharField(max_length=80)
    version = models.CharField(max_length=16)
    # The version's manifest facts: codec, sizes, chunks, as_of, built_at, expires_at, next_boundary.
    facts = models.JSONField()
    recorded_at = models.DateTimeField()
    # When it last stopped being current (None while current, or if it never was).
    current_from = models.DateTimeField(null=True, blank=True)
    current_until = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    purged_by = models.CharField(max_length=150, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["family", "version"], name="cacheops_release_once")]
        indexes = [models.Index(fields=["family", "current_until"], name="cacheops_release_earlier")]

    def __str__(self) -> str:
        return f"{self.family} {self.version}"


class TrafficMinute(models.Model):
    """What one family cost in one minute, added up over every web process and worker of the cluster."""

    family = models.CharField(max_length=80)
    minute = models.DateTimeField()
    requests = models.PositiveBigIntegerField(default=0)
    # Answered from a process's memory, without waiting on the shared cache; misses did wait.
    l1_hits = models.PositiveBigIntegerField(default=0)
    misses = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    bytes_served = models.PositiveBigIntegerField(default=0)
    builds = models.PositiveIntegerField(default=0)
    # Shared-cache operations the readers of this family sent (their polls and chunk fetches).
    cache_ops = models.PositiveBigIntegerField(default=0)
    # Bytes those operations read (manifests and chunks), against the shared cache's throughput.
    cache_bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["family", "minute"], name="cacheops_traffic_minute_once")]
        indexes = [models.Index(fields=["minute"], name="cacheops_traffic_minute")]

    def __str__(self) -> str:
        return f"{self.family} {self.minute:%Y-%m-%d %H:%M}"


class ConsoleTask(models.Model):
    """A cache task started from the console; at most one per family runs, which the constraint below decides."""

    family = models.CharField(max_length=80)
    kind = models.CharField(max_length=20)
    # Empty until the broker has taken the task.
    task_id = models.CharField(max_length=255, blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The outcome once known, so that a finished task is answered from SQL, not from the result backend.
    state = models.CharField(max_length=20, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        default_permissions = ()
        permissions = [
            ("rebuild", "Can rebuild a cache family"),
            ("prewarm", "Can prewarm a cache family"),
            ("invalidate", "Can invalidate a cache family"),
            ("purge", "Can purge the current version of a cache family"),
            ("rollback", "Can roll a cache family back to its previous version"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["family"], condition=models.Q(finished_at__isnull=True), name="cacheops_console_task_running"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.family}"


class AirtimeSchedule(models.Model):
    """An airtime ops prepare for: the catalog as of `at` built and verified ahead, then staged like a boundary."""

    PREPARED, STAGED, DONE, MISSED, FAILED, CANCELLED = "prepared", "staged", "done", "missed", "failed", "cancelled"

    at = models.DateTimeField(_("airtime"), db_index=True)
    created_by = models.CharField(_("scheduled by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("scheduled at"), auto_now_add=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.CharField(_("cancelled by"), max_length=150, blank=True)
    # The version built as of `at` from the stored sources, its chunks written and read back.
    prepared_version = models.CharField(_("prepared version"), max_length=16, blank=True)
    prepared_at = models.DateTimeField(_("prepared at"), null=True, blank=True)
    raw_bytes = models.PositiveBigIntegerField(_("raw size"), null=True, blank=True)
    compressed_bytes = models.PositiveBigIntegerField(_("compressed size"), null=True, blank=True)
    chunk_count = models.PositiveIntegerField(_("chunks"), null=True, blank=True)
    # What changes at `at` compared with the version current when it was prepared: programs and episodes.
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    # One entry per chunk fetched through the CDN ahead: index, HTTP status (or error) and when.
    edge = models.JSONField(_("edge warming"), default=list, blank=True)
    result = models.CharField(_("result"), max_length=20, blank=True)
    detail = models.TextField(_("detail"), blank=True)

    class Meta:
        ordering = ["at", "id"]
        default_permissions = ()
        verbose_name = _("airtime schedule")
        verbose_name_plural = _("airtime schedules")

    def __str__(self) -> str:
        return f"airtime {self.at:%Y-%m-%d %H:%M} {self.result}"


class OperationTiming(models.Model):
    """Finished cache operations counted by kind, result and duration bucket, for the Prometheus histogram.

    Counts only ever grow: every worker adds its operations here, and /metrics reads the sums (cacheops/monitoring/).
    """

    kind = models.CharField(max_length=20)
    result = models.CharField(max_length=20)
    # Index into cacheops.metrics.OPERATION_BUCKETS; one past its end counts the slower ones.
    bucket = models.PositiveSmallIntegerField()
    count = models.PositiveBigIntegerField(default=0)
    seconds = models.FloatField(default=0)

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(fields=["kind", "result", "bucket"], name="cacheops_operation_timing_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.result} #{self.bucket}"


class Beacon(models.Model):
    """The last sign of life of a long-running process (Celery beat), for /metrics and the console."""

    name = models.CharField(max_length=200, primary_key=True)
    at = models.DateTimeField()

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.name} {self.at:%Y-%m-%d %H:%M:%S}"


class Worker(models.Model):
    """A Celery worker process's last sign of life, written every CACHEOPS_HEARTBEAT_SECONDS while it runs."""

    # Its node name and pid ("celery@host pid 123"): a restarted worker is another row.
    name = models.CharField(max_length=255, primary_key=True)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)
    # Since when it has held no task (None while it holds one), and the ids of the tasks it holds: a task no live
    # worker holds while one has been idle was lost (a broker restart, a worker that died holding it).
    idle_since = models.DateTimeField(null=True, blank=True)
    task_ids = models.JSONField(default=list, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return self.name
