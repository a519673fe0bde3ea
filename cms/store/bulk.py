"""Bulk inserts of content (demo data, dumps): checked before the first write, written on condition."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError

from cms import domain

from . import episodes as episode_store
from . import programs as program_store
from . import seasons as season_store
from .client import BATCH_GET_LIMIT, BATCH_WRITE_LIMIT, batch_get, batch_write, batches, dynamodb_client
from .convert import item_size_check
from .counters import program_key, season_key
from .errors import Clash, NotUnique
from .models import CounterItem, EpisodeItem, ProgramItem, SeasonItem, UniqueItem

Progress = Callable[[int, int], None]
Group = tuple[list, list[tuple[str, str, str]]]
Record = tuple[type, dict]  # a model and one of its items as DynamoDB attribute values
FIRST_VERSION = 1
PROGRESS_ITEMS = 500
# Items written together in one conditional transaction (DynamoDB's limit, counter updates included),
# all or none; a transaction also carries at most 4 MB, so groups stay below this many item bytes.
GROUP_ITEMS = 100
GROUP_BYTES = 3_000_000
# NOTE: a few transactions in flight hide the round trips.
WRITERS = 4
CONFLICT_RETRIES = 5


def content_put_many(
    programs: list[domain.Program],
    seasons: list[domain.Season],
    episodes: list[domain.Episode],
    progress: Progress | None = None,
    *,
    replace: bool = False,
) -> int:
    """Insert new programs with their seasons and episodes (or overwrite them); return items written."""
    # Parents, unique slugs and numbers and item sizes are all checked before the first write,
    # and every season and episode must belong to a program of the same call.
    records: list[Record] = []
    for items, claims in _groups(programs, seasons, episodes):
        records += [(type(item), item.serialize()) for item in items]
        records += [(UniqueItem, UniqueItem(key, owner_id=owner).serialize()) for key, owner, _field in claims]
    written = records_put(records, replace=replace, progress=progress)
    for obj in (*programs, *seasons, *episodes):
        obj.version = FIRST_VERSION
    return written


def records_put(records: list[Record], *, replace: bool = False, progress: Progress | None = None) -> int:
    """Write raw items and count them on their parents' child counters; return how many were written.

    Without `replace`, raise Clash before the first write if any item exists, and put each item only
    if it still does not exist. A unique key claimed by another item raises NotUnique either way.
    """
    client = dynamodb_client()
    existing = items_existing(client, records)
    keys = [(model, _key_value(model, item)) for model, item in records]
    for (model, item), key in zip(records, keys, strict=True):
        if model is UniqueItem and key in existing and existing[key]["owner_id"] != item["owner_id"]:
            raise NotUnique("slug" if key[1].startswith(program_store.slug_key("")) else "number")
    if existing and not replace:
        raise Clash([item_id for model, item_id in keys if (model, item_id) in existing])
    tick = _ticker(progress, len(records))
    if replace:
        _overwrite(client, records, [(model, item) for (model, _id), item in existing.items()], tick)
    else:
        _insert(client, records, tick)
    return len(records)


def _ticker(progress: Progress | None, total: int) -> Callable[[int], None]:
    """A function taking the count done so far that reports every PROGRESS_ITEMS items and at the end."""
    reported = 0

    def tick(done: int) -> None:
        nonlocal reported
        if progress and (done == total or PROGRESS_ITEMS <= done - reported):
            progress(done, total)
            reported = done

    return tick


def _insert(client, records: list[Record], tick: Callable[[int], None]) -> None:
    """Put items that must not exist, a transaction per group; on a clash stop after the groups in flight."""
    done, lost = 0, []
    groups = list(_transaction_groups(records))
    # A token names one write of this run: the same content written again later (after a reset) is a new write.
    run = uuid.uuid4().hex

    def put(group: list[Record]) -> list[str]:
        return _group_put(client, group, run=run)

    with ThreadPoolExecutor(WRITERS) as pool:
        for window in batches(groups, WRITERS):
            for group, clashed in zip(window, pool.map(put, window), strict=True):
                if clashed:
                    lost += clashed
                else:
                    done += len(group)
                    tick(done)
            if lost:
                raise Clash(lost, written=done)


def _transaction_groups(records: list[Record]) -> Iterator[list[Record]]:
    """Consecutive groups that fit one transaction with their counter updates."""
    group: list[Record] = []
    counters: set[str] = set()
    size = 0
    for record in records:
        item_bytes, keys = len(json.dumps(record[1])), set(_counts([record]))
        if group and (len(group) + 1 + len(counters | keys) > GROUP_ITEMS or size + item_bytes > GROUP_BYTES):
            yield group
            group, counters, size = [], set(), 0
        group.append(record)
        counters |= keys
        size += item_bytes
    if group:
        yield group


def _group_put(client, group: list[Record], *, run: str) -> list[str]:
    """Put every record of `group` unless one exists, counting them on their parents; return the clashing ids."""
    actions = [
        {
            "Put": {
                "TableName": model.Meta.table_name,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(#k)",
                "ExpressionAttributeNames": {"#k": _key_name(model)},
            }
        }
        for model, item in group
    ]
    actions += [_counter_add(key, delta) for key, delta in _counts(group).items() if delta]
    # botocore resends a request whose answer was lost; under one token DynamoDB applies it once.
    token = hashlib.sha256((run + json.dumps(actions, sort_keys=True)).encode()).hexdigest()[:32]
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            client.transact_write_items(TransactItems=actions, ClientRequestToken=token)
            return []
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            codes = [reason.get("Code") for reason in exc.response.get("CancellationReasons", [])]
            cancelled = exc
        if "ConditionalCheckFailed" in codes:
            return [
                _key_value(*record)
                for record, code in zip(group, codes, strict=False)
                if code == "ConditionalCheckFailed"
            ]
        if attempt < CONFLICT_RETRIES:  # another writer touched a counter at the same moment
            time.sleep(0.05 * 2**attempt)
    raise cancelled


def _counter_add(key: str, delta: int) -> dict:
    return {
        "Update": {
            "TableName": CounterItem.Meta.table_name,
            "Key": {"key": {"S": key}},
            "UpdateExpression": "ADD #n :n",
            "ExpressionAttributeNames": {"#n": "children"},
            "ExpressionAttributeValues": {":n": {"N": str(delta)}},
        }
    }


def _overwrite(client, records: list[Record], old: list[Record], tick: Callable[[int], None]) -> None:
    """Put items whether or not they exist (`old` are the stored ones), moving counts to new parents."""
    counts = _counts(records)
    counts.subtract(_counts(old))
    # Rises before the writes and falls after them, so a counter never drops below the children present.
    _counts_add(client, {key: n for key, n in counts.items() if n > 0})
    done = 0
    for batch in batches(records, BATCH_WRITE_LIMIT):
        request: dict[str, list] = {}
        for model, item in batch:
            request.setdefault(model.Meta.table_name, []).append({"PutRequest": {"Item": item}})
        batch_write(client, request)
        done += len(batch)
        tick(done)
    _counts_add(client, {key: n for key, n in counts.items() if n < 0})
    _claims_release(client, old, {item["key"]["S"] for model, item in records if model is UniqueItem})


def _claims_release(client, old: list[Record], claimed: set[str]) -> None:
    """Release the unique keys that overwritten items held and their new versions no longer claim."""
    for model, item in old:
        if model is ProgramItem:
            key = program_store.slug_key(item["slug"]["S"])
        elif model is EpisodeItem:
            key = episode_store.number_key(item["season_id"]["S"], int(item["number"]["N"]))
        else:
            continue
        if key not in claimed:
            _delete_if(client, UniqueItem, {"key": {"S": key}}, "owner_id", item["id"])


def items_existing(client, records: list[Record]) -> dict[tuple[type, str], dict]:
    """The stored items under the records' keys, read strongly consistently."""
    models = {model.Meta.table_name: model for model, _item in records}
    found = {}
    for batch in batches(records, BATCH_GET_LIMIT):
        request: dict[str, dict] = {}
        for model, item in batch:
            keys = request.setdefault(model.Meta.table_name, {"Keys": [], "ConsistentRead": True})["Keys"]
            keys.append(_key(model, item))
        for table, items in batch_get(client, request).items():
            found.update({(models[table], _key_value(models[table], item)): item for item in items})
    return found


def _counts(records: list[Record]) -> Counter[str]:
    """How the records change their parents' child counters."""
    counts: Counter[str] = Counter()
    for model, item in records:
        if model is SeasonItem:
            counts[program_key(item["program_id"]["S"])] += 1
        elif model is EpisodeItem:
            counts.update((season_key(item["season_id"]["S"]), program_key(item["program_id"]["S"])))
    return counts


def _counts_add(client, counts: dict[str, int]) -> None:
    for key, delta in counts.items():
        if delta:
            client.update_item(**_counter_add(key, delta)["Update"])


def _delete_if(client, model, key: dict, field: str, value: dict) -> bool:
    try:
        client.delete_item(
            TableName=model.Meta.table_name,
            Key=key,
            ConditionExpression="#f = :v",
            ExpressionAttributeNames={"#f": field},
            ExpressionAttributeValues={":v": value},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _key_name(model) -> str:
    return model._hash_key_attribute().attr_name


def _key(model, item: dict) -> dict:
    return {_key_name(model): item[_key_name(model)]}


def _key_value(model, item: dict) -> str:
    return item[_key_name(model)]["S"]


def _groups(programs, seasons, episodes) -> Iterator[Group]:
    """Yield, per program, its items and its (unique key, owner id, field) claims, all checked."""
    seasons_of, episodes_of = {}, {}
    program_ids = {program.id for program in programs}
    season_programs = {season.id: season.program_id for season in seasons}
    for season in seasons:
        if season.program_id not in program_ids:
            raise ValueError(f"season {season.id}: program {season.program_id} is not in this batch")
        seasons_of.setdefault(season.program_id, []).append(season)
    for episode in episodes:
        if season_programs.get(episode.season_id) != episode.program_id:
            raise ValueError(f"episode {episode.id}: season {episode.season_id} is not its program's")
        episodes_of.setdefault(episode.program_id, []).append(episode)
    ids, keys = set(), set()
    for program in programs:
        items = [program_store._item(program)]
        items += [season_store._item(season) for season in seasons_of.get(program.id, [])]
        items += [episode_store._item(episode) for episode in episodes_of.get(program.id, [])]
        claims = [(program_store.slug_key(program.slug), program.id, "slug")]
        claims += [
            (episode_store.number_key(e.season_id, e.number), e.id, "number") for e in episodes_of.get(program.id, [])
        ]
        for item in items:
            item.version = FIRST_VERSION
            item_size_check(item)
            if (type(item), item.id) in ids:
                raise ValueError(f"{item.id} appears twice")
            ids.add((type(item), item.id))
        for key, _owner, field in claims:
            if key in keys:
                raise NotUnique(field)
            keys.add(key)
        yield items, claims
