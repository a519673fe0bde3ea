"""Warming the CDN ahead of an airtime: each chunk of a prepared version fetched through the edge, with its token."""

from __future__ import annotations

import hashlib

import requests
from django.conf import settings

from cacheops import clock, keys
from cacheops.models import AirtimeSchedule
from cms.domain import time_text

EDGE_TIMEOUT_S = 10


def edge_warm(schedule: AirtimeSchedule, manifest: dict) -> list[dict]:
    """Fetch each chunk of the prepared version through the CDN, with the edge token; record each status."""
    base, version = settings.CACHEOPS_EDGE_URL.rstrip("/"), manifest["version"]
    results = []
    with requests.Session() as session:
        for entry in manifest["chunks"]:
            results.append(_edge_fetch(session, base + keys.chunk_path(version, entry), entry))
    schedule.edge = results
    schedule.save(update_fields=["edge"])
    return results


def _edge_fetch(session: requests.Session, url: str, entry: dict) -> dict:
    found = {"index": entry["index"], "at": time_text(clock.now_seconds())}
    try:
        response = session.get(url, headers={"X-Edge-Token": settings.CACHEOPS_EDGE_TOKEN}, timeout=EDGE_TIMEOUT_S)
    except requests.RequestException as exc:
        return {**found, "status": None, "ok": False, "error": str(exc)[:300]}
    # The bytes must be the chunk itself: an edge answering with an error page did not warm anything.
    ok = response.status_code == 200 and hashlib.sha256(response.content).hexdigest() == entry["sha256"]
    return {**found, "status": response.status_code, "ok": ok}
