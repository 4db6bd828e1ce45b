#!/usr/bin/env python3
# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local stand-in for the Telegram Bot API, so Alertmanager's telegram_configs can be tested
without leaving the lab host.

  telegram_sink.py serve --port 18080 --log /run/telegram-sink.jsonl
      answers /bot<token>/<method> like the Bot API (getMe, sendMessage) and appends every
      call (method, sha256 of the token, chat_id, text) as one JSON line to --log.
  telegram_sink.py wait --log F --contains TEXT [--contains TEXT2] [--chat-id N]
                   [--token-sha256 H] [--timeout 60]
      waits until a sendMessage to that chat, with that bot token, whose text contains every
      TEXT was logged; prints it as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class BotApi(BaseHTTPRequestHandler):
    log_path = "/run/telegram-sink.jsonl"
    message_id = 0

    def _params(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        if not raw:
            return query
        if self.headers.get("Content-Type", "").startswith("application/json"):
            return {**query, **json.loads(raw)}
        return {**query, **dict(urllib.parse.parse_qsl(raw.decode()))}

    def _handle(self) -> None:
        parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot"):
            self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        token, method = parts[0][3:], parts[1]
        params = self._params()
        # The token itself is not kept, only its hash (test output must not show it).
        token_sha256 = hashlib.sha256(token.encode()).hexdigest()
        record = {"time": time.time(), "method": method, "token_sha256": token_sha256, **params}
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if method == "getMe":
            result = {"id": 1, "is_bot": True, "first_name": "lab", "username": "lab_bot"}
        elif method == "sendMessage":
            BotApi.message_id += 1
            chat_id = int(params.get("chat_id", 0))
            result = {
                "message_id": BotApi.message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "group" if chat_id < 0 else "private"},
                "text": params.get("text", ""),
            }
        else:
            result = True
        self._reply(200, {"ok": True, "result": result})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _handle
    do_POST = _handle

    def log_message(self, *args) -> None:
        pass


def wait(
    log: str, contains: list[str], chat_id: int | None, token_sha256: str | None, timeout: float
) -> int:
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        try:
            with open(log, encoding="utf-8") as handle:
                seen = [json.loads(line) for line in handle if line.strip()]
        except FileNotFoundError:
            seen = []
        for record in seen:
            if record["method"] != "sendMessage" or not all(
                text in record.get("text", "") for text in contains
            ):
                continue
            if chat_id is not None and int(record.get("chat_id", 0)) != chat_id:
                continue
            if token_sha256 is not None and record["token_sha256"] != token_sha256:
                continue
            print(json.dumps({"chat_id": int(record["chat_id"]), "text": record["text"]}))
            return 0
        if time.monotonic() >= deadline:
            texts = [
                record.get("text", "")[:200] for record in seen if record["method"] == "sendMessage"
            ]
            print(
                f"no sendMessage containing {contains!r} after {timeout}s; messages: {texts}",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve")
    serve.add_argument("--address", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=18080)
    serve.add_argument("--log", default=BotApi.log_path)
    waiter = commands.add_parser("wait")
    waiter.add_argument("--log", default=BotApi.log_path)
    waiter.add_argument("--contains", action="append", required=True)
    waiter.add_argument("--chat-id", type=int)
    waiter.add_argument("--token-sha256")
    waiter.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    if args.command == "wait":
        return wait(args.log, args.contains, args.chat_id, args.token_sha256, args.timeout)
    BotApi.log_path = args.log
    ThreadingHTTPServer((args.address, args.port), BotApi).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
