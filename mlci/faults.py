"""Named points where a step of a multi-step write is complete: the seams crash tests cut at.

`checkpoint("tags-created")` does nothing unless `MLCI_TEST_KILL_AT` names that point, in
which case the process SIGKILLs itself there: no cleanup, no `finally`, exactly what a
cancelled CI job or an OOM kill does. Tests use it to prove that a retry after an
interruption at any boundary completes or rolls back.
"""

from __future__ import annotations

import os
import signal

KILL_AT = "MLCI_TEST_KILL_AT"


def checkpoint(point: str) -> None:
    if os.environ.get(KILL_AT) == point:
        os.kill(os.getpid(), signal.SIGKILL)
