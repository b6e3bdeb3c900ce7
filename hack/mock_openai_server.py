#!/usr/bin/env python3
"""A small OpenAI-compatible streaming server on 127.0.0.1 that behaves like a batched engine, for
producing benchmark-tool fixtures (tests/fixtures/profiles) without a GPU.

Every running request receives one token per engine step; a step takes STEP_MS + PER_REQUEST_MS x
(requests running), so throughput rises with concurrency and the per-stream speed falls, as on a real
engine. The first token waits PREFILL_MS_PER_1K x prompt tokens / 1000 more. Tokens are words; the
prompt length is counted in whitespace-separated words (the fixture tokenizer is word-level).

Usage: hack/mock_openai_server.py [--port 8765]   (serves /v1/models, /v1/completions,
/v1/chat/completions, /health; stops on SIGTERM / Ctrl-C)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STEP_MS = 4.0
PER_REQUEST_MS = 0.25
PREFILL_MS_PER_1K = 20.0
MODEL = "mock-llm"


class Engine:
    """Requests in flight, shared by the handler threads."""

    lock = threading.Lock()
    running = 0

    @classmethod
    def enter(cls, delta: int) -> None:
        with cls.lock:
            cls.running += delta

    @classmethod
    def step_s(cls) -> float:
        with cls.lock:
            n = cls.running
        return (STEP_MS + PER_REQUEST_MS * n) / 1000


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet

    def _json(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/v1/models"):
            self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "mock"}]})
        elif self.path.startswith("/health"):
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        req = json.loads(self.rfile.read(length) or b"{}")
        chat = self.path.startswith("/v1/chat/completions")
        if not chat and not self.path.startswith("/v1/completions"):
            self._json(404, {"error": "not found"})
            return
        if chat:
            prompt = " ".join(
                str(m.get("content", "")) if isinstance(m.get("content"), str) else json.dumps(m.get("content"))
                for m in req.get("messages", [])
            )
        else:
            p = req.get("prompt", "")
            prompt = p if isinstance(p, str) else " ".join(map(str, p))
        prompt_tokens = len(prompt.split())
        max_tokens = int(req.get("max_completion_tokens") or req.get("max_tokens") or 16)
        stream = bool(req.get("stream"))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": max_tokens,
            "total_tokens": prompt_tokens + max_tokens,
        }
        created = int(time.time())
        Engine.enter(1)
        try:
            time.sleep(PREFILL_MS_PER_1K * prompt_tokens / 1000 / 1000)
            if not stream:
                for _ in range(max_tokens):
                    time.sleep(Engine.step_s())
                text = " ".join("tok" for _ in range(max_tokens))
                choice: dict[str, Any] = (
                    {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"}
                    if chat
                    else {"index": 0, "text": text, "finish_reason": "length"}
                )
                self._json(200, {"id": "cmpl-mock", "object": "chat.completion" if chat else "text_completion",
                                 "created": created, "model": MODEL, "choices": [choice], "usage": usage})  # fmt: skip
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            obj = "chat.completion.chunk" if chat else "text_completion"
            for i in range(max_tokens):
                time.sleep(Engine.step_s())
                piece = "tok" if i == 0 else " tok"
                delta: dict[str, Any] = (
                    {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                    if chat
                    else {"index": 0, "text": piece, "finish_reason": None}
                )
                chunk = {"id": "cmpl-mock", "object": obj, "created": created, "model": MODEL, "choices": [delta]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            end = {"index": 0, "delta": {}, "text": "", "finish_reason": "length"}
            final = {"id": "cmpl-mock", "object": obj, "created": created, "model": MODEL, "choices": [end]}
            final["usage"] = usage
            self.wfile.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
            self.wfile.flush()
            self.close_connection = True
        finally:
            Engine.enter(-1)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
