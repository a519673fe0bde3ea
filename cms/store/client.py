"""The low-level DynamoDB client, for what PynamoDB's models do not cover (dumps, bulk writes)."""

from __future__ import annotations

import time
from collections.abc import Iterable

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

BATCH_WRITE_LIMIT = 25  # DynamoDB's limit, enforced here because local servers accept more.
BATCH_GET_LIMIT = 100


def dynamodb_client():
    """A boto3 DynamoDB client for the configured endpoint and region (safe to share between threads)."""
    return boto3.client(
        "dynamodb", endpoint_url=settings.DYNAMODB_ENDPOINT_URL, region_name=settings.AWS_DEFAULT_REGION
    )


def batches(items: list, size: int) -> Iterable[list]:
    """Consecutive slices of `items` of at most `size`."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def batch_write(client, request_items: dict) -> None:
    """BatchWriteItem, resending unprocessed items with backoff until every one is written."""
    delay = 0.05
    while request_items:
        request_items = client.batch_write_item(RequestItems=request_items).get("UnprocessedItems") or {}
        if request_items:
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def batch_get(client, request_items: dict) -> dict[str, list[dict]]:
    """BatchGetItem, asking again for unprocessed keys with backoff; return the items by table."""
    found: dict[str, list[dict]] = {}
    delay = 0.05
    while request_items:
        response = client.batch_get_item(RequestItems=request_items)
        for table, items in response["Responses"].items():
            found.setdefault(table, []).extend(items)
        request_items = response.get("UnprocessedKeys") or {}
        if request_items:
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    return found


def store_check(timeout_s: float = 1.0) -> str:
    """ "ok", or why the content store does not answer one DescribeTable within `timeout_s`."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=settings.DYNAMODB_ENDPOINT_URL,
        region_name=settings.AWS_DEFAULT_REGION,
        config=Config(connect_timeout=timeout_s, read_timeout=timeout_s, retries={"total_max_attempts": 1}),
    )
    try:
        client.describe_table(TableName=f"{settings.DYNAMODB_TABLE_PREFIX}programs")
    except (BotoCoreError, ClientError) as exc:
        return f"error: {exc}"
    return "ok"
