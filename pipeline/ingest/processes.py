"""Whether a process of this machine has ended: a pool's owner, a lease's daemon."""

from __future__ import annotations

import os
from pathlib import Path


def process_gone(pid: int) -> bool:
    """True when the process has ended; a zombie (dead, not yet reaped) counts as ended, and
    another user's live process as running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # the state follows the command name, which may itself hold ")"
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")
