"""PynamoDB tables for content. Only cms/store imports this module."""

from django.conf import settings
from pynamodb.attributes import (
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from .connection import StoreConnection


class _Meta:
    billing_mode = "PAY_PER_REQUEST"
    # Timeouts and retries (botocore's, with exponential backoff) come from settings: see models_configure().


def _index(name: str, hash_attr: str, range_attr: str | None = None, keys_only: bool = False):
    """Declare a pay-per-request GSI named `name` over `hash_attr` (and `range_attr`)."""
    meta = type(
        "Meta",
        (),
        {
            "index_name": name,
            "projection": KeysOnlyProjection() if keys_only else AllProjection(),
            "billing_mode": "PAY_PER_REQUEST",
        },
    )
    attrs = {"Meta": meta, hash_attr: UnicodeAttribute(hash_key=True)}
    if range_attr:
        range_cls = NumberAttribute if range_attr in ("sort_order", "number") else UnicodeAttribute
        attrs[range_attr] = range_cls(range_key=True)
    return type(f"{name}_index", (GlobalSecondaryIndex,), attrs)()


class ProgramItem(Model):
    class Meta(_Meta):
        table_name = "programs"

    id = UnicodeAttribute(hash_key=True)
    slug = UnicodeAttribute()
    title = UnicodeAttribute()
    title_kana = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    genre = UnicodeAttribute(null=True)
    key_art = UnicodeAttribute(null=True)
    sort_order = NumberAttribute(default=0)
    status = UnicodeAttribute()
    publish_at = UnicodeAttribute(null=True)
    expire_at = UnicodeAttribute(null=True)
    version = VersionAttribute()
    # The request token of the save that wrote this version, so a resent save is known as done.
    save_token = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    updated_by = UnicodeAttribute(null=True)
    # Index keys. `kind` is removed when a program is deleted, so it drops out of every list at once.
    kind = UnicodeAttribute(null=True)
    title_norm = UnicodeAttribute(null=True)
    kana_norm = UnicodeAttribute(null=True)
    deleted_kind = UnicodeAttribute(null=True)
    deleted_at = UnicodeAttribute(null=True)

    by_sort = _index("by_sort", "kind", "sort_order")
    by_title = _index("by_title", "kind", "title_norm")
    by_kana = _index("by_kana", "kind", "kana_norm")
    by_deleted = _index("by_deleted", "deleted_kind", "deleted_at", keys_only=True)


class SeasonItem(Model):
    class Meta(_Meta):
        table_name = "seasons"

    id = UnicodeAttribute(hash_key=True)
    program_id = UnicodeAttribute()
    title = UnicodeAttribute()
    sort_order = NumberAttribute(default=0)
    status = UnicodeAttribute()
    publish_at = UnicodeAttribute(null=True)
    expire_at = UnicodeAttribute(null=True)
    version = VersionAttribute()
    # The request token of the save that wrote this version, so a resent save is known as done.
    save_token = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    updated_by = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)
    title_norm = UnicodeAttribute(null=True)

    by_program = _index("by_program", "program_id", "sort_order")
    by_title = _index("by_title", "kind", "title_norm")


class EpisodeItem(Model):
    class Meta(_Meta):
        table_name = "episodes"

    id = UnicodeAttribute(hash_key=True)
    program_id = UnicodeAttribute()
    season_id = UnicodeAttribute()
    number = NumberAttribute()
    title = UnicodeAttribute()
    synopsis = UnicodeAttribute(null=True)
    duration_s = NumberAttribute()
    thumbnail = UnicodeAttribute(null=True)
    video_url = UnicodeAttribute(null=True)
    tags = ListAttribute(of=UnicodeAttribute, null=True)
    cast = ListAttribute(of=UnicodeAttribute, null=True)
    status = UnicodeAttribute()
    publish_at = UnicodeAttribute(null=True)
    expire_at = UnicodeAttribute(null=True)
    version = VersionAttribute()
    # The request token of the save that wrote this version, so a resent save is known as done.
    save_token = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    updated_by = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)
    title_norm = UnicodeAttribute(null=True)
    order_key = UnicodeAttribute(null=True)
    season_key = UnicodeAttribute(null=True)
    publish_sort = UnicodeAttribute(null=True)
    # "episode#draft" or "episode#published": status filters are key conditions of the by_status_* indexes.
    status_kind = UnicodeAttribute(null=True)

    by_season = _index("by_season", "season_id", "number")
    by_program = _index("by_program", "program_id", "season_key")
    by_order = _index("by_order", "kind", "order_key")
    by_airtime = _index("by_airtime", "kind", "publish_sort")
    by_title = _index("by_title", "kind", "title_norm")
    by_status_order = _index("by_status_order", "status_kind", "order_key")
    by_status_airtime = _index("by_status_airtime", "status_kind", "publish_sort")
    by_status_title = _index("by_status_title", "status_kind", "title_norm")


class UniqueItem(Model):
    """A claimed unique value (a program slug, an episode number in a season)."""

    class Meta(_Meta):
        table_name = "uniques"

    key = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()


class CounterItem(Model):
    """How many children a parent has: seasons and episodes of a program, episodes of a season."""

    class Meta(_Meta):
        table_name = "counters"

    key = UnicodeAttribute(hash_key=True)
    children = NumberAttribute(default=0)


# Counters are derived from the content: dumps leave them out, bulk writes keep them in step.
CONTENT_MODELS = (ProgramItem, SeasonItem, EpisodeItem, UniqueItem)
MODELS = (*CONTENT_MODELS, CounterItem)
_BASE_NAMES = {model: model.Meta.table_name for model in MODELS}


_budget = {"web": False}


def models_configure(*, web: bool | None = None) -> None:
    """Point every table at the configured endpoint, region and name prefix, with the process's time budget.

    `web` picks the short budget editors' requests need (kept across later calls until changed).
    """
    if web is not None:
        _budget["web"] = web
    read_timeout, retries = (
        (settings.DYNAMODB_WEB_READ_TIMEOUT, settings.DYNAMODB_WEB_MAX_RETRIES)
        if _budget["web"]
        else (settings.DYNAMODB_READ_TIMEOUT, settings.DYNAMODB_MAX_RETRIES)
    )
    for model, base in _BASE_NAMES.items():
        model.Meta.table_name = settings.DYNAMODB_TABLE_PREFIX + base
        model.Meta.host = settings.DYNAMODB_ENDPOINT_URL
        model.Meta.region = settings.AWS_DEFAULT_REGION
        model.Meta.connect_timeout_seconds = settings.DYNAMODB_CONNECT_TIMEOUT
        model.Meta.read_timeout_seconds = read_timeout
        model.Meta.max_retry_attempts = retries
        model._connection = None
        # PynamoDB builds its own Connection and offers no hook for another class; the subclass only adds
        # error translation, so swapping the class of the fresh instance is safe. It is kept while the
        # table name stays the one set above.
        model._get_connection().connection.__class__ = StoreConnection
