"""How many DynamoDB requests a piece of work makes, counted by botocore's own events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import boto3

from .models import MODELS


def _emitters() -> list:
    """The event emitters of every table's client, and of the session later boto3 clients copy theirs from."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    emitters = [model._get_connection().connection.client.meta.events for model in MODELS]
    return list({id(emitter): emitter for emitter in [*emitters, boto3.DEFAULT_SESSION.events]}.values())


@contextmanager
def requests_counted() -> Iterator[Counter]:
    """Count DynamoDB API calls made inside the block, by operation name (retries not counted twice)."""
    counts: Counter = Counter()

    def count(event_name: str, **_kwargs) -> None:
        counts[event_name.rsplit(".", 1)[-1]] += 1

    emitters = _emitters()
    for emitter in emitters:
        emitter.register("before-call.dynamodb", count, unique_id="airtime-requests-counted")
    try:
        yield counts
    finally:
        for emitter in emitters:
            emitter.unregister("before-call.dynamodb", count, unique_id="airtime-requests-counted")
