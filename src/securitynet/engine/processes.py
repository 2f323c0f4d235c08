"""Whether a run's driver process still exists, and marking the runs whose driver is gone.

Kept free of torch so that read-only commands (`securitynet runs list`) can close abandoned runs
without importing the engine's machinery.
"""

from __future__ import annotations

import os
import platform
from typing import Any


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def driver_gone(host: str | None, pid: int | None) -> bool:
    """Whether a run's driver ran on this machine and its process no longer exists."""
    return host == platform.node() and pid is not None and not process_alive(int(pid))


def mark_interrupted_runs(store: Any) -> list[str]:
    """Mark "interrupted" the runs of this host still "running" whose driver process is gone; their ids."""
    return store.close_abandoned_runs(platform.node(), process_alive)
