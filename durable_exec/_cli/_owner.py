"""Who is running an execution, and whether that process is still alive.

``run`` and ``resume`` record an *owner* string for the execution tree they
drive (and for each invocation they start). Another process that finds an
owner asks :func:`owner_alive`: a live owner means "someone is running it, do
not interfere"; a dead one means the run crashed (Ctrl-C, ``kill -9``, a power
cut) and its invocation must be ended as failed so that the execution can go
on, as Lambda retries an invocation whose runtime died.

An owner is ``HOST:PID:STARTED``: ``STARTED`` is the process's start time as
the kernel counts it (Linux: ``/proc/PID/stat`` field 22, plus the boot id),
so a reused PID is told apart from the original process. Elsewhere it is
empty and only the PID is checked.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Final

__all__ = ["current_owner", "describe_owner", "owner_alive"]

_PROC: Final = Path("/proc")


def _start_marker(pid: int) -> str:
    """Return a marker of when process ``pid`` started (empty if it cannot be read)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
        boot = (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""
    # The command name (field 2) is in parentheses and may hold spaces.
    fields = stat.rsplit(")", 1)[-1].split()
    if len(fields) < 20:
        return ""
    return f"{boot[:8]}-{fields[19]}"


def _hostname() -> str:
    import socket  # only commands that drive or inspect owners need it

    return socket.gethostname()


@functools.cache
def current_owner() -> str:
    """Return this process's owner string (``HOST:PID:STARTED``)."""
    pid = os.getpid()
    return f"{_hostname()}:{pid}:{_start_marker(pid)}"


def _parse(owner: str) -> tuple[str, int, str] | None:
    host, _, rest = owner.rpartition(":")
    host, _, pid_text = host.rpartition(":")
    if not host or not pid_text.isdigit():
        return None
    return host, int(pid_text), rest


def owner_alive(owner: str) -> bool | None:
    """Return whether the process ``owner`` names still runs.

    Returns:
        True or False for a process of this machine; None when it cannot be
        told (another host, or an owner string this version does not read).
    """
    parsed = _parse(owner)
    if parsed is None:
        return None
    host, pid, marker = parsed
    if host != _hostname():
        return None
    if owner == current_owner():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user
    except OSError:
        return None
    if marker:
        return _start_marker(pid) == marker
    return True


def describe_owner(owner: str) -> str:
    """Return ``process 1234 on HOST`` for an owner string."""
    parsed = _parse(owner)
    if parsed is None:
        return repr(owner)
    host, pid, _ = parsed
    return f"process {pid} on {host}"
