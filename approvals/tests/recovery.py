"""The recovery harness shared by the apply and revert tests: a real worker killed and restarted, a real
`mlflow server` stopped and started, an HTTP proxy that loses MLflow's answer (fixtures: ``conftest.py``)."""

import http.client
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from approvals import services

API = "/api/2.0/mlflow/model-versions"
TRANSITIONS = f"{API}/transition-stage"
VERSION_TAGS = f"{API}/set-tag"
# Short waits so a scenario takes seconds: the worker subprocess reads these from its environment.
FAST = {
    "APPLY_MAX_RETRIES": "100",
    "APPLY_RETRY_BACKOFF_SECONDS": "1",
    "APPLY_RETRY_BACKOFF_MAX_SECONDS": "2",
    "APPLY_LEASE_SECONDS": "6",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",  # the lease must outlast 3 of them (settings refuse less)
    "APPLY_REQUEUE_AFTER_SECONDS": "1",
}


class DroppingProxy:
    """An HTTP proxy in front of MLflow that loses MLflow's answer to the first POST to ``path`` (a stage
    transition unless told).

    It forwards that POST to MLflow, reads MLflow's response, waits for ``release`` (a test may kill
    the worker meanwhile) and closes the connection without answering. Everything else passes through.
    """

    HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"}

    def __init__(self, upstream: str, *, hold: bool = False, path: str = TRANSITIONS):
        self.upstream = urlsplit(upstream)
        self.path = path
        self.forwarded = threading.Event()  # MLflow has applied the transition whose answer is being lost
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.dropped = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                proxy.forward(self)

            do_POST = do_PATCH = do_DELETE = do_GET

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _drop_this_one(self, handler) -> bool:
        if handler.command != "POST" or not handler.path.startswith(self.path):
            return False
        with self._lock:
            self.dropped += 1
            return self.dropped == 1

    def forward(self, handler):
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in self.HOP}
        upstream = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            upstream.request(handler.command, handler.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        if self._drop_this_one(handler):
            self.forwarded.set()
            self.release.wait(timeout=120)
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client is gone already (its worker was killed)
            return
        handler.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in self.HOP:
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(data)
        handler.close_connection = True

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def kill_while_the_answer_is_held(proxy: DroppingProxy, worker):
    """The held write reached MLflow; the worker dies (SIGKILL) before it hears so, and a new one starts."""
    assert proxy.forwarded.wait(timeout=120), "the worker never sent the write"
    worker.kill()
    proxy.release.set()
    worker.start()


def wait_for(done, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def retries_logged(worker, task: str = "apply_transition") -> int:
    """Retries the worker scheduled for ``task`` (Celery logs each one)."""
    return len(re.findall(rf"{task}\[[-\w]+\] retry: Retry in", worker.log.read_text()))


def sweep_until_taken_back(sweep=None, timeout: float = 60) -> dict:
    """Run the sweeper (as beat would, every few seconds) until it takes back an expired claim: by default the
    requests' sweep, or ``sweep`` (the reverts')."""
    sweep = sweep or services.transition_requests_sweep
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        swept = sweep()
        if swept["expired"]:
            return swept
        time.sleep(0.5)
    raise AssertionError(f"the sweeper took back no claim within {timeout}s")
