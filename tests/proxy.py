"""A TCP proxy for fault tests: put it between the portal and a dependency, then take the dependency "away".

``stop()`` closes the listening socket and every connection through it (clients see resets, then connection
refused); ``start()`` listens again on the same port; ``blackhole()`` accepts connections but forwards nothing
(a hung dependency: clients wait for their own timeouts). Never stop the shared PostgreSQL or Redis: stop this.

    proxy = TcpProxy("127.0.0.1", 5432).start()
    url = f"postgres://postgres@127.0.0.1:{proxy.port}/db"
"""

from __future__ import annotations

import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, port: int = 0):
        self.target = (target_host, target_port)
        self.port = port
        self.forwarding = True
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        """Listen (again, on the same port) and forward; connections a blackhole held are dropped."""
        if not self.forwarding:
            self._drop_all()
        self.forwarding = True
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name=f"proxy-{self.port}").start()
        return self

    def stop(self) -> None:
        """Refuse new connections and drop the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)
        self._drop_all()

    def blackhole(self) -> None:
        """Keep accepting, forward nothing: what a hung server or a dropped route looks like to a client."""
        self.forwarding = False
        self._drop_all()
        if self._listener is None:
            self.start()
            self.forwarding = False

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed: stop()
            self._track(client)
            if not self.forwarding:
                continue  # held open, never answered, closed by the next stop()/start()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            self._track(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while self.forwarding:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
