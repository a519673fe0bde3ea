"""A TCP proxy in front of Redis that can hold requests: after the next `n` requests pass, every later one waits
at the gate, so a test decides exactly where a reader's round pauses (redis-py sends one command per write)."""

from __future__ import annotations

import socket
import threading

from cms.store.local import free_port


class GateProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.held = 0  # requests waiting at the gate now
        self._passes: int | None = None
        self._turn = threading.Condition()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def hold_after(self, requests: int) -> None:
        """Let the next `requests` requests through, then hold every later one until told otherwise."""
        with self._turn:
            self._passes = requests
            self._turn.notify_all()

    def stopped(self) -> bool:
        """Whether every request let through has passed and a later one waits at the gate."""
        with self._turn:
            return self._passes == 0 and self.held > 0

    def release(self) -> None:
        with self._turn:
            self._passes = None
            self._turn.notify_all()

    def close(self) -> None:
        self.release()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _gate(self) -> None:
        with self._turn:
            self.held += 1
            self._turn.wait_for(lambda: self._passes is None or self._passes > 0, timeout=30)
            self.held -= 1
            if self._passes is not None:
                self._passes -= 1

    def _pump(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        try:
            while data := source.recv(65536):
                if requests:
                    self._gate()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
