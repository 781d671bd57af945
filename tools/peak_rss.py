"""A child process's own peak memory, measured through a small launcher.

On Linux a child's ``ru_maxrss`` starts at its parent's RSS (the forked copy's high-water mark
is kept across exec), so a child of a large process (a test run holding every test module's
imports, a benchmark holding the ledger it built) would be charged for its parent. The
launcher, a small Python process, forks the command and writes that grandchild's own peak (KB)
on a descriptor; it exits as the command did (by the same signal, if one ended it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

LAUNCHER = """
import os, sys
fd = int(sys.argv[1])
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
os.write(fd, str(usage.ru_maxrss).encode())
if os.WIFSIGNALED(status):
    os.kill(os.getpid(), os.WTERMSIG(status))
os._exit(os.waitstatus_to_exitcode(status))
"""


class Measured:
    """``subprocess.Popen`` of ``argv`` (``argv[0]`` an absolute path) through the launcher;
    :meth:`peak_rss_kb` once it has ended."""

    def __init__(self, argv: list[str], **popen: Any) -> None:
        self._read, write = os.pipe()
        try:
            self.process: subprocess.Popen[bytes] = subprocess.Popen(  # noqa: S603 - argv of the caller
                [sys.executable, "-c", LAUNCHER, str(write), *argv], pass_fds=(write,), **popen
            )
        finally:
            os.close(write)

    def peak_rss_kb(self) -> int:
        """The command's own peak RSS in KB (0 if the launcher was killed first)."""
        with os.fdopen(self._read, "rb") as peak:
            return int(peak.read() or b"0")
