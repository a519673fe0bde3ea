"""Conditional, transactional writes shared by every content table."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from cms import domain

from .convert import item_size_check
from .counters import counter_empty, counts_add
from .errors import AlreadyExists, NotEmpty, NotFound, NotUnique, StaleVersion
from .models import CounterItem, UniqueItem

CONDITION_FAILED = "ConditionalCheckFailed"
# Another transaction touched the same item at the same moment: as good as a stale read.
TRANSACTION_CONFLICT = "TransactionConflict"
# A token already used with other values (the same save, stamped again), or still being applied.
TOKEN_REUSED = ("IdempotentParameterMismatchException", "TransactionInProgressException")


def _connection() -> Connection:
    return UniqueItem._get_connection().connection


def transaction() -> TransactWrite:
    """A write transaction over the content tables (all of them share one connection)."""
    return TransactWrite(connection=_connection())


def item_write(
    item,
    *,
    create: bool,
    condition=None,
    claims: Iterable[tuple[str, str]] = (),
    releases: Iterable[str] = (),
    checks: Iterable[tuple[type, str, object]] = (),
    counts: Mapping[str, int] | None = None,
    token: str | None = None,
) -> None:
    """Save `item` with its version check, claiming and releasing unique keys atomically.

    `claims` are (unique key, field name) pairs; `checks` are (model, hash key, condition)
    conditions on other items (a parent must still exist) checked in the same transaction;
    `counts` are changes to child counters made in it. `token` names one save: DynamoDB applies a
    resent request under it once, and a save found stored under it already is this save, done.
    """
    # Without a save's own token, one for this call: botocore's resends of it are still applied once.
    token = token or uuid.uuid4().hex
    item.save_token = token
    item_size_check(item)
    model = type(item)
    cond = model.id.does_not_exist() if create else model.id.exists()
    if condition is not None:
        cond &= condition
    claims, releases, checks = list(claims), list(releases), list(checks)
    try:
        with TransactWrite(connection=_connection(), client_request_token=token) as tx:
            tx.save(item, condition=cond)
            for key, _field in claims:
                tx.save(UniqueItem(key, owner_id=item.id), condition=UniqueItem.key.does_not_exist())
            for key in releases:
                tx.delete(UniqueItem(key, owner_id=item.id), condition=UniqueItem.owner_id == item.id)
            for check_model, hash_key, check_cond in checks:
                tx.condition_check(check_model, hash_key, condition=check_cond)
            counts_add(tx, counts or {})
    except TransactWriteError as exc:
        if _saved_already(item, token):
            return
        if exc.cause_response_code in TOKEN_REUSED:
            raise StaleVersion(item.id) from exc
        # DynamoDB reports reasons in request order: condition checks, deletes, puts, then updates.
        reasons = _reasons(exc)
        if TRANSACTION_CONFLICT in reasons:
            raise StaleVersion(item.id) from exc
        checks_failed = reasons[: len(checks)]
        main, *claimed = reasons[len(checks) + len(releases) :]
        if main == CONDITION_FAILED:
            _raise_main_failure(exc, item, create=create)
        for (_key, field), code in zip(claims, claimed, strict=False):
            if code == CONDITION_FAILED:
                raise NotUnique(field) from exc
        if CONDITION_FAILED in checks_failed:
            raise NotFound("parent") from exc
        raise


def item_delete(
    item,
    *,
    condition=None,
    versioned: bool = True,
    releases: Iterable[str] = (),
    empty: str | None = None,
    counts: Mapping[str, int] | None = None,
) -> None:
    """Delete `item` if its version is still the one read, releasing its unique keys.

    `empty` names the item's own child counter: it must be zero, and goes with the item;
    `counts` are changes to its parents' counters made in the same transaction.
    """
    cond = type(item).id.exists()
    if condition is not None:
        cond &= condition
    releases = list(releases)
    # Deleting this item at this version is one act whoever asks: a resent request is applied once.
    token = hashlib.sha256(f"delete|{type(item).Meta.table_name}|{item.id}|{item.version}".encode()).hexdigest()[:32]
    try:
        with TransactWrite(connection=_connection(), client_request_token=token) as tx:
            tx.delete(item, condition=cond, add_version_condition=versioned)
            for key in releases:
                tx.delete(UniqueItem(key, owner_id=item.id), condition=UniqueItem.owner_id == item.id)
            if empty:
                tx.delete(CounterItem(empty), condition=counter_empty())
            counts_add(tx, counts or {})
    except TransactWriteError as exc:
        reasons = _reasons(exc)
        if TRANSACTION_CONFLICT in reasons:
            raise StaleVersion(item.id) from exc
        if reasons[:1] == [CONDITION_FAILED]:
            _raise_main_failure(exc, item, create=False)
        if empty and reasons[1 + len(releases)] == CONDITION_FAILED:
            raise NotEmpty(item.id) from exc
        raise


def _saved_already(item, token: str | None) -> bool:
    """Whether the stored item is the write of this save (its answer was lost); if so, take its version."""
    if token is None:
        return False
    try:
        stored = type(item).get(item.id, consistent_read=True)
    except DoesNotExist:
        return False
    if stored.save_token != token:
        return False
    item.version = stored.version
    return True


def _reasons(exc: TransactWriteError) -> list[str | None]:
    return [reason.code if reason else None for reason in exc.cancellation_reasons]


def _raise_main_failure(exc, item, *, create: bool):
    if create:
        raise AlreadyExists(item.id) from exc
    try:
        type(item).get(item.id, consistent_read=True)
    except DoesNotExist:
        raise NotFound(item.id) from exc
    raise StaleVersion(item.id) from exc


def item_get(model, item_id: str):
    """Read one item strongly consistently, or raise NotFound."""
    # A malformed id names no item, and DynamoDB answers an over-long key (2048 bytes) with an error.
    if not domain.id_valid(item_id):
        raise NotFound(item_id)
    try:
        return model.get(item_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound(item_id) from None
