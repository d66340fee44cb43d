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
    """Every (variant, seed, options) needed by Tables 3, 4, 5 and Fig. 6, cheapest evidence first:
    Table 3 over all seeds (which also gives Fig. 6), then Table 4's rates, then Table 5's
    adversarial variants, and last the r = 1 memory (over 100 M parameters at 128 px)."""
    seeds = PROTOCOLS[protocol]["seeds"]
    size = PROTOCOLS[protocol]["image_size"]
    table3 = [dict(variant=v, seed=s) for s in seeds for v in PAPER_BOTTLE]
    rates = [r for r in (4, 2, 16, 1) if r != 8 and (size // 16) % r == 0]
    table4 = [dict(variant="daad", seed=seeds[0], tag=f"r{r}", rates=(r, r, 1)) for r in rates]
    table5 = [dict(variant="ae", seed=seeds[0], tag="adv", discriminator=True, adv_loss=True, lr=2e-4),
              dict(variant="ae", seed=seeds[0], tag="adv-ali", discriminator=True, adv_loss=True,
                   ali_loss=True, gamma=0.9, lr=2e-4),
              dict(variant="daad", seed=seeds[0], tag="adv", discriminator=True, adv_loss=True, lr=2e-4)]
    return table3 + table4[:-1] + table5 + table4[-1:]


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
