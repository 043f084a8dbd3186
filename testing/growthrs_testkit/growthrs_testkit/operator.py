"""``growthrs run`` as a child process: the one launcher of the tests, benchmarks and demo.

The operator runs exactly as a user runs it, ``python -m growthrs_core.cli run``
with flags, its output going to a log file. Tests get fast settings by default
(:data:`TEST_FLAGS`); a caller passes ``defaults={}`` to run with only its own flags.

Also the end-to-end tests' helpers around it: :func:`start_operator` and
:func:`stop_all` (what the ``operators`` fixture does after a test), :func:`print_log_tail`,
and :func:`free_port` and :func:`scrape_metrics` for its ``/metrics`` endpoint.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, MutableSequence, Sequence
from pathlib import Path
from typing import IO, Any, TypeAlias

__all__ = [
    "TEST_FLAGS",
    "Metrics",
    "Operator",
    "OperatorExited",
    "free_port",
    "print_log_tail",
    "scrape_metrics",
    "start_operator",
    "stop_all",
]

TEST_FLAGS: Mapping[str, Any] = {
    "batch_idle": 0.3,
    "batch_max": 2,
    "tick_interval": 0.5,
    "resync_interval": 3,
    "metrics_port": 0,
    "scale_down_new_node_grace": 0,
    "offering_backoff": 60,
    "log_level": "DEBUG",
    "cluster_name": "growthrs-e2e",
}
"""Settings that keep end-to-end tests fast: short batches, frequent resyncs, no grace."""

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class OperatorExited(RuntimeError):
    """The operator exited while it was expected to run."""


class Operator:
    """``growthrs run --kubeconfig KUBECONFIG`` with ``defaults`` and then ``flags``.

    ``flags`` are settings by field name (``batch_idle=1`` → ``--batch-idle 1``;
    ``True``/``False`` → ``--x``/``--no-x``); ``env`` is added to this process's
    environment. The log goes to ``log_path``, or to a fresh file in ``log_dir``.

    ``die_with_parent``: the operator gets SIGTERM when this process dies, so it never
    outlives a benchmark (against a deleted cluster it would retry forever).
    ``new_session``: its own session, so Ctrl-C in a terminal reaches only the parent,
    which stops the operator in order. ``pid_path``: a file holding its pid while it runs.
    """

    def __init__(
        self,
        kubeconfig: str,
        log_dir: Path | None = None,
        *,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] = TEST_FLAGS,
        die_with_parent: bool = False,
        new_session: bool = False,
        pid_path: Path | None = None,
        **flags: Any,
    ) -> None:
        if log_path is None:
            if log_dir is None:
                raise TypeError("Operator needs log_dir or log_path")
            log_path = log_dir / f"operator-{int(time.time() * 1000)}.log"
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.extra_env = dict(env or {})
        self.env = {**os.environ, **self.extra_env}
        self.die_with_parent = die_with_parent
        self.new_session = new_session
        self.pid_path = pid_path
        self.args = [sys.executable, "-m", "growthrs_core.cli", "run", "--kubeconfig", kubeconfig]
        for key, value in {**defaults, **flags}.items():
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                self.args.append(flag if value else "--no-" + flag[2:])
            else:
                self.args += [flag, str(value)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.ended = "not started"
        """How the process ended, in words, once :meth:`stop` ran."""
        self._log: IO[bytes] | None = None

    @property
    def command(self) -> str:
        """The command line as a user would type it, with the added environment."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.extra_env.items())
        return (env + " " if env else "") + "growthrs " + shlex.join(self.args[3:])

    def start(self) -> Operator:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=self.new_session,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        if self.pid_path is not None:
            self.pid_path.write_text(f"{self.proc.pid}\n")
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Send ``sig`` (SIGKILL after ``timeout`` s); return the exit code (None if
        never started). :attr:`ended` says how it went."""
        if self.proc is None:
            return None
        try:
            if self.proc.poll() is not None:
                self.ended = f"had exited with code {self.proc.returncode}"
            else:
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout)
                    self.ended = f"stopped (exit code {self.proc.returncode})"
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
                    self.ended = (
                        f"killed after {timeout:.0f}s without exiting on {signal.Signals(sig).name}"
                    )
        finally:
            if self._log is not None:
                self._log.close()
            if self.pid_path is not None:
                self.pid_path.unlink(missing_ok=True)
        return int(self.proc.returncode)

    def log(self) -> str:
        """Everything the operator wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int) -> list[str]:
        """The last ``lines`` non-blank lines of the log."""
        return [line for line in self.log().splitlines() if line.strip()][-lines:]

    def exit_summary(self) -> str | None:
        """``None`` while it runs (or before it starts); otherwise the exit code and
        the last ``error:`` line (or last line) of its log."""
        if self.proc is None or self.proc.poll() is None:
            return None
        tail = self.tail(20)
        errors = [line for line in tail if line.startswith("error:")]
        last = (errors or tail or ["no output"])[-1].strip()
        return f"exited with code {self.proc.returncode}: {last}"

    def wait_for_log(self, text: str, timeout: float, interval: float = 0.2) -> str:
        """Wait until a log line contains ``text`` and return that line.

        Raises :class:`OperatorExited` if the operator exits first, and
        :class:`TimeoutError` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log().splitlines():
                if text in line:
                    return line
            summary = self.exit_summary()
            if summary is not None:
                raise OperatorExited(f"the operator {summary} (log: {self.log_path})")
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"the operator did not log {text!r} in {timeout:.0f}s (log: {self.log_path})"
                )
            time.sleep(interval)

    def __enter__(self) -> Operator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()


# -- for end-to-end tests ------------------------------------------------------------------


def start_operator(
    operators: MutableSequence[Operator], kubeconfig: str, log_dir: Path, **kwargs: Any
) -> Operator:
    """Start ``Operator(kubeconfig, log_dir, **kwargs)`` and add it to ``operators``
    (the ``operators`` fixture's list, which stops it after the test)."""
    op = Operator(kubeconfig, log_dir, **kwargs).start()
    operators.append(op)
    return op


def stop_all(operators: Sequence[Operator], tail: int = 60) -> None:
    """Stop the operators still running and print the last ``tail`` lines of each log
    (pytest shows them with a failing test)."""
    for op in operators:
        if op.alive():
            op.stop()
        print_log_tail(op, tail)


def print_log_tail(op: Operator, lines: int = 60) -> None:
    """Print the last ``lines`` lines of the operator's log under a header naming the file."""
    print(f"--- operator log {op.log_path} (tail) ---")
    print("\n".join(op.log().splitlines()[-lines:]))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for ``metrics_port``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Metrics: TypeAlias = dict[tuple[str, tuple[tuple[str, str], ...]], float]
"""Samples by (name, labels sorted by name)."""


def scrape_metrics(port: int, timeout: float = 10.0) -> Metrics:
    """``http://127.0.0.1:<port>/metrics`` as (name, sorted labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as resp:
        text = resp.read().decode()
    out: Metrics = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out
