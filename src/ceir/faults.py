"""Fault injection for the crash-safety tests: kill the process at a named commit boundary."""

from __future__ import annotations

import os
import signal

# The process kills itself (as kill -9 would) when this variable names the boundary it reaches.
FAULT_VARIABLE = "CEIR_FAULT_AT"


def point(name: str) -> None:
    """A commit boundary called `name` (say `classify.after_store_commit`).

    Nothing happens unless CEIR_FAULT_AT names it: then the process dies at once, with no
    cleanup, no rollback and no flush, as it would on a power cut or kill -9.
    """
    if os.environ.get(FAULT_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
