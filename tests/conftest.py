"""Real servers for the suite: a moto server process for DynamoDB and S3, Redis, SQL."""

import os
import shutil

import pytest
from django.conf import settings

from cms.store.local import moto_server_start

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
# Playwright's sync API runs an event loop in the test thread; the ORM calls stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def moto_url():
    proc, url = moto_server_start()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session", autouse=True)
def dynamodb_tables(moto_url, django_db_blocker):
    """Point the content store at the moto server and create the tables once."""
    from cms.store.models import models_configure
    from cms.store.tables import tables_create

    settings.DYNAMODB_ENDPOINT_URL = moto_url
    models_configure()
    tables_create()
    yield moto_url


@pytest.fixture
def dynamodb(dynamodb_tables):
    """An empty content store for this test."""
    from cms.store.tables import tables_truncate

    tables_truncate()
    return dynamodb_tables


@pytest.fixture(scope="session", autouse=True)
def media_root_cleanup():
    """Remove the suite's temporary media folder when the session ends."""
    yield
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
