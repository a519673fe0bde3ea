"""The CDN in front of the public API (CloudFront): invalidations of its cached answers when a release changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

# CloudFront's limit on the paths of one invalidation.
MAX_PATHS = 3000
# Seconds, not minutes, whoever waits. A CreateInvalidation resent after a lost answer carries the same
# CallerReference, so CloudFront does not count it twice.
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 2})


class CdnError(Exception):
    """The CDN refused a request or did not answer it; the message says which and why in one line."""


@dataclass(frozen=True)
class Invalidation:
    """One invalidation as the CDN reports it."""

    id: str
    status: str
    paths: tuple[str, ...]
    created_at: datetime


def cdn_configured() -> bool:
    """Whether a CDN distribution is configured."""
    return bool(settings.CACHEOPS_CDN_DISTRIBUTION_ID)


def public_paths(purged_versions: list[str]) -> list[str]:
    """The public API paths a release change must invalidate: the catalog, its manifest, programs, purged chunks."""
    chunks = [f"/api/catalog/chunks/{version}/*" for version in dict.fromkeys(purged_versions)]
    return ["/api/catalog", "/api/catalog/manifest", "/api/programs/*", *chunks]


def invalidate(paths: list[str], reference: str) -> Invalidation | None:
    """Ask the CDN to drop its copies of `paths`; None when no CDN is configured.

    `reference` names the change: sent again with the same paths, it is the same invalidation, not a second.
    """
    if not cdn_configured():
        return None
    unique = sorted(set(paths))  # one order for the same paths, so a resent batch is the same batch
    if not unique or len(unique) > MAX_PATHS:
        raise ValueError(f"an invalidation takes 1 to {MAX_PATHS} paths, not {len(unique)}")
    if not reference or any(not path.startswith("/") for path in unique):
        raise ValueError("an invalidation needs a reference and paths starting with /")
    batch = {"Paths": {"Quantity": len(unique), "Items": unique}, "CallerReference": reference}
    answer = _call(
        "CreateInvalidation", lambda client, dist: client.create_invalidation(**dist, InvalidationBatch=batch)
    )
    return _invalidation(answer["Invalidation"])


def invalidation_status(invalidation_id: str) -> str:
    """The CDN's status of an invalidation ("InProgress", "Completed")."""
    if not cdn_configured():
        raise CdnError("no CDN is configured (CACHEOPS_CDN_DISTRIBUTION_ID is empty)")
    answer = _call("GetInvalidation", lambda client, dist: client.get_invalidation(**dist, Id=invalidation_id))
    return answer["Invalidation"]["Status"]


def _call(operation: str, request: Callable[[Any, dict[str, str]], dict]) -> dict:
    distribution = settings.CACHEOPS_CDN_DISTRIBUTION_ID
    try:
        # A session of its own: boto3's default session is not safe to make clients from in several threads.
        client = boto3.session.Session().client(
            "cloudfront",
            endpoint_url=settings.CACHEOPS_CDN_ENDPOINT_URL or None,
            region_name=settings.AWS_DEFAULT_REGION,
            config=CLIENT_CONFIG,
        )
        return request(client, {"DistributionId": distribution})
    except ClientError as exc:
        error = exc.response.get("Error", {})
        reason = f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    except (BotoCoreError, ValueError) as exc:  # unreachable, timed out, no credentials, a malformed endpoint
        reason = str(exc)
    raise CdnError(" ".join(f"CloudFront {operation} on distribution {distribution} failed: {reason}".split()))


def _invalidation(found: dict) -> Invalidation:
    return Invalidation(
        id=found["Id"],
        status=found["Status"],
        paths=tuple(found["InvalidationBatch"]["Paths"].get("Items", [])),
        created_at=found["CreateTime"],
    )
