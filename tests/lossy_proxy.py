"""A TCP proxy in front of an HTTP server that can lose an answer: the request reaches the server, its
answer never reaches the client, whose connection is closed, as a timeout or a network fault looks."""

from __future__ import annotations

import socket
import threading

from cms.store.local import free_port


def _message(sock: socket.socket, buffer: bytearray) -> bytes | None:
    """Read one HTTP/1.1 message with a Content-Length body; None once the peer closes."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    total = len(head) + 4 + length
    while len(buffer) < total:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    message = bytes(buffer[:total])
    del buffer[:total]
    return message


class LossyProxy:
    """Forward HTTP requests to `upstream`; lose the answers of the next `lose` requests naming `target`."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lose: dict[bytes, int] = {}
        self.seen: list[bytes] = []  # the operation of every request forwarded, in order
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def answers_lost(self, operation: str, count: int = 1) -> None:
        """Lose the answers to the next `count` requests for DynamoDB's `operation` (after it has done them)."""
        with self._lock:
            self.lose[operation.encode()] = count

    def operations(self, name: str) -> int:
        return sum(1 for seen in self.seen if seen == name.encode())

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        from_client, from_upstream = bytearray(), bytearray()
        try:
            while True:
                request = _message(client, from_client)
                if request is None:
                    return
                operation = self._operation(request)
                upstream.sendall(request)
                answer = _message(upstream, from_upstream)
                if answer is None or self._lost(operation):
                    return  # the server did the work; the client hears nothing and sees its connection close
                client.sendall(answer)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def _operation(self, request: bytes) -> bytes:
        head = request.partition(b"\r\n\r\n")[0]
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"x-amz-target":
                operation = value.strip().rpartition(b".")[2]
                self.seen.append(operation)
                return operation
        return b""

    def _lost(self, operation: bytes) -> bool:
        with self._lock:
            if self.lose.get(operation, 0) > 0:
                self.lose[operation] -= 1
                return True
        return False
