"""Data parallel for the training loop: the process group and the two collectives it needs
(gathering Python objects, averaging gradients)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["Distributed", "group_initialized"]


def group_initialized() -> bool:
    """True inside a torch.distributed process group."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


class Distributed:
    """The process group under ``accelerate launch`` / ``torchrun`` / ``mpirun`` (or none: one
    process).

    When a launcher announced several processes, accelerate's ``PartialState`` reads it
    (torchrun's ``RANK``/``WORLD_SIZE``, or MPI's ``PMI_*``/``OMPI_COMM_WORLD_*`` under
    ``accelerate launch --cpu --num_processes N --mpirun_hostfile F``) and joins the group:
    NCCL with one GPU per process, gloo on CPU (also without ``--cpu`` when no GPU is
    present). Rank and world size are then read from ``torch.distributed`` itself, so a
    ``PartialState`` that user code created earlier with other arguments cannot make each
    process train alone; a launched process that ends up without a group is an error. A
    single process creates no accelerate state. Gradients are averaged by hand (one flat
    all-reduce per agent), so any Policy works without wrapping its model in
    DistributedDataParallel."""

    def __init__(self) -> None:
        from accelerate.utils import get_int_from_env, parse_flag_from_env

        # the process count a launcher announced (the variables PartialState reads)
        launched = get_int_from_env(
            ["WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"], 1)
        if launched > 1 and not group_initialized():
            from accelerate import PartialState

            cpu = parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available()
            PartialState(cpu=cpu)
        if group_initialized():
            self.world = torch.distributed.get_world_size()
            self.rank = torch.distributed.get_rank()
        else:
            self.world, self.rank = 1, 0
        if launched > 1 and self.world != launched:
            raise RuntimeError(
                f"the launcher started {launched} processes but this one joined a group of "
                f"{self.world}: each would train alone. Launch with `accelerate launch` "
                "(--multi_gpu, or --cpu with --mpirun_hostfile) or torchrun; under a bare "
                "mpirun on CPUs set ACCELERATE_USE_CPU=1"
            )

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            torch.distributed.barrier()

    def gather_objects(self, value: Any) -> list[Any]:
        if self.world == 1:
            return [value]
        out: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(out, value)
        return out

    def mean_gradients(self, params: Sequence[torch.nn.Parameter]) -> None:
        if self.world == 1 or not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.distributed.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p, g in zip(params, grads, strict=True):
            p.grad = flat[offset:offset + g.numel()].view_as(g).clone()
            offset += g.numel()
