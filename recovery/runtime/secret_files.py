"""Secrets the sandbox generates for itself and keeps in a file (owner read/write only).

Processes starting together must agree on one secret: each writes its own draft and hard-links
it into place, which succeeds for exactly one of them; the others read the winner's file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("recovery.runtime")


def generated_secret(path: Path, make: Callable[[], bytes], what: str) -> bytes:
    """The secret in ``path``, made with ``make()`` and written there on first use."""
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f"{path.name}.{os.getpid()}.new")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as secret_file:
        secret_file.write(make())
    try:
        # A hard link appears whole or not at all, and fails if another process got there first.
        os.link(draft, path)
        log.info("generated the sandbox's %s", what, extra={"path": str(path)})
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_bytes().strip()
