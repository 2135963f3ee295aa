"""The local outbox: each email written as one ``.eml`` file (the channel when no SMTP host is
set, so ``make run`` offline shows what would have been sent; any mail client opens them).

A file is named from its Message-ID, and written to a temporary name then renamed, so a reader
never sees half a message and a re-send replaces the same file instead of adding a second.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from recovery.messaging.email_message import DEFAULT_MAIL_FROM, build_email
from recovery.messaging.notifier import OutgoingMessage

UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")
MAX_STEM = 150  # well under the 255 bytes most filesystems allow for a name


def eml_name(message_id: str) -> str:
    """A filesystem-safe file name for a Message-ID: its characters kept where safe, and a
    short digest of the id added when any had to be replaced (so two ids never share a file)."""
    bare = message_id.strip().removeprefix("<").removesuffix(">")
    safe = UNSAFE.sub("_", bare).lstrip(".")[:MAX_STEM] or "message"
    if safe != bare:
        safe += "-" + hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:12]
    return f"{safe}.eml"


class EmlOutboxChannel:
    def __init__(self, folder: Path, *, mail_from: str = DEFAULT_MAIL_FROM) -> None:
        self.folder = Path(folder)
        self.mail_from = mail_from

    def deliver(self, message: OutgoingMessage) -> None:
        email = build_email(message, mail_from=self.mail_from)
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / eml_name(str(email["Message-ID"]))
        # Same folder, so the rename is atomic; a crash leaves at most a stray ``.tmp`` file.
        descriptor, draft = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(email.as_bytes())
                file.flush()
                os.fsync(file.fileno())
            os.replace(draft, target)
        except BaseException:
            Path(draft).unlink(missing_ok=True)
            raise
