"""``durable-exec resume`` runs started from the console, each in its own process.

Resuming imports and runs the handler the store names. Doing that in a
child process keeps user code out of the console (a crash, a hang, a
``print`` or a ``sys.exit`` cannot take the console down), and the child is
an ordinary ``durable-exec resume``: it holds the execution's driver lease,
so a second resume of the same execution (from the console or a terminal) is
told who runs it, and an interrupted one is retried by the next.

Each job keeps the tail of its output (the command's report, the handler's
prints and logs) and its exit code, for the page to show.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Final

from durable_exec._cli._errors import CliError
from durable_exec._clock import SYSTEM_CLOCK

__all__ = ["OUTPUT_LIMIT", "Job", "Jobs"]

OUTPUT_LIMIT: Final = 64 * 1024
"""The output kept per job (its last characters)."""
_OUTCOMES: Final = {
    0: "succeeded",
    1: "failed",
    2: "error",
    3: "waiting",
    130: "interrupted",
    143: "terminated",
}


@dataclasses.dataclass(slots=True)
class Job:
    """One ``durable-exec resume`` started from the console.

    Attributes:
        id: The job's number in this console session.
        arn: The execution resumed.
        name: Its name.
        started: When it started, epoch seconds.
        process: The child process.
        output: The tail of what it printed (stdout and stderr).
        exit_code: Its exit code once it ended.
        ended: When it ended.
    """

    id: int
    arn: str
    name: str
    started: float
    process: subprocess.Popen[bytes]
    output: str = ""
    exit_code: int | None = None
    ended: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the job as the page shows it."""
        return {
            "id": self.id,
            "arn": self.arn,
            "name": self.name,
            "started": self.started,
            "ended": self.ended,
            "running": self.exit_code is None,
            "exit_code": self.exit_code,
            "outcome": None if self.exit_code is None else _OUTCOMES.get(self.exit_code, "error"),
            "output": self.output,
        }


class Jobs:
    """The resume processes of one console session.

    Args:
        store: The store file the children use (``--store``).
        cwd: Their working directory.
    """

    def __init__(self, store: Path, cwd: Path | None = None) -> None:
        self._store = store
        self._cwd = cwd or Path.cwd()
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._threads: list[threading.Thread] = []
        self._ids = itertools.count(1)
        self._closed = False

    def resume(self, arn: str, name: str) -> Job:
        """Start ``durable-exec resume ARN`` in a child process.

        Raises:
            CliError: A resume of this execution started here still runs (``busy``),
                or the console is shutting down.
        """
        with self._lock:
            if self._closed:
                raise CliError("the console is shutting down", kind="busy")
            for job in self._jobs.values():
                if job.arn == arn and job.exit_code is None:
                    raise CliError(
                        f"execution {name} is already being resumed (job {job.id})",
                        kind="busy",
                    )
            env = dict(os.environ)
            env["PYTHONIOENCODING"] = "utf-8"
            env.pop("DURABLE_EXEC_STORE", None)
            command = [
                sys.executable,
                "-m",
                "durable_exec",
                "resume",
                arn,
                "--store",
                os.fspath(self._store),
            ]
            process = subprocess.Popen(  # noqa: S603 - our own entry point, no shell
                command,
                cwd=self._cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            job = Job(next(self._ids), arn, name, SYSTEM_CLOCK.now(), process)
            self._jobs[job.id] = job
            thread = threading.Thread(
                target=self._follow, args=(job,), name=f"durable-exec-ui-job-{job.id}"
            )
            self._threads.append(thread)
            thread.start()
        return job

    def _follow(self, job: Job) -> None:
        """Collect the child's output until it exits (runs on the job's own thread)."""
        stream = job.process.stdout
        assert stream is not None
        decoder_buffer = bytearray()
        descriptor = stream.fileno()
        for chunk in iter(lambda: os.read(descriptor, 4096), b""):
            decoder_buffer += chunk
            if len(decoder_buffer) > 2 * OUTPUT_LIMIT:
                del decoder_buffer[: len(decoder_buffer) - OUTPUT_LIMIT]
            text = decoder_buffer.decode("utf-8", "replace")[-OUTPUT_LIMIT:]
            with self._lock:
                job.output = text
        stream.close()
        code = job.process.wait()
        with self._lock:
            job.exit_code = code
            job.ended = SYSTEM_CLOCK.now()

    def wait(self, job_id: int, timeout: float | None = None) -> bool:
        """Wait for a job to end; return whether it did within ``timeout`` seconds."""
        with self._lock:
            thread = self._threads[job_id - 1] if 0 < job_id <= len(self._threads) else None
        if thread is None:
            return False
        thread.join(timeout)
        return not thread.is_alive()

    def of(self, arn: str) -> list[dict[str, Any]]:
        """Return the jobs of ``arn``, newest first."""
        with self._lock:
            return [job.to_json() for job in reversed(self._jobs.values()) if job.arn == arn]

    def get(self, job_id: int) -> dict[str, Any] | None:
        """Return one job, or ``None``."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.to_json()

    def running(self) -> int:
        """Return how many jobs still run."""
        with self._lock:
            return sum(1 for job in self._jobs.values() if job.exit_code is None)

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; ask running ones to stop (SIGTERM) and wait for them.

        A resume that is stopped ends its invocation as interrupted, so the
        next ``resume`` retries it; one that does not stop within ``timeout``
        is killed (the next ``resume`` recovers that too).
        """
        with self._lock:
            self._closed = True
            running = [job for job in self._jobs.values() if job.exit_code is None]
            threads = list(self._threads)
        for job in running:
            if job.process.poll() is None:
                job.process.terminate()
        for job in running:
            try:
                job.process.wait(timeout)
            except subprocess.TimeoutExpired:
                job.process.kill()
                job.process.wait()
        for thread in threads:
            thread.join()
