"""The contract's file backend: one JSON file per message under ``$PORTAL_DATA_DIR/outbox/``."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from notifications.backends import Envelope, TransientSendError


def file_name(envelope: Envelope) -> str:
    # Deterministic per message: a second send of one row (after a worker died between writing
    # and recording it) replaces the file instead of adding a second one. The id keeps `ls` in
    # the order messages were written.
    return f"{envelope.message_id:010d}-{envelope.channel}-{envelope.key}.json"


class FileBackend:
    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def send(self, envelope: Envelope) -> str:
        payload = {
            "channel": envelope.channel,
            "to": envelope.to,
            "subject": envelope.subject,
            "body": envelope.body,
            "reference": envelope.reference,
        }
        data = json.dumps(payload, ensure_ascii=False, indent=2).encode() + b"\n"
        name = file_name(envelope)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Written beside, flushed, then renamed: a reader sees no file or the whole file.
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            try:
                os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide it from a person reading the outbox
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.directory / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:  # a full or unmounted disk may come back
            raise TransientSendError(f"outbox directory not writable: {exc.strerror}") from exc
        return name
