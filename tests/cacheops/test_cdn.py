"""CloudFront invalidations, sent to moto's CloudFront in a real moto server process."""

import socket
import time

import pytest

from cacheops.backends.cdn import CdnError, cdn_configured, invalidate, invalidation_status, public_paths
from cms.store.local import free_port


def sent(cloudfront, distribution: str) -> list[dict]:
    """Every invalidation batch the distribution received, oldest first."""
    listed = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"].get("Items", [])
    found = [cloudfront.get_invalidation(DistributionId=distribution, Id=item["Id"])["Invalidation"] for item in listed]
    return [item["InvalidationBatch"] for item in sorted(found, key=lambda item: item["CreateTime"])]


def test_public_paths_name_the_catalog_programs_and_each_purged_versions_chunks():
    assert public_paths(["v1", "v2", "v1"]) == [
        "/api/catalog",
        "/api/catalog/manifest",
        "/api/programs/*",
        "/api/catalog/chunks/v1/*",
        "/api/catalog/chunks/v2/*",
    ]


def test_invalidate_sends_the_paths_once_each(distribution, cloudfront):
    paths = public_paths(["v7"]) + ["/api/catalog"]

    invalidation = invalidate(paths, "release-7")

    expected = sorted(set(paths))
    assert sent(cloudfront, distribution) == [
        {"Paths": {"Quantity": len(expected), "Items": expected}, "CallerReference": "release-7"}
    ]
    assert invalidation.paths == tuple(expected)
    assert invalidation.id and invalidation.status and invalidation.created_at


def test_a_resent_invalidation_is_the_same_batch_under_the_same_reference(distribution, cloudfront):
    # CloudFront answers a CreateInvalidation repeating a CallerReference and its batch with the invalidation
    # it made already. moto makes a new one each time, so what can be checked here is what makes AWS match:
    # the same reference with the same batch, even when the caller lists the paths in another order.
    invalidate(["/api/catalog", "/api/programs/*"], "release-8")
    invalidate(["/api/programs/*", "/api/catalog", "/api/catalog"], "release-8")

    first, second = sent(cloudfront, distribution)
    assert first == second
    assert first["CallerReference"] == "release-8"


def test_status_is_the_cdns(distribution, cloudfront):
    invalidation = invalidate(["/api/catalog"], "release-9")

    status = invalidation_status(invalidation.id)

    reported = cloudfront.get_invalidation(DistributionId=distribution, Id=invalidation.id)["Invalidation"]["Status"]
    assert status == reported == invalidation.status


def test_status_of_an_unknown_invalidation_is_an_error(distribution):
    with pytest.raises(CdnError, match="GetInvalidation.*NoSuchInvalidation"):
        invalidation_status("NOSUCHID")


def test_without_a_distribution_nothing_is_sent(settings, distribution, cloudfront):
    settings.CACHEOPS_CDN_DISTRIBUTION_ID = ""

    assert not cdn_configured()
    assert invalidate(["/api/catalog"], "release-10") is None
    assert sent(cloudfront, distribution) == []
    with pytest.raises(CdnError, match="no CDN is configured"):
        invalidation_status("ANY")


def test_an_unknown_distribution_is_one_readable_line(settings, distribution):
    settings.CACHEOPS_CDN_DISTRIBUTION_ID = "EUNKNOWN123"

    with pytest.raises(CdnError) as raised:
        invalidate(["/api/catalog"], "release-11")

    message = str(raised.value)
    assert message == (
        "CloudFront CreateInvalidation on distribution EUNKNOWN123 failed: "
        "NoSuchDistribution: The specified distribution does not exist."
    )


def test_an_unreachable_endpoint_fails_within_seconds(settings, distribution):
    settings.CACHEOPS_CDN_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()

    with pytest.raises(CdnError, match="CreateInvalidation .* failed: Could not connect") as raised:
        invalidate(["/api/catalog"], "release-12")

    assert time.monotonic() - started < 10
    assert "\n" not in str(raised.value)


def test_a_silent_endpoint_fails_within_the_read_timeouts(settings, distribution):
    with socket.socket() as silent:  # the kernel takes connections; nobody ever answers them
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings.CACHEOPS_CDN_ENDPOINT_URL = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()

        with pytest.raises(CdnError, match="CreateInvalidation .* failed: Read timeout"):
            invalidate(["/api/catalog"], "release-13")

    assert time.monotonic() - started < 15  # two attempts of 5 s


@pytest.mark.parametrize(
    "paths",
    [[], [f"/api/programs/{i}" for i in range(3001)], ["api/catalog"]],
    ids=["none", "over-3000", "relative"],
)
def test_paths_cloudfront_refuses_are_refused_before_sending(distribution, cloudfront, paths):
    with pytest.raises(ValueError):
        invalidate(paths, "release-14")

    assert sent(cloudfront, distribution) == []
