"""Run every training the MVTec tables need (in parallel workers), then write the tables.

    python -m experiments.run_all --protocol cpu --workers 2

Each worker uses one CPU thread; finished runs are cached in results/<protocol>/runs/,
so the command can be stopped and started again.
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch

from .common import PROTOCOLS, run_once
from .table3 import PAPER_BOTTLE


def jobs(protocol: str) -> list[dict]:
    """Every (variant, seed, options) needed by Tables 3, 4, 5 and Fig. 6, seed 0 first."""
    seeds = PROTOCOLS[protocol]["seeds"]
    size = PROTOCOLS[protocol]["image_size"]
    first = [dict(variant=v, seed=seeds[0]) for v in PAPER_BOTTLE]
    first += [dict(variant="daad", seed=seeds[0], tag=f"r{r}", rates=(r, r, 1))
              for r in (1, 2, 4, 16) if r != 8 and (size // 16) % r == 0]
    first += [dict(variant="ae", seed=seeds[0], tag="adv", discriminator=True, adv_loss=True, lr=2e-4),
              dict(variant="daad", seed=seeds[0], tag="adv", discriminator=True, adv_loss=True, lr=2e-4),
              dict(variant="ae", seed=seeds[0], tag="adv-ali", discriminator=True, adv_loss=True,
                   ali_loss=True, gamma=0.9, lr=2e-4)]
    rest = [dict(variant=v, seed=s) for s in seeds[1:] for v in PAPER_BOTTLE]
    return first + rest


def work(protocol: str, data_dir, job: dict) -> str:
    torch.set_num_threads(1)
    return run_once(protocol, data_dir=data_dir, **job)["name"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="cpu")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(work, args.protocol, args.data_dir, job) for job in jobs(args.protocol)]
        for future in as_completed(futures):
            print("done:", future.result(), flush=True)
    from . import fig6, table3, table4, table5
    for table in (table3, table4, table5, fig6):
        sys.argv = [table.__name__, "--protocol", args.protocol]
        table.main()


if __name__ == "__main__":
    main()
