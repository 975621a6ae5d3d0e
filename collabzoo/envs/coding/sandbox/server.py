"""The sandbox server: runs in its own ``python -I -S`` process, started by the pool.

Run as a script (``python -I -S server.py --serve CONFIG_JSON``) by
:class:`~collabzoo.envs.coding.sandbox.pool.SandboxPool`: **standard library only**, nothing
but definitions at import time, and no import of collabzoo (the isolated interpreter could
not find it). It reads jobs (a program and its tests) as length-prefixed JSON on stdin and
writes one answer per job on stdout; :mod:`collabzoo.envs.coding.sandbox` says what it
guarantees and how the verdict channel works. The pool imports this module only for its
path and :data:`CLEAN_PATH`.
"""

from __future__ import annotations

import builtins
import gc
import json
import math
import os
import select
import shutil
import signal
import struct
import sys
import time
import types
from collections.abc import Iterable
from typing import Any

#: Modules loaded in the server before it forks, so that a candidate importing them pays
#: nothing (they are what HumanEval-style code imports).
_PRELOAD = (
    "math", "re", "string", "collections", "itertools", "functools", "heapq", "bisect",
    "random", "hashlib", "typing", "copy", "fractions", "decimal", "statistics", "operator",
    "datetime", "json", "ast", "textwrap", "builtins",
)
#: ``PATH`` of the server and of every candidate.
CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"
_RECORD = struct.Struct(">cII")  # tag, test index, payload length
_MAX_RECORDS_BYTES = 1 << 20


def _serve(config: dict) -> None:  # pragma: no cover - runs in the server process
    import importlib

    for name in _PRELOAD:
        importlib.import_module(name)
    clean_builtins = dict(builtins.__dict__)
    gc.freeze()  # the server's objects stay put: forks copy fewer pages
    limits = types.SimpleNamespace(**config["limits"])  # SandboxLimits' fields
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
        compiled: list[tuple[Any, Any, str]] = []  # (setup code, test code, source)
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
        os.environ.update(PATH=CLEAN_PATH, HOME=workdir, TMPDIR=workdir, LANG="C.UTF-8")
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

    def run_test(index, nonce):
        """Test ``index`` in a fresh copy of the program's namespace with pristine builtins;
        the nonce goes back only if it completed. True when it passed. (The one place a test
        runs, whether in this process or in a forked test process.)"""
        stage, test_namespace, source = "setup", None, ""
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
            return True
        except base_exc as error:
            try:
                flush_output()
                report(error, stage, source, test_namespace, index)
            except base_exc:
                pass
            return False

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
            status = 0 if run_test(index, nonce) else 256  # a wait status: exit code 1
        else:
            pid = fork()
            if pid == 0:  # the test process
                try:
                    close(4)
                    dup2(out, 1)
                    dup2(out, 2)
                    close(out)
                    exit_(0 if run_test(index, nonce) else 1)
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


def _limit_resources(limits, timeout: float) -> None:  # pragma: no cover
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
        raise SystemExit("usage: python -I -S server.py --serve CONFIG_JSON (started by SandboxPool)")
    _serve(json.loads(argv[1]))


if __name__ == "__main__":  # pragma: no cover
    _main(sys.argv[1:])
