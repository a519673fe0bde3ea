"""Create, reset, dump and load the content tables."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import IO

from django.conf import settings

from .bulk import records_put
from .client import BATCH_WRITE_LIMIT, batch_write, batches, dynamodb_client
from .counters import counters_recount
from .episodes import episodes_status_keys_fill, raw_status_keyed
from .models import CONTENT_MODELS, MODELS, CounterItem, EpisodeItem


def tables_create() -> list[str]:
    """Create every missing table and index; return their names ("table" or "table/index")."""
    created = []
    for model in MODELS:
        if not model.exists():
            model.create_table(wait=True)
            created.append(model.Meta.table_name)
        else:
            added = _indexes_add(model)
            if model is EpisodeItem and added:
                # Episodes stored before these indexes lack their keys, so they would be missing from them.
                episodes_status_keys_fill(dynamodb_client())
            created += added
    if CounterItem.Meta.table_name in created:
        counters_recount()  # content written before counters existed
    return created


def _indexes_add(model) -> list[str]:
    """Add the indexes declared on `model` that its existing table lacks (or is deleting)."""
    client, table = dynamodb_client(), model.Meta.table_name
    statuses = _index_statuses(client, table)
    added = []
    for index in model._get_schema()["global_secondary_indexes"]:
        name = index["index_name"]
        if statuses.get(name) not in (None, "DELETING"):
            continue
        # An index being deleted keeps its name until it is gone.
        _table_wait(client, table, lambda found, name=name: name not in found)
        # DynamoDB takes one new index per UpdateTable call, hash key first.
        create = {
            "IndexName": name,
            "KeySchema": sorted(index["key_schema"], key=lambda key: key["KeyType"]),
            "Projection": index["projection"],
        }
        client.update_table(
            TableName=table,
            AttributeDefinitions=index["attribute_definitions"],
            GlobalSecondaryIndexUpdates=[{"Create": create}],
        )
        _table_wait(client, table, lambda found, name=name: found.get(name) == "ACTIVE")
        added.append(f"{table}/{name}")
    return added


def _index_statuses(client, table: str) -> dict[str, str | None]:
    description = client.describe_table(TableName=table)["Table"]
    if description["TableStatus"] != "ACTIVE":
        return {"": description["TableStatus"]}  # no index may change until the table is active
    return {i["IndexName"]: i.get("IndexStatus") for i in description.get("GlobalSecondaryIndexes", [])}


def _table_wait(client, table: str, ready) -> None:
    """Wait until the table is active and `ready(index statuses)` holds."""
    # NOTE: on AWS an index backfills for minutes; the next UpdateTable is refused until then.
    while True:
        statuses = _index_statuses(client, table)
        if "" not in statuses and ready(statuses):
            return
        time.sleep(0.5)


def _logical_names() -> dict[str, str]:
    prefix = settings.DYNAMODB_TABLE_PREFIX
    return {model.Meta.table_name: model.Meta.table_name[len(prefix) :] for model in CONTENT_MODELS}


def items_dump(out: IO[str]) -> int:
    """Write every content item as JSON lines of raw attribute maps, sorted by key (counters are derived)."""
    client, count = dynamodb_client(), 0
    for model in CONTENT_MODELS:
        table, key = model.Meta.table_name, model._hash_key_attribute().attr_name
        logical = _logical_names()[table]
        items = [
            item
            for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
            for item in page["Items"]
        ]
        # Scan order depends on the server and on write history; sorting by key makes dumps comparable.
        items.sort(key=lambda item: item[key]["S"])
        for item in items:
            out.write(json.dumps({"table": logical, "item": item}, ensure_ascii=False, sort_keys=True))
            out.write("\n")
        count += len(items)
    return count


_ATTRIBUTE_TYPES = {"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"}


def _lines(source: IO[str]) -> Iterator[tuple[str, dict]]:
    logical_to_table = {v: k for k, v in _logical_names().items()}
    seen: dict[tuple[str, str], int] = {}
    for number, line in enumerate(source, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {number}, column {exc.colno}: not JSON ({exc.msg})") from None
        problem = _record_problem(record, logical_to_table)
        if problem:
            raise ValueError(f"line {number}: {problem}")
        table, item = logical_to_table[record["table"]], record["item"]
        # A repeated key would make DynamoDB refuse its batch halfway through the load.
        key = (table, item[_hash_key(table)]["S"])
        if key in seen:
            raise ValueError(f"line {number}: the same item as line {seen[key]}")
        seen[key] = number
        yield table, item


def _model(table: str):
    return next(m for m in CONTENT_MODELS if m.Meta.table_name == table)


def _hash_key(table: str) -> str:
    return _model(table)._hash_key_attribute().attr_name


def _record_problem(record, logical_to_table: dict[str, str]) -> str | None:
    """Say what is wrong with a dump record, checked before anything is written."""
    if not isinstance(record, dict) or not isinstance(record.get("item"), dict):
        return 'expected {"table": ..., "item": {...}}'
    name = record.get("table")
    table = logical_to_table.get(name) if isinstance(name, str) else None
    if table is None:
        return f"unknown table {name!r}"
    item = record["item"]
    if not all(isinstance(v, dict) and len(v) == 1 and set(v) <= _ATTRIBUTE_TYPES for v in item.values()):
        return "an attribute is not a DynamoDB attribute value"
    key = _hash_key(table)
    if not isinstance(item.get(key, {}).get("S"), str):
        return f"the item has no {key!r}"
    return None


def items_load(source: IO[str], *, replace: bool = False) -> int:
    """Put every item of a dump back; without `replace`, refuse (raise Clash) if any exists already."""
    records = [(_model(table), item) for table, item in _lines(source)]  # a bad line writes nothing
    records = [(model, raw_status_keyed(item) if model is EpisodeItem else item) for model, item in records]
    return records_put(records, replace=replace)


def tables_truncate() -> int:
    """Delete every item of every table (development and tests only); return how many content items went."""
    client, removed = dynamodb_client(), 0
    for model in MODELS:
        table = model.Meta.table_name
        keys = [attr.attr_name for attr in model.get_attributes().values() if attr.is_hash_key]
        # "key" is a reserved word, so the projection goes through placeholders.
        names = {f"#k{i}": k for i, k in enumerate(keys)}
        pages = client.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression=",".join(names), ExpressionAttributeNames=names
        )
        requests = [{"DeleteRequest": {"Key": {k: item[k] for k in keys}}} for page in pages for item in page["Items"]]
        for batch in batches(requests, BATCH_WRITE_LIMIT):
            batch_write(client, {table: batch})
        removed += len(requests) if model in CONTENT_MODELS else 0
    return removed
