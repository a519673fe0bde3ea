"""Processes of this machine, for code that runs before Django is set up (the settings) as well as after."""

import os


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs (one of another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
