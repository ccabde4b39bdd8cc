"""The sandbox gift vendor as a subprocess on a free port, for the tests (and the bench's style)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.workers import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sandbox:
    def __init__(self, url: str, process: subprocess.Popen) -> None:
        self.url = url
        self.process = process

    def get(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + path, timeout=10) as answer:  # noqa: S310 - local sandbox
            return json.loads(answer.read())

    def stats(self) -> dict[str, int]:
        return self.get("/stats")


@contextmanager
def sandbox_vendor(
    *,
    latency_ms: float = 20,
    failure_rate: float = 0.0,
    webhook_url: str = "",
    webhook_secret: str = "",
    deliver_after_ms: float = 50,
) -> Iterator[Sandbox]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "payouts.sandbox_vendor",
            *("--port", str(port), "--latency-ms", str(latency_ms), "--failure-rate", str(failure_rate)),
            *(
                "--webhook-url",
                webhook_url,
                "--webhook-secret",
                webhook_secret,
                "--deliver-after-ms",
                str(deliver_after_ms),
            ),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    sandbox = Sandbox(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                assert "SANDBOX" in sandbox.get("/")["service"]
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield sandbox
    finally:
        process.terminate()
        process.wait(timeout=10)
