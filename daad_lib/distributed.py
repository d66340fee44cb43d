"""Data-parallel training with ``torch.distributed``, launched by torchrun.

    torchrun --nproc_per_node 4 -m daad_lib.cli train --dataset mvtec --category bottle ...

torchrun starts one process per GPU (or per CPU share) and sets ``RANK``, ``WORLD_SIZE``
and ``LOCAL_RANK``; :func:`setup` joins them into one process group (NCCL on GPUs, gloo
on CPUs). Training then wraps the generator and the discriminator each in
:class:`~torch.nn.parallel.DistributedDataParallel`: every rank computes the gradient of
its share of each batch and DDP averages the gradients, so all ranks take the same step.

BatchNorm under DDP: each rank normalises with the statistics of its own share of the
batch (or, with SyncBatchNorm, GPU only, of the whole batch). DDP's default re-broadcasts
the BN running statistics from rank 0 before every forward pass; we turn that off. It
keeps only rank 0's statistics, and it writes them in place between the discriminator's
two forward passes (real, then reconstructed) and their one backward: on GPUs, where the
cuDNN BatchNorm backward keeps the running statistics, that raises "modified by an inplace
operation" (pytorch/pytorch#22095, #175024; on the CPU it happened to pass in our check).
Instead :func:`average_buffers` averages the running statistics over the ranks once per
epoch, before the checkpoint is written, so every rank holds the same model and the
statistics reflect all the data.

>>> world()                      # outside torchrun
World(rank=0, size=1)
"""
from __future__ import annotations

import inspect
import os
from typing import NamedTuple

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


class World(NamedTuple):
    rank: int
    size: int

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes checkpoints, logs and the progress bar."""
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def world() -> World:
    """This process's rank and the number of processes (0 and 1 without a process group)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World(0, 1)


def rank_device(device: str = "auto") -> torch.device:
    """This rank's device: GPU ``LOCAL_RANK`` for ``"auto"`` (when CUDA is available) or
    ``"cuda"``, else the CPU."""
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", local_rank)
    if device in ("auto", "cpu") or device.startswith("cuda:"):
        return torch.device(device if device != "auto" else "cpu")
    raise ValueError(f"distributed training runs on CUDA GPUs (nccl) or CPUs (gloo), not {device!r}")


def setup(device: str = "auto") -> torch.device:
    """Join the process group torchrun prepared (NCCL on GPUs, gloo on CPUs); returns this
    rank's device. Without torchrun's environment, a clear error says how to launch."""
    if not launched_by_torchrun():
        raise ValueError("distributed training needs torchrun's environment (RANK, WORLD_SIZE, "
                           "LOCAL_RANK): launch with  torchrun --nproc_per_node N -m daad_lib.cli train ...")
    rank_dev = rank_device(device)
    if rank_dev.type == "cuda":
        torch.cuda.set_device(rank_dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if rank_dev.type == "cuda" else "gloo")
    return rank_dev


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` in DistributedDataParallel (no buffer broadcast per forward pass, see the
    module docstring), with its parameters and buffers copied from rank 0; unchanged
    outside a process group."""
    if world().size == 1:
        return module
    no_forward_sync = ({"forward_sync_buffers": False}
                       if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                       else {"broadcast_buffers": False})
    wrapped = DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None,
                                      **no_forward_sync)
    for buffer in module.buffers():  # identical start, whatever the DDP version does at init
        dist.broadcast(buffer, src=0)
    return wrapped


def use_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """BatchNorm over the whole global batch (all ranks); torch implements it for GPUs only."""
    if device.type != "cuda":
        raise ValueError("SyncBatchNorm needs CUDA GPUs (torch has no CPU kernel for it); "
                         "train without --sync-batchnorm on the CPU")
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


@torch.no_grad()
def average_buffers(module: nn.Module) -> None:
    """Average the floating-point buffers (BN running statistics) over the ranks, in place."""
    size = world().size
    if size == 1:
        return
    for buffer in module.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer /= size


def mean_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """The mean of a tensor over the ranks (a copy; the tensor itself outside a group)."""
    size = world().size
    if size == 1:
        return values
    total = values.clone()
    dist.all_reduce(total)
    return total / size


def barrier() -> None:
    if world().size > 1:
        dist.barrier()
