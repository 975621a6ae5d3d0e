"""An :class:`~collabzoo.agents.Agent` that asks any OpenAI-compatible HTTP server.

vLLM (``vllm serve``), the llama.cpp server (``python -m llama_cpp.server`` or
``llama-server``), hosted APIs: anything that serves ``POST {base_url}/chat/completions``
(or ``/completions``). Standard library only (``urllib`` and threads): no extra dependency.

- Batching: the prompts of one ``act`` call (and their ``n`` samples) go as concurrent
  requests, at most ``max_concurrency`` in flight at once for this agent.
- Retries: HTTP 429 and 5xx, refused or reset connections and timeouts are retried up to
  ``max_retries`` times with exponential backoff and jitter (a server's ``Retry-After``
  is honoured, up to ``max_backoff``). Other 4xx answers fail at once.
- Timeouts: ``timeout`` seconds for each request (connect and read).
- Errors: :class:`OpenAICompatibleError` names the URL, model, status and the server's own
  message.
- API key: read from the environment variable ``api_key_env`` (default
  ``OPENAI_API_KEY``); sent only as the ``Authorization`` header; never in a log message,
  an error or ``repr``. No variable set: no header (local servers need none).

>>> agent = OpenAICompatibleAgent("http://127.0.0.1:8000/v1", "smollm2")
>>> agent
OpenAICompatibleAgent(base_url='http://127.0.0.1:8000/v1', model='smollm2', endpoint='chat')
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["OpenAICompatibleAgent", "OpenAICompatibleError"]

logger = logging.getLogger(__name__)

_RETRY_STATUS = {408, 409, 425, 429}  # plus every 5xx


class OpenAICompatibleError(RuntimeError):
    """A request to an OpenAI-compatible server failed (after retries, where they apply)."""


class OpenAICompatibleAgent:
    """Answers observations with an OpenAI-compatible server.

    Args:
        base_url: The API root, e.g. ``"http://127.0.0.1:8000/v1"`` (the endpoint path is
            appended to it).
        model: The ``model`` field of each request.
        endpoint: ``"chat"`` (``/chat/completions``, the observation as one user message)
            or ``"completions"`` (``/completions``, the observation as the raw prompt).
        system_prompt: An optional system message (``"chat"`` only).
        max_tokens: Most tokens per answer.
        temperature: Sampling temperature (0: greedy).
        top_p: Nucleus sampling mass.
        stop: Stop strings.
        seed: Sent as ``seed`` (sample ``j`` gets ``seed + j``) and seeds the retry jitter.
        api_key_env: Name of the environment variable holding the API key.
        max_concurrency: Most requests in flight at once for this agent.
        timeout: Seconds for each request.
        max_retries: Retries after the first attempt on 429, 5xx, connection errors and
            timeouts.
        backoff: First retry delay in seconds; doubles with each retry.
        max_backoff: Longest delay between two attempts, in seconds.
        extra_body: More JSON fields for every request (e.g. ``{"top_k": 20}`` for vLLM).
        label: The name evaluation records show (default ``openai:<base_url>#<model>``).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        endpoint: str = "chat",
        system_prompt: str | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: list[str] | None = None,
        seed: int | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        extra_body: dict[str, Any] | None = None,
        label: str | None = None,
    ) -> None:
        if endpoint not in ("chat", "completions"):
            raise ValueError(f"endpoint must be 'chat' or 'completions', got {endpoint!r}")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must start with http:// or https://, got {base_url!r} "
                "(e.g. http://127.0.0.1:8000/v1)"
            )
        if max_concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise ValueError("need max_concurrency >= 1, max_retries >= 0 and timeout > 0")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.endpoint = endpoint
        self.system_prompt = system_prompt
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.stop = list(stop or [])
        self.seed = seed
        self.api_key_env = api_key_env
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.extra_body = dict(extra_body or {})
        self.label = label or f"openai:{self.base_url}#{model}"
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._jitter = random.Random(seed)
        self._jitter_lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the key
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r}, "
            f"endpoint={self.endpoint!r})"
        )

    @property
    def url(self) -> str:
        path = "/chat/completions" if self.endpoint == "chat" else "/completions"
        return self.base_url + path

    # ------------------------------------------------------------------ Agent
    def act(self, observations: list[str], n: int = 1) -> list[list[str]]:
        """``n`` answers for each observation, requested concurrently.

        Raises:
            OpenAICompatibleError: A request failed for good (the first such error).
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        jobs = [(i, j) for i in range(len(observations)) for j in range(n)]
        if not jobs:
            return []
        workers = min(len(jobs), self.max_concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai-agent") as pool:
            futures = [pool.submit(self.complete, observations[i], j) for i, j in jobs]
            texts = [f.result() for f in futures]
        result: list[list[str]] = [[] for _ in observations]
        for (i, _), text in zip(jobs, texts, strict=True):
            result[i].append(text)
        return result

    # ------------------------------------------------------------------ one request
    def request_body(self, prompt: str, sample: int = 0) -> dict[str, Any]:
        """The JSON body sent for ``prompt`` (sample index ``sample``)."""
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
        }
        if self.endpoint == "chat":
            messages = (
                [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
            )
            body["messages"] = [*messages, {"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        if self.stop:
            body["stop"] = self.stop
        if self.seed is not None:
            body["seed"] = self.seed + sample
        body.update(self.extra_body)
        return body

    def complete(self, prompt: str, sample: int = 0) -> str:
        """One answer to ``prompt``, with retries. Thread-safe."""
        data = json.dumps(self.request_body(prompt, sample)).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        last_error = ""
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                with self._slots:
                    request = urllib.request.Request(
                        self.url, data=data, headers=headers, method="POST"
                    )
                    with urllib.request.urlopen(request, timeout=self.timeout) as response:
                        payload = response.read()
                return self._parse(payload)
            except urllib.error.HTTPError as error:
                message = _server_message(error)
                if error.code not in _RETRY_STATUS and error.code < 500:
                    hint = ""
                    if error.code in (401, 403):
                        hint = (
                            f" Check the API key in the environment variable {self.api_key_env}"
                            f" ({'set' if key else 'not set'})."
                        )
                    raise OpenAICompatibleError(
                        f"{self.url} (model {self.model!r}) answered HTTP {error.code}: {message}.{hint}"
                    ) from None
                last_error = f"HTTP {error.code}: {message}"
                retry_after = _retry_after(error)
            except TimeoutError as error:
                last_error = f"no answer within {self.timeout:g} s ({type(error).__name__})"
            except urllib.error.URLError as error:
                reason = error.reason
                if isinstance(reason, TimeoutError):
                    last_error = f"no answer within {self.timeout:g} s"
                else:
                    last_error = f"cannot connect: {reason}"
            except (ConnectionError, http.client.HTTPException) as error:
                last_error = f"connection failed: {type(error).__name__}: {error}"
            if attempt == self.max_retries:
                break
            delay = self._delay(attempt, retry_after)
            logger.warning(
                "%s: %s; retry %d/%d in %.2f s",
                self.url,
                last_error,
                attempt + 1,
                self.max_retries,
                delay,
            )
            time.sleep(delay)
        raise OpenAICompatibleError(
            f"{self.url} (model {self.model!r}) failed after {self.max_retries + 1} attempts; "
            f"last error: {last_error}"
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_backoff)
        with self._jitter_lock:
            jitter = 0.5 + 0.5 * self._jitter.random()
        return min(self.backoff * 2**attempt, self.max_backoff) * jitter

    def _parse(self, payload: bytes) -> str:
        try:
            reply = json.loads(payload)
            choice = reply["choices"][0]
            if self.endpoint == "chat":
                text = choice["message"]["content"]
            else:
                text = choice["text"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise OpenAICompatibleError(
                f"{self.url} (model {self.model!r}) sent an answer without "
                f"{'choices[0].message.content' if self.endpoint == 'chat' else 'choices[0].text'}"
                f" ({type(error).__name__}): {payload[:200]!r}"
            ) from None
        return text if isinstance(text, str) else ""


def _server_message(error: urllib.error.HTTPError) -> str:
    try:
        raw = error.read()
    except Exception:
        raw = b""
    try:
        body = json.loads(raw)
        detail = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(detail, dict):
            detail = detail.get("message", detail)
        text = str(detail)
    except ValueError:
        text = raw.decode("utf-8", "replace")
    return (text.strip() or error.reason or "no message")[:500]


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    value = error.headers.get("Retry-After") if error.headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
