"""How large the content tables are and how they are billed: one DescribeTable each, no item read."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from .errors import StoreUnavailable
from .models import EpisodeItem, ProgramItem, SeasonItem

# What a catalog build reads, in the order it reads them.
BUILD_MODELS = {"programs": ProgramItem, "seasons": SeasonItem, "episodes": EpisodeItem}


@dataclass(frozen=True)
class TableUsage:
    """One content table as DynamoDB describes it (AWS refreshes the counts about every six hours)."""

    name: str
    items: int
    bytes: int
    on_demand: bool
    # Provisioned read and write capacity units per second; on demand, the table's maximum if one is set.
    read_units: int | None
    write_units: int | None


def _usage(name: str, table: dict) -> TableUsage:
    # A table that was never switched to on-demand has no BillingModeSummary: it is provisioned.
    on_demand = table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST"
    if on_demand:
        limits = table.get("OnDemandThroughput", {})
        read, write = limits.get("MaxReadRequestUnits"), limits.get("MaxWriteRequestUnits")
        # -1 (or nothing) means no maximum was set.
        read, write = (read if read and read > 0 else None), (write if write and write > 0 else None)
    else:
        provisioned = table.get("ProvisionedThroughput", {})
        read, write = provisioned.get("ReadCapacityUnits"), provisioned.get("WriteCapacityUnits")
    return TableUsage(name, table.get("ItemCount", 0), table.get("TableSizeBytes", 0), on_demand, read, write)


def build_tables_describe(timeout_s: float = 2.0) -> list[TableUsage]:
    """The tables a catalog build reads (programs, seasons, episodes); StoreUnavailable within about `timeout_s`
    per table when DynamoDB does not answer."""
    # NOTE: one attempt with short timeouts, unlike the models' retries: a plan reports an absent store at once.
    client = boto3.client(
        "dynamodb",
        endpoint_url=settings.DYNAMODB_ENDPOINT_URL,
        region_name=settings.AWS_DEFAULT_REGION,
        config=Config(connect_timeout=timeout_s, read_timeout=timeout_s, retries={"total_max_attempts": 1}),
    )
    usages = []
    for name, model in BUILD_MODELS.items():
        try:
            table = client.describe_table(TableName=model.Meta.table_name)["Table"]
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailable(f"DynamoDB did not describe {model.Meta.table_name}: {exc}") from exc
        usages.append(_usage(name, table))
    return usages
