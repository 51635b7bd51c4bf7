"""A real webhook receiver on 127.0.0.1 that can be down (not listening) or failing (500) for a while."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from audit.services import Target, record
from conftest import free_port
from notifications.models import Subscription

SECRET = "s3cret-for-tests"


class Receiver:
    """Keeps what it was sent; ``seen`` counts each webhook-id once, as a receiver that dedups would."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.answer = 200
        self.received: list[tuple[dict, bytes]] = []
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.answer == 200:
                    with receiver.lock:
                        receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        """Down: nothing listens on the port any more."""
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def ids(self) -> list[str]:
        return [headers["webhook-id"] for headers, _ in self.received]

    def seen(self) -> list[dict]:
        """The messages, each webhook-id once, in arrival order."""
        first = {}
        for headers, body in self.received:
            first.setdefault(headers["webhook-id"], json.loads(body))
        return list(first.values())


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def webhook(db, receiver):
    return Subscription.objects.create(
        channel=Subscription.WEBHOOK,
        name="#ml-releases",
        url=receiver.url,
        secret=SECRET,
        actions=["request.created", "review.approved", "request.applied", "card.published"],
    )


def event(action="request.created", model="iris", version=1, actor="system:worker", target_type="transition_request"):
    return record(
        actor=actor,
        action=action,
        target=Target(type=target_type, id="7", model_name=model, version=version),
        data={"to_stage": "Production"},
    )
