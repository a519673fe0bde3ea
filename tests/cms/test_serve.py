"""The production server's settings (python -m cms.serve): a bad value stops it at once with one line naming it."""

import subprocess
import sys

import pytest
from django.conf import settings


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("WEB_CONCURRENCY", "four", "WEB_CONCURRENCY must be a whole number from 1 to 256, not 'four'"),
        ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY must be a whole number from 1 to 256, not '0'"),
        ("WEB_WORKER_CONNECTIONS", "-5", "WEB_WORKER_CONNECTIONS must be a whole number from 1 to 1000000, not '-5'"),
        ("WEB_WORKER_CONNECTIONS", "10k", "WEB_WORKER_CONNECTIONS must be a whole number from 1 to 1000000, not '10k'"),
        ("WEB_WORKER_CONNECTIONS", "9" * 30, "WEB_WORKER_CONNECTIONS must be a whole number from 1 to 1000000"),
        ("WEB_KEEPALIVE", "1.5", "WEB_KEEPALIVE must be a whole number from 1 to 3600, not '1.5'"),
        ("WEB_GRACEFUL_TIMEOUT", "9" * 5000, "WEB_GRACEFUL_TIMEOUT must be a whole number from 1 to 3600"),
        ("PORT", "70000", "PORT must be a whole number from 1 to 65535, not '70000'"),
        ("WEB_BIND", "localhost", "WEB_BIND must be host:port (a port from 1 to 65535), not 'localhost'"),
        ("WEB_BIND", "127.0.0.1:99999", "WEB_BIND must be host:port (a port from 1 to 65535), not '127.0.0.1:99999'"),
        ("WEB_LOG_LEVEL", "loud", "WEB_LOG_LEVEL must be one of"),
    ],
)
def test_a_bad_setting_stops_the_server_with_one_line_naming_it(tmp_path, variable, value, said):
    env = {"PATH": "/usr/bin:/bin", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), variable: value}

    done = subprocess.run(
        [sys.executable, "-m", "cms.serve"], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=30
    )

    assert done.returncode != 0
    assert done.stderr.strip().startswith(said) and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stdout == ""
