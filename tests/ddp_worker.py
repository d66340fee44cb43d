"""Run by tests/test_distributed.py under torchrun: ``daad train`` for one epoch, then
``--resume`` to two, in one process group; each rank then saves its final weights to
``<ranks dir>/rank<R>.pt`` so that the test can compare them.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_worker.py RANKS_DIR train ...
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch


def run(ranks_dir: str, argv: list[str]) -> int:
    from daad_lib import cli, distributed
    from daad_lib import run as pipeline

    distributed.setup("cpu")
    trained = {}
    real_train = pipeline.train_new

    def train_and_keep(*args, **kwargs):
        detector, history = real_train(*args, **kwargs)
        trained["state"] = detector.state_dict()
        return detector, history

    pipeline.train_new = train_and_keep
    codes = [cli.main([*argv, "--epochs", "1"]), cli.main([*argv, "--epochs", "2", "--resume"])]
    torch.save(trained["state"], Path(ranks_dir) / f"rank{distributed.world().rank}.pt")
    distributed.cleanup()
    return max(codes)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], sys.argv[2:]))
