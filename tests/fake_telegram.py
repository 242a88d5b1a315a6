"""A local stand-in for Telegram's Bot API, as far as ``sendMessage``, over real HTTP.

Written from Telegram's contract (``POST /bot<token>/sendMessage`` with a JSON ``chat_id`` and
``text``, answered ``{"ok": true, "result": {...}}``), not from apprise or the bridge, and
served by the standard library's HTTP server, so that it logs nothing of its own. It counts
and keeps every message, and answers 500 for the bot tokens told to fail.

``serve(monkeypatch)`` points apprise's Telegram plugin at it: ``notify_url``, the plugin's API
base URL, is the library's endpoint setting, not the bridge's code.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from apprise.plugins.telegram import NotifyTelegram

TOKEN = "123456:ABCDEF"
CHAT = "987654"
URL = f"tgram://{TOKEN}/{CHAT}"
_PATH = re.compile(r"^/bot(?P<token>[^/]+)/sendMessage$")


@dataclass(frozen=True)
class Message:
    token: str
    chat_id: str
    text: str


class FakeTelegram:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.requests = 0
        self.failing: set[str] = set()  # bot tokens answered with 500
        self._lock = threading.Lock()

    def texts(self, token: str = TOKEN) -> list[str]:
        with self._lock:
            return [m.text for m in self.messages if m.token == token]

    def answer(self, path: str, body: bytes) -> tuple[int, dict[str, object]]:
        match = _PATH.match(path)
        if match is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        token = match["token"]
        payload = json.loads(body)
        with self._lock:
            self.requests += 1
            if token in self.failing:
                return 500, {"ok": False, "error_code": 500, "description": "Internal Error"}
            self.messages.append(Message(token, str(payload["chat_id"]), str(payload["text"])))
            number = len(self.messages)
        return 200, {
            "ok": True,
            "result": {"message_id": number, "chat": {"id": payload["chat_id"]}},
        }


def _handler(fake: FakeTelegram) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the standard library's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, answer = fake.answer(self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return None

    return Handler


@contextmanager
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    """The fake on a free loopback port, apprise's Telegram plugin pointed at it."""
    fake = FakeTelegram()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, name="fake-telegram", daemon=True)
    thread.start()
    try:
        monkeypatch.setattr(
            NotifyTelegram, "notify_url", f"http://127.0.0.1:{server.server_port}/bot"
        )
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
