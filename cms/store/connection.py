"""The DynamoDB connection: a store that does not answer is reported in the store's own terms."""

from __future__ import annotations

import threading

from botocore.exceptions import ConnectionError as ConnectFailed
from botocore.exceptions import HTTPClientError
from pynamodb.connection import Connection

from .errors import StoreUnavailable, StoreUnconfirmed

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


class StoreConnection(Connection):
    """A PynamoDB connection raising StoreUnavailable / StoreUnconfirmed when DynamoDB cannot be reached."""

    _attempts = threading.local()

    @property
    def client(self):
        client = super().client
        # unique_id makes this a no-op after the first call on the same client.
        client.meta.events.register("response-received.dynamodb", self._attempt_note, unique_id="airtime-sent")
        return client

    def _attempt_note(self, exception=None, **kwargs) -> None:
        # A connect failure never sent the request; anything later (a read timeout, a dropped connection)
        # may have reached DynamoDB. botocore retries, so remember it across the attempts of one call.
        if isinstance(exception, HTTPClientError):
            self._attempts.sent = True

    def dispatch(self, operation_name: str, operation_kwargs: dict) -> dict:
        """Call DynamoDB; report a transport failure as StoreUnconfirmed if a write may have landed."""
        self._attempts.sent = False
        try:
            return super().dispatch(operation_name, operation_kwargs)
        except (ConnectFailed, HTTPClientError) as exc:
            error = StoreUnconfirmed if operation_name in WRITES and self._attempts.sent else StoreUnavailable
            raise error(f"DynamoDB did not answer {operation_name}: {exc}") from exc
