"""Key art and thumbnails go to S3 through django-storages when a bucket is configured."""

import io

import boto3
import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from cms import selectors, services


def png_upload(name: str = "art.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 30, 60)).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.fixture
def s3_bucket(settings, moto_url):
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
    s3.create_bucket(Bucket="airtime-media")
    settings.AWS_STORAGE_BUCKET_NAME = "airtime-media"
    settings.AWS_S3_ENDPOINT_URL = moto_url
    settings.AWS_S3_REGION_NAME = "us-east-1"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage"},
    }
    yield s3
    for obj in s3.list_objects_v2(Bucket="airtime-media").get("Contents", []):
        s3.delete_object(Bucket="airtime-media", Key=obj["Key"])
    s3.delete_bucket(Bucket="airtime-media")


def test_key_art_is_stored_in_s3_and_served_from_its_url(dynamodb, s3_bucket):
    program = services.program_create(
        user="editor", key_art_upload=png_upload(), title="鬼滅の刃", slug="kimetsu", status="draft"
    )

    stored = selectors.program_get(program.id).key_art
    keys = [obj["Key"] for obj in s3_bucket.list_objects_v2(Bucket="airtime-media")["Contents"]]
    assert keys == [stored]
    assert stored.startswith("key-art/") and stored.endswith(".png")

    from django.core.files.storage import default_storage

    response = requests.get(default_storage.url(stored), timeout=5)
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (64, 36)


def test_failed_content_write_leaves_no_orphan_upload_in_s3(dynamodb, s3_bucket):
    services.program_create(user="editor", title="One", slug="taken", status="draft")

    with pytest.raises(services.ValidationError):
        services.program_create(user="editor", key_art_upload=png_upload(), title="Two", slug="taken", status="draft")

    assert s3_bucket.list_objects_v2(Bucket="airtime-media").get("KeyCount") == 0


@pytest.mark.parametrize(
    ("fmt", "key_end", "content_type"),
    [("PNG", ".png", "image/png"), ("JPEG", ".jpg", "image/jpeg"), ("WEBP", ".webp", "image/webp")],
)
def test_upload_named_html_is_stored_in_s3_as_the_image_it_really_is(dynamodb, s3_bucket, fmt, key_end, content_type):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 30, 60)).save(buffer, fmt)
    upload = SimpleUploadedFile("x.html", buffer.getvalue() + b"<script>alert(1)</script>", content_type="text/html")

    program = services.program_create(user="editor", key_art_upload=upload, title="鬼滅の刃", slug="kimetsu")

    stored = selectors.program_get(program.id).key_art
    assert stored.startswith("key-art/") and stored.endswith(key_end)
    obj = s3_bucket.get_object(Bucket="airtime-media", Key=stored)
    assert obj["ContentType"] == content_type
    data = obj["Body"].read()
    assert b"<script" not in data
    assert Image.open(io.BytesIO(data)).format == fmt
