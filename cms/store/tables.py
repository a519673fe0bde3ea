"""Create, reset, dump and load the content tables."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import IO

import boto3
from django.conf import settings

from .models import MODELS

BATCH_WRITE_LIMIT = 25  # DynamoDB's limit, enforced here because local servers accept more.


def tables_create() -> list[str]:
    """Create every missing table with its indexes; return the names created."""
    created = []
    for model in MODELS:
        if not model.exists():
            model.create_table(wait=True)
            created.append(model.Meta.table_name)
    return created


def _client():
    return boto3.client(
        "dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL, region_name=settings.AWS_DEFAULT_REGION
    )


def _logical_names() -> dict[str, str]:
    prefix = settings.DYNAMODB_TABLE_PREFIX
    return {model.Meta.table_name: model.Meta.table_name[len(prefix) :] for model in MODELS}


def items_dump(out: IO[str]) -> int:
    """Write every item of every table as JSON lines of raw attribute maps."""
    client, count = _client(), 0
    for table, logical in _logical_names().items():
        for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            for item in page["Items"]:
                out.write(json.dumps({"table": logical, "item": item}, ensure_ascii=False, sort_keys=True))
                out.write("\n")
                count += 1
    return count


def _lines(source: IO[str]) -> Iterator[tuple[str, dict]]:
    logical_to_table = {v: k for k, v in _logical_names().items()}
    for number, line in enumerate(source, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            yield logical_to_table[record["table"]], record["item"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"line {number}: not an item of a known table ({exc})") from None


def items_load(source: IO[str]) -> int:
    """Put every item of a dump back, in batches of at most 25."""
    client, count, pending = _client(), 0, {}
    records = list(_lines(source))  # parse everything first: a bad line writes nothing
    for table, item in records:
        pending.setdefault(table, []).append({"PutRequest": {"Item": item}})
    for table, requests in pending.items():
        for batch in _batches(requests, BATCH_WRITE_LIMIT):
            _batch_write(client, {table: batch})
            count += len(batch)
    return count


def _batches(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _batch_write(client, request_items: dict) -> None:
    delay = 0.05
    while request_items:
        request_items = client.batch_write_item(RequestItems=request_items).get("UnprocessedItems") or {}
        if request_items:
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def tables_truncate() -> int:
    """Delete every item of every table (development and tests only)."""
    client, removed = _client(), 0
    for model in MODELS:
        table = model.Meta.table_name
        keys = [attr.attr_name for attr in model.get_attributes().values() if attr.is_hash_key]
        # "key" is a reserved word, so the projection goes through placeholders.
        names = {f"#k{i}": k for i, k in enumerate(keys)}
        pages = client.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression=",".join(names), ExpressionAttributeNames=names
        )
        requests = [{"DeleteRequest": {"Key": {k: item[k] for k in keys}}} for page in pages for item in page["Items"]]
        for batch in _batches(requests, BATCH_WRITE_LIMIT):
            _batch_write(client, {table: batch})
        removed += len(requests)
    return removed
