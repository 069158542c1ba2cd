"""Process identity and whole-tree termination (so a cancel leaves no orphans)."""

from __future__ import annotations

import os
import signal

import psutil


def identity(pid: int) -> dict[str, float | int]:
    """pid + create time: enough to tell our runner from a later process reusing the pid."""
    return {"pid": pid, "create_time": psutil.Process(pid).create_time()}


def is_same_process(pid: int | None, create_time: float | None) -> bool:
    if not pid:
        return False
    try:
        proc = psutil.Process(int(pid))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        # Start times come from the kernel in clock ticks since boot (10 ms), so the same
        # process always reads the same; a pid reused even a few ticks later does not match.
        return create_time is None or abs(proc.create_time() - float(create_time)) < 0.05
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def kill_tree(pid: int, grace: float = 3.0) -> None:
    """SIGTERM the runner's process group and every descendant, SIGKILL what is left.

    Descendants are collected first so that processes that left the group (setsid, daemonised
    children) are still found.
    """
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _gone, alive = psutil.wait_procs(procs, timeout=grace)
    if alive:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)
