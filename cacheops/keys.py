"""Cache key layout of the published protocol: p:<family>:manifest, p:<family>:chunk:<zsha>:<i>."""

from django.conf import settings


def _key(*parts: object) -> str:
    return ":".join([settings.CACHEOPS_KEY_PREFIX, *map(str, parts)])


def manifest_key(family: str) -> str:
    """Where the current manifest of `family` lives."""
    return _key(family, "manifest")


def manifest_version_key(family: str, version: str) -> str:
    """Where the manifest of one version is kept for rollback."""
    return _key(family, "manifest", version)


def chunk_key(family: str, zsha: str, index: int) -> str:
    """Where chunk `index` of the compressed stream `zsha` lives."""
    return _key(family, "chunk", zsha, index)


def lock_key(family: str) -> str:
    """The build lock of `family`."""
    return _key(family, "lock")


def purged_key(family: str) -> str:
    """The version of `family` a purge told every reader to forget."""
    return _key(family, "purged")
