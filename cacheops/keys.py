"""Names of the published protocol: cache keys (p:<family>:manifest, p:<family>:chunk:<zsha>:<i>) and the
public chunk URLs."""

from django.conf import settings

# The family holding the whole catalog; each program's own is program:<id>.
CATALOG = "catalog"


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


def chunk_path(version: str, entry: dict) -> str:
    """The public URL path of one chunk of the catalog: named by its version, index and the hash of its bytes,
    so a URL always names one byte sequence (another codec, level or chunk size makes other URLs)."""
    return f"/api/catalog/chunks/{version}/{entry['index']}/{entry['sha256'][:16]}"


def lock_key(family: str) -> str:
    """The build lock of `family`."""
    return _key(family, "lock")


def purged_key(family: str) -> str:
    """The version of `family` a purge told every reader to forget."""
    return _key(family, "purged")


def versions_channel(family: str) -> str:
    """The channel on which every new manifest of `family` is announced to the readers."""
    return _key(family, "versions")
