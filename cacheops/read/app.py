"""The read side as a WSGI application in front of Django: the public paths are answered here, every other one by
Django. A viewer's request never enters Django's request cycle (its handler, signals and middleware would cost
several times the answer itself); the admin's requests never reach the read API's code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cacheops.read.api import Request, answer, is_public
from cacheops.timers import timers_start

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


class ReadSide:
    """WSGI: answer /api/*, /healthz and /metrics from this process's memory; hand every other path to `django`."""

    def __init__(self, django: WsgiApp) -> None:
        self.django = django

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if not is_public(path):
            return self.django(environ, start_response)
        # This process's timer hands its counts to the metrics and SQL, whichever side answers first.
        timers_start()
        response = answer(Request(environ.get("REQUEST_METHOD", "GET").upper(), path, environ))
        start_response(*response.wsgi())
        return [response.body]
