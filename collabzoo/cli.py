"""The ``collabzoo`` command: ``collabzoo envs | train | eval | plot``.

Each subcommand is a pair of functions, ``_add_<name>(subparsers)`` and ``_run_<name>(args)``;
heavy imports (torch, transformers) happen inside ``_run_*`` so that ``collabzoo envs``
stays fast and works without the ``train`` extra.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _add_envs(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("envs", help="list the registered environments")
    p.set_defaults(run=_run_envs)


def _run_envs(args: argparse.Namespace) -> int:
    from collabzoo.envs import list_envs

    infos = list_envs()
    width = max(len(i.id) for i in infos)
    agents = [", ".join(i.agents) or "?" for i in infos]
    awidth = max(len(a) for a in agents)
    print(f"{'id':<{width}}  {'agents':<{awidth}}  description")
    for info, names in zip(infos, agents, strict=True):
        print(f"{info.id:<{width}}  {names:<{awidth}}  {info.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="collabzoo",
        description="LLM collaboration environments and the MAGRPO trainer.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_envs(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
