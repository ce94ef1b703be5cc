"""The malware scan of uploads: each file is streamed to clamd with its INSTREAM command before a job is queued.

clamd listens on a Unix socket (CLAMD_SOCKET) or TCP (CLAMD_HOST / CLAMD_PORT). INSTREAM: send `zINSTREAM\\0`,
then the data in chunks each prefixed by its length (4 bytes, network order), then a zero length; clamd answers
`stream: OK`, `stream: <signature> FOUND` or `... ERROR`. A file clamd finds infected is refused (422, naming
the signature); when clamd cannot answer, the upload is refused with 503 (CLAMD_FAIL_OPEN=1: it passes,
logged).
"""

from __future__ import annotations

import logging
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from burntbeats.errors import InvalidRequest, Overloaded
from burntbeats.settings import Settings

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
RETRY_AFTER_S = 30
MAX_REPLY = 4096


class Infected(InvalidRequest):
    """clamd found a signature in the upload (422)."""

    def __init__(self, signature: str) -> None:
        super().__init__(f"The upload was refused: the malware scanner found {signature}.")
        self.signature = signature


class ScannerUnavailable(Overloaded):
    """clamd could not scan the upload (503 + Retry-After)."""

    def __init__(self) -> None:
        super().__init__("The upload could not be scanned for malware right now (the scanner is unavailable), so it "
                         f"was not accepted. Try again in {RETRY_AFTER_S} seconds.", retry_after_s=RETRY_AFTER_S)


@dataclass(frozen=True)
class Scanner:
    socket_path: str | None
    host: str | None
    port: int
    timeout_s: float
    fail_open: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> Scanner | None:
        if not settings.clamd_socket and not settings.clamd_host:
            return None
        return cls(settings.clamd_socket or None, settings.clamd_host or None, settings.clamd_port,
                   settings.clamd_timeout_s, settings.clamd_fail_open)

    def _connect(self) -> socket.socket:
        if self.socket_path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout_s)
            sock.connect(self.socket_path)
            return sock
        return socket.create_connection((self.host, self.port), timeout=self.timeout_s)

    def _instream(self, path: Path) -> str:
        with self._connect() as sock, open(path, "rb") as fh:
            sock.sendall(b"zINSTREAM\0")
            while chunk := fh.read(CHUNK):
                sock.sendall(struct.pack("!L", len(chunk)) + chunk)
            sock.sendall(struct.pack("!L", 0))
            reply = b""
            while not reply.endswith(b"\0") and len(reply) < MAX_REPLY:
                data = sock.recv(MAX_REPLY)
                if not data:
                    break
                reply += data
        return reply.rstrip(b"\0").decode("utf-8", "replace").strip()

    def scan(self, path: Path) -> None:
        """Return if clamd finds the file clean; Infected / ScannerUnavailable otherwise (see the module)."""
        try:
            reply = self._instream(path)
        except OSError as exc:
            reply = f"connection failed: {exc}"
        if reply.endswith(" OK"):
            return
        if reply.endswith(" FOUND"):
            signature = reply.removeprefix("stream:").removesuffix("FOUND").strip()[:200]
            log.warning("upload refused: clamd found %s", signature)
            raise Infected(signature)
        log.error("clamd could not scan an upload: %s", reply[:300])
        if not self.fail_open:
            raise ScannerUnavailable()
        log.warning("CLAMD_FAIL_OPEN: the upload is accepted unscanned")
