"""Every endpoint and representation of the read API, asked once each, answers written down so two runs compare.

What changes from one publication to the next (versions, chunk digests, hashes in ETags, timestamps) is replaced by
a name for it; each body is named by what it must equal (the compressed catalog, its JSON, chunk i, a program's
JSON...), or kept as it is for JSON written by the API itself (errors, the public manifest).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

from cacheops.keys import chunk_path

OPENAPI = Path(__file__).resolve().parents[2] / "cacheops" / "read" / "openapi.json"

# (method, path, request headers): `{version}`, `{chunk0}`, `{program}`... are filled in from the catalog.
ORIGIN = "https://app.example.jp"
REQUESTS: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip"}),
    ("GET", "/api/catalog", {"Accept-Encoding": "br, gzip;q=0.8"}),
    ("GET", "/api/catalog", {}),
    ("GET", "/api/catalog", {"Accept-Encoding": "identity"}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip;q=0, deflate"}),
    ("GET", "/api/catalog", {"Accept-Encoding": "*"}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip;q=abc"}),
    ("HEAD", "/api/catalog", {"Accept-Encoding": "gzip"}),
    ("HEAD", "/api/catalog", {}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip", "If-None-Match": '"{version}"'}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip", "If-None-Match": 'W/"{version}"'}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip", "If-None-Match": '"other", "{version}"'}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip", "If-None-Match": "*"}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip", "If-None-Match": '"{version}-id"'}),
    ("GET", "/api/catalog", {"If-None-Match": '"{version}-id"'}),
    ("GET", "/api/catalog", {"If-None-Match": "not-quoted"}),
    ("HEAD", "/api/catalog", {"Accept-Encoding": "gzip", "If-None-Match": '"{version}"'}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip", "If-Match": '"{version}"'}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip", "If-Match": '"stale"'}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip", "If-Match": "*"}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip", "If-Unmodified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip", "If-Unmodified-Since": "not a date"}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip", "If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip", "Origin": ORIGIN}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip", "Origin": "https://evil.example"}),
    ("GET", "/api/catalog", {"Accept-Encoding": "gzip", "Origin": ORIGIN, "If-None-Match": '"{version}"'}),
    ("OPTIONS", "/api/catalog", {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}),
    ("OPTIONS", "/api/catalog", {"Origin": "https://evil.example"}),
    ("OPTIONS", "/api/nothing", {"Origin": ORIGIN}),
    ("POST", "/api/catalog", {}),
    ("PUT", "/api/programs/{program}", {"Origin": ORIGIN}),
    ("DELETE", "/api/catalog/manifest", {}),
    ("GET", "/api/catalog/manifest", {}),
    ("HEAD", "/api/catalog/manifest", {}),
    ("GET", "/api/catalog/manifest", {"Accept-Encoding": "gzip", "Origin": ORIGIN}),
    ("GET", "/api/catalog/manifest", {"If-None-Match": "{manifest_etag}"}),
    ("GET", "{chunk0}", {}),
    ("GET", "{chunk1}", {"Accept-Encoding": "gzip"}),
    ("HEAD", "{chunk0}", {}),
    ("GET", "{chunk0}", {"If-None-Match": '"{digest0}"'}),
    ("GET", "{chunk0}", {"X-Edge-Token": "トークン"}),
    ("GET", "/api/catalog/chunks/{version}/0/0123456789abcdef", {}),
    ("GET", "/api/catalog/chunks/{version}/99/{digest0}", {}),
    ("GET", "/api/catalog/chunks/{version}/01/{digest0}", {}),
    ("GET", "/api/catalog/chunks/0123456789abcdef/0/0123456789abcdef", {}),
    ("GET", "/api/catalog/chunks/0123456789abcdef/0/0123456789abcdef", {"X-Edge-Token": "edge-secret"}),
    ("GET", "/api/catalog/chunks/NOTHEX/0/0123456789abcdef", {}),
    ("GET", "/api/catalog/chunks/{version}/0", {}),
    ("GET", "/api/programs/{program}", {}),
    ("GET", "/api/programs/{program}", {"Origin": ORIGIN}),
    ("HEAD", "/api/programs/{program}", {}),
    ("GET", "/api/programs/{program}", {"If-None-Match": "{program_etag}"}),
    ("GET", "/api/programs/{program}", {"If-Match": '"stale"'}),
    ("GET", "/api/programs/01J00000000000000000000000", {}),
    ("GET", "/api/programs/nope", {}),
    ("GET", "/api/programs/" + "x" * 300, {}),
    ("GET", "/api/openapi.json", {}),
    ("GET", "/api/openapi.json", {"If-None-Match": "{openapi_etag}"}),
    ("GET", "/api", {}),
    ("GET", "/api/", {}),
    ("GET", "/api/catalog/", {}),
    ("GET", "/api/nothing", {"Origin": ORIGIN}),
    ("GET", "/api/" + "a" * 2000, {}),
    ("GET", "/healthz", {}),
    ("HEAD", "/healthz", {}),
    ("POST", "/healthz", {}),
    ("GET", "/metrics", {}),
]

# Representations whose headers differ on purpose from the Django-era answers recorded in the file.
Call = Callable[[str, str, dict[str, str]], tuple[int, dict[str, str], bytes]]


def _sha16(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


class Names:
    """The values one publication gives the placeholders, and the bodies a response may be named by."""

    def __init__(self, manifest: dict, stream: bytes, identity: bytes, program_id: str, public_manifest: bytes):
        version = manifest["version"]
        programs = {p["id"]: p for p in json.loads(identity)["programs"]}
        self.program_body = _canonical_program(programs[program_id])
        parts, offset = [], 0
        for entry in manifest["chunks"]:
            parts.append(stream[offset : offset + entry["bytes"]])
            offset += entry["bytes"]
        self.fill = {
            "version": version,
            "program": program_id,
            "chunk0": chunk_path(version, manifest["chunks"][0]),
            "chunk1": chunk_path(version, manifest["chunks"][1]),
            "digest0": manifest["chunks"][0]["sha256"][:16],
            "manifest_etag": f'"m-{_sha16(public_manifest)}"',
            "program_etag": f'"p-{_sha16(self.program_body)}"',
            "openapi_etag": f'"o-{_sha16(OPENAPI.read_bytes())}"',
        }
        self.bodies = {
            stream: "<catalog, compressed>",
            identity: "<catalog JSON>",
            self.program_body: "<program JSON>",
            public_manifest: "<public manifest>",
            b"": "<empty>",
        } | {part: f"<chunk {i}>" for i, part in enumerate(parts)}
        # Longest first: a chunk's digest is a prefix of its sha256, a version a part of the "-id" tag.
        self.masks = sorted(
            [(version, "{version}"), (self.fill["manifest_etag"], "{manifest_etag}")]
            + [(self.fill["program_etag"], "{program_etag}"), (program_id, "{program}")]
            + [(entry["sha256"][:16], f"{{digest{i}}}") for i, entry in enumerate(manifest["chunks"])],
            key=lambda pair: -len(pair[0]),
        )

    def request(self, method: str, path: str, headers: dict[str, str]) -> tuple[str, str, dict[str, str]]:
        def filled(text: str) -> str:
            return re.sub(r"\{(\w+)\}", lambda m: self.fill.get(m.group(1), m.group(0)), text)

        return method, filled(path), {name: filled(value) for name, value in headers.items()}

    def mask(self, text: str) -> str:
        for value, name in self.masks:
            text = text.replace(value, name)
        return text

    def body(self, path: str, content_type: str, body: bytes) -> object:
        if body in self.bodies:
            return self.bodies[body]
        if path == "/metrics":
            return "<metrics text>"
        if path == "/api/openapi.json" and body == OPENAPI.read_bytes():
            return "<the OpenAPI document, as committed>"
        document = json.loads(body)
        if path == "/healthz":  # what the process knows of its services: named, not compared
            document = {key: "<value>" if key in ("as_of", "last_poll_s_ago", "broker", "workers") else value
                        for key, value in document.items()}  # fmt: skip
            return json.loads(self.mask(json.dumps(document)))
        return json.loads(self.mask(body.decode()))

    def length(self, value: str, body: bytes) -> str:
        """A Content-Length named by the body it counts (a HEAD's counts the GET's body), else as sent."""
        named = next((name for known, name in self.bodies.items() if known and len(known) == int(value)), None)
        if named is not None:
            return f"len({named})"
        return "len(this body)" if body and len(body) == int(value) else value


def _canonical_program(program: dict) -> bytes:
    from cacheops.chunks import canonical

    return canonical({"program": program})


# Headers a WSGI server or Django's test client adds on its own, whatever the application says.
SERVER_HEADERS = {"date", "server", "connection", "keep-alive", "transfer-encoding"}


def answers(call: Call, names: Names) -> list[dict]:
    """Each request of REQUESTS as sent, and its answer with the publication's values named."""
    written = []
    for template in REQUESTS:
        method, path, headers = names.request(*template)
        status, got, body = call(method, path, headers)
        kept = {name.lower(): names.mask(value) for name, value in got.items() if name.lower() not in SERVER_HEADERS}
        if "content-length" in kept:
            # The health report's length follows its figures (seconds since the last poll).
            healthz = path == "/healthz" and status == 200
            kept["content-length"] = "len(report)" if healthz else names.length(kept["content-length"], body)
        if "vary" in kept:
            kept["vary"] = ", ".join(sorted(v.strip() for v in kept["vary"].split(",")))
        if "etag" in kept and path == "/api/openapi.json":
            kept["etag"] = "<openapi etag>"
        written.append(
            {
                "request": [template[0], names.mask(template[1]), {k: names.mask(v) for k, v in template[2].items()}],
                "status": status,
                "headers": dict(sorted(kept.items())),
                "body": names.body(path, kept.get("content-type", ""), body),
            }
        )
    return written
