"""A real HTTP runbook endpoint for the `webhook` executor: it records every delivery with its
`Idempotency-Key`, answers after a configurable delay (so that a fault can land while a worker
is inside the call) and with a configurable status (so that an executor can be made to fail).

Notifications posted to `/notify` are recorded apart, so a check can see that operators were told.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Delivery:
    key: str
    decision_id: int
    client_port: int
    at: float


@dataclass
class WebhookReceiver:
    delay: float = 0.0
    status: int = 200
    deliveries: list[Delivery] = field(default_factory=list)
    notifications: list[dict[str, object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.startswith("/notify"):
                    with receiver._lock:
                        receiver.notifications.append(body)
                    self._answer(200)
                    return
                with receiver._lock:
                    receiver.deliveries.append(
                        Delivery(
                            key=self.headers.get("Idempotency-Key", ""),
                            decision_id=int(body.get("decision_id", 0)),
                            client_port=self.client_address[1],
                            at=time.monotonic(),
                        )
                    )
                time.sleep(receiver.delay)
                self._answer(receiver.status)

            def _answer(self, status: int) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass  # the worker was killed while we slept: nobody is listening

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/run"
        self.notify_url = f"http://127.0.0.1:{self.port}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def keys_per_decision(self) -> dict[int, set[str]]:
        keys: dict[int, set[str]] = {}
        for d in self.snapshot():
            keys.setdefault(d.decision_id, set()).add(d.key)
        return keys

    def raw_per_decision(self) -> Counter[int]:
        return Counter(d.decision_id for d in self.snapshot())
