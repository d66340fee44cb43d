"""Training (Sec. 4.1): Adam, batch 8, horizontal + vertical flips, alternating G / D.

* flips: the paper's random horizontal + vertical flips for MVTec AD; ``flips=None`` (the
  default) asks the data (:func:`daad_lib.data.default_flips`), so digits (MNIST, the
  scikit-learn digits) and CIFAR-10 train without them, as Deep SVDD's one-class runs do;
* generator loss: λ_rec L_rec (+ λ_adv L_adv + λ_ali L_ali with a discriminator), Eq. 3;
* discriminator loss: real vs reconstructed (Eq. 5), one step after each G step;
* a checkpoint after every epoch; ``resume=True`` continues from it exactly
  (shuffling and flips are drawn from a generator seeded by (seed, epoch));
* a NaN / inf loss stops training with :class:`TrainingDiverged`; the checkpoint
  of the last finished epoch is left untouched;
* ``precision="bf16"`` runs the forward passes under bfloat16 autocast (CPU with
  AVX-512-BF16 / AMX, or CUDA); weights, optimiser state and losses stay float32.
  The default ``"auto"`` uses bf16 where the hardware computes it natively and fp32
  elsewhere: on MVTec bottle bf16 matched fp32's AUROC within the seed spread
  (``results/cpu2/precision_bottle.md``) and trains DAAD about 1.8x faster on our CPU;
* the training images are decoded once and kept in memory (``num_workers > 0``
  decodes them in worker processes every epoch instead, for data that does not fit);
* ``log.jsonl`` in the output folder gets one line per finished epoch; with
  ``eval_every = N`` it also holds the test metrics every N epochs (for watching a run,
  not for choosing an epoch: that would tune on the test set); ``tensorboard=True``
  writes the same numbers for TensorBoard (``pip install daad-book[tensorboard]``);
* under torchrun (an initialised process group, see :mod:`daad_lib.distributed`), G and D
  are each wrapped in DistributedDataParallel and every global batch of ``batch_size``
  images is split across the ranks: the same batches, flips and gradient as one process
  (up to BatchNorm, which sees each rank's share); only rank 0 writes.
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from . import distributed, losses, rundir
from .checkpoint import differences, load_checkpoint, restore_training, save_checkpoint, training_state
from .config import make_config
from .data import default_flips, input_spec
from .data.cache import InMemory, in_memory
from .device import PRECISIONS, autocast, resolve_precision, select_device
from .evaluate import metrics_from_scores, score_dataset
from .models import Detector

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"


def kept_checkpoint_name(epoch: int) -> str:
    """The copy of the checkpoint kept at a milestone epoch (``TrainConfig.keep_epochs``)."""
    return f"checkpoint_epoch{epoch:04d}.pt"


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite."""


@dataclass
class TrainConfig:
    """Training recipe; the defaults are the paper's (Sec. 4.1) except the epoch count."""

    epochs: int = 10
    batch_size: int = 8
    seed: int = 0
    flips: bool | None = None  # random h + v flips (Sec. 4.1); None: the data's default (daad_lib.data.default_flips)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0  # Adam's (coupled) L2 penalty on conv/linear weights (decayed_parameters); 0 in the paper
    lr_milestones: tuple[int, ...] = ()  # the learning rate is multiplied by 0.1 at each of these epochs
    precision: str = "auto"  # "fp32", "bf16" (autocast of the forward passes) or "auto"
    num_workers: int = 0  # 0: decode the data once into memory; > 0: DataLoader workers
    keep_epochs: tuple[int, ...] = ()  # also keep checkpoint_epochNNNN.pt after these epochs
    checkpoint_every: int = 1  # write the checkpoint every N epochs (and after the last and kept ones)
    deterministic: bool = False  # torch.use_deterministic_algorithms: bit-identical reruns, maybe slower
    eval_every: int = 0  # > 0: test metrics every N epochs into log.jsonl (monitoring only)
    tensorboard: bool = False  # also log to OUT/tensorboard (needs the [tensorboard] extra)
    sync_batchnorm: bool = False  # under torchrun on GPUs: BatchNorm statistics over all ranks

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be positive, got {self.epochs}, {self.batch_size}")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be a positive number of epochs, got {self.checkpoint_every}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be 0 (never) or a number of epochs, got {self.eval_every}")
        self.betas, self.keep_epochs = tuple(self.betas), tuple(int(e) for e in self.keep_epochs)
        self.lr_milestones = tuple(sorted(int(e) for e in self.lr_milestones))
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must not be negative, got {self.weight_decay}")


def draw_flips(num_images: int, generator: torch.Generator) -> torch.Tensor:
    """Which images to flip: (2, B, 1, 1, 1) bool, horizontal then vertical, each with probability 1/2."""
    return torch.rand(2, num_images, 1, 1, 1, generator=generator) < 0.5


def apply_flips(x: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Flip the images of x (B, C, H, W) chosen by ``flips`` (2, B, 1, 1, 1)."""
    flip_h, flip_v = flips.to(x.device)
    x = torch.where(flip_h, x.flip(-1), x)
    return torch.where(flip_v, x.flip(-2), x)


def random_flips(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image of (B, C, H, W) horizontally and/or vertically with probability 1/2."""
    return apply_flips(x, draw_flips(x.shape[0], generator))


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The random stream of one epoch: the same whether training was resumed or not."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


DECAYED_LAYERS = (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)


def decayed_parameters(module: torch.nn.Module) -> tuple[list, list]:
    """Split a module's parameters into (decayed, not decayed) for the L2 penalty.

    Only the weights of convolutions and linear layers are decayed: not biases, BatchNorm's
    scale and shift, or the memory items. This is Lasagne's "regularizable" rule, which Deep
    SVDD's DCAE recipe used (``results/dcae/recipe.md``), and the usual one (nanoGPT decays only
    its matrices).

    >>> conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    >>> [tuple(p.shape) for p in decayed_parameters(conv)[0]], len(decayed_parameters(conv)[1])
    ([(2, 1, 3, 3)], 3)
    """
    decayed = [m.weight for m in module.modules() if isinstance(m, DECAYED_LAYERS)]
    chosen = {id(p) for p in decayed}
    return decayed, [p for p in module.parameters() if id(p) not in chosen]


def weight_decay_for_summed_loss(decay: float, lambda_rec: float, values_per_image: int,
                                 error_scale: float = 1.0) -> float:
    """Adam's ``weight_decay`` here that matches a recipe's L2 penalty on a *summed* loss.

    Recipes such as Deep SVDD's DCAE minimise the batch mean of each image's **sum** of squared
    errors plus (decay / 2)·Σ W², so the penalty's gradient ``decay·W`` is weighed against the
    gradient of that sum. We minimise λ_rec times the **mean** over the image's V values, and our
    pixel values may span a wider range than the recipe's: with errors ``error_scale`` times
    theirs (2 for our [-1, 1] against its [0, 1]) our data gradient is λ_rec·error_scale² / V
    times the sum's. Adam ignores the gradient's overall scale, so the same balance between data
    and penalty needs ``decay · λ_rec · error_scale² / V``. Passing the recipe's ``decay``
    unchanged makes the penalty V / (λ_rec·error_scale²) times too strong (about 5x for MNIST at
    32 px in [-1, 1]).

    >>> round(weight_decay_for_summed_loss(1e-3, lambda_rec=50.0, values_per_image=32 * 32, error_scale=2), 9)
    0.000195313
    """
    if decay < 0 or lambda_rec <= 0 or values_per_image < 1 or error_scale <= 0:
        raise ValueError(f"need decay >= 0, lambda_rec > 0, values_per_image >= 1 and error_scale > 0, "
                         f"got {decay}, {lambda_rec}, {values_per_image}, {error_scale}")
    return decay * lambda_rec * error_scale ** 2 / values_per_image


def make_optimizers(detector: Detector, betas, weight_decay: float = 0.0
                    ) -> tuple[torch.optim.Adam, torch.optim.Adam | None]:
    """Adam for G (and D), lr from the model config; the fused kernel where torch has one.

    ``weight_decay`` > 0 decays only :func:`decayed_parameters` (a second parameter group);
    without it there is one group, as in checkpoints made before the split."""
    lr = detector.config.lr
    device = next(detector.parameters()).device
    fused = {"fused": True} if device.type in ("cpu", "cuda") else {}

    def adam(module):
        if weight_decay == 0:
            return torch.optim.Adam(module.parameters(), lr=lr, betas=betas, **fused)
        decayed, kept = decayed_parameters(module)
        groups = [{"params": decayed, "weight_decay": weight_decay}, {"params": kept, "weight_decay": 0.0}]
        return torch.optim.Adam(groups, lr=lr, betas=betas, **fused)
    return adam(detector.generator), adam(detector.discriminator) if detector.discriminator is not None else None


def learning_rate(base: float, milestones: tuple[int, ...], epoch: int) -> float:
    """The learning rate of (0-based) ``epoch``: ``base`` times 0.1 for every milestone reached
    (MultiStepLR's rule, computed from the epoch so that a resumed run needs no scheduler state).

    >>> [f"{learning_rate(1e-4, (2,), epoch):.0e}" for epoch in range(4)]
    ['1e-04', '1e-04', '1e-05', '1e-05']
    """
    return base * 0.1 ** sum(epoch >= milestone for milestone in milestones)


def generator_losses(detector: Detector, x: torch.Tensor, generator: torch.nn.Module | None = None
                     ) -> tuple[torch.Tensor, dict]:
    """Forward pass of G and the terms of Eq. 3; returns x̂ and the losses (``total`` included).

    ``generator`` replaces ``detector.generator`` for the forward pass (its DDP wrapper)."""
    cfg = detector.config
    x_hat, weights = (generator or detector.generator)(x)
    rec = losses.reconstruction_loss(x, x_hat)
    total, logged = cfg.lambda_rec * rec, {"rec": rec}
    if cfg.lambda_entropy > 0 and weights:
        logged["entropy"] = losses.addressing_entropy(weights)
        total = total + cfg.lambda_entropy * logged["entropy"]
    if detector.discriminator is not None and (cfg.adv_loss or cfg.ali_loss):
        logits_fake, features_fake = detector.discriminator(x_hat)
        if cfg.adv_loss:
            logged["adv"] = losses.generator_adversarial_loss(logits_fake)
            total = total + cfg.lambda_adv * logged["adv"]
        if cfg.ali_loss:
            with torch.no_grad():
                _, features_real = detector.discriminator(x)
            logged["ali"] = losses.alignment_loss(features_real, features_fake)
            total = total + cfg.lambda_ali * logged["ali"]
    logged["total"] = total
    return x_hat, logged


def generator_step(detector: Detector, x: torch.Tensor, opt_g, precision: str = "fp32",
                   generator: torch.nn.Module | None = None) -> tuple[torch.Tensor, dict]:
    """One update of G on Eq. 3; returns the (detached) reconstruction and the losses."""
    with autocast(x.device, precision):
        x_hat, logged = generator_losses(detector, x, generator)
    opt_g.zero_grad(set_to_none=True)
    logged["total"].backward()
    opt_g.step()
    return x_hat.detach(), {name: value.detach().float() for name, value in logged.items()}


def discriminator_step(detector: Detector, x: torch.Tensor, x_hat: torch.Tensor, opt_d,
                       precision: str = "fp32", discriminator: torch.nn.Module | None = None) -> torch.Tensor:
    """One update of D: real images -> 1, reconstructions -> 0 (Eq. 5).

    ``discriminator`` replaces ``detector.discriminator`` (its DDP wrapper); two forward
    passes, then one backward, as in one process."""
    discriminator = discriminator or detector.discriminator
    with autocast(x.device, precision):
        logits_real, _ = discriminator(x)
        logits_fake, _ = discriminator(x_hat)
        loss = losses.discriminator_loss(logits_real, logits_fake)
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    return loss.detach()


def check_finite(logged: dict, epoch: int, step: int, checkpoint: Path | None) -> None:
    bad = {name: float(value) for name, value in logged.items() if not torch.isfinite(value)}
    if bad:
        kept = (f"the last checkpoint is kept at {checkpoint}"
                if checkpoint is not None and checkpoint.exists() else "no checkpoint was written yet")
        raise TrainingDiverged(f"loss became non-finite {bad} at epoch {epoch + 1}, step {step + 1}; "
                               f"training stopped ({kept}). Try a lower learning rate.")


def global_batches(num_images: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """The image indices of one epoch's batches, shuffled by ``generator``; the last partial
    batch is dropped unless the dataset is smaller than one batch."""
    order = torch.randperm(num_images, generator=generator)  # (n,)
    stop = num_images - num_images % batch_size if num_images > batch_size else num_images
    return [order[start:start + batch_size] for start in range(0, stop, batch_size)]


def rank_share(batch: torch.Tensor, rank: int = 0, world_size: int = 1, dim: int = 0) -> torch.Tensor:
    """This rank's contiguous share of a global batch (of indices, or of flips along ``dim``):
    the ranks' shares are disjoint and together give the whole batch, in order."""
    return torch.tensor_split(batch, world_size, dim=dim)[rank]


def epoch_batches(dataset: Dataset, batch_size: int, generator: torch.Generator,
                  num_workers: int = 0, rank: int = 0, world_size: int = 1):
    """One epoch of (this rank's share of a batch, size of the global batch), in order.

    Every rank draws the same permutation from ``generator`` (seeded by seed and epoch:
    the role of DistributedSampler's ``set_epoch``) and keeps its share of each batch.
    """
    batches = global_batches(len(dataset), batch_size, generator)
    shares = [rank_share(indices, rank, world_size) for indices in batches]
    if isinstance(dataset, InMemory):
        for indices, share in zip(batches, shares):
            yield dataset.batch(share), len(indices)
        return
    loader = DataLoader(dataset, batch_sampler=[share.tolist() for share in shares], num_workers=num_workers)
    for batch, indices in zip(loader, batches):
        yield batch, len(indices)


def steps_per_epoch(num_images: int, batch_size: int) -> int:
    return num_images // batch_size if num_images > batch_size else 1


class MissingExtra(ImportError):
    """An optional feature whose package is not installed."""


def tensorboard_writer(out: Path):
    """A TensorBoard SummaryWriter into ``out/tensorboard`` (imported only when asked for)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise MissingExtra("TensorBoard logging needs the tensorboard package: "
                           "pip install 'daad-book[tensorboard]'") from error
    return SummaryWriter(str(out / "tensorboard"))


def log_to_tensorboard(writer, entry: dict) -> None:
    """One epoch of the log: losses and speed under ``train/``, test metrics under ``eval/``."""
    for name, value in entry.items():
        if name == "eval":
            for metric, number in value.items():
                if number is not None:
                    writer.add_scalar(f"eval/{metric}", number, entry["epoch"])
        elif name != "epoch" and isinstance(value, (int, float)):  # not the precision's name
            writer.add_scalar(f"train/{name}", value, entry["epoch"])
    writer.flush()


def monitor(detector: Detector, eval_set: Dataset, device: torch.device) -> dict:
    """Test metrics of the model as it is now (``eval_every``); leaves it in training mode."""
    began = time.perf_counter()
    scores = score_dataset(detector, eval_set, device=str(device))
    detector.train()
    return {**metrics_from_scores(scores, detector.config.gamma), "seconds": time.perf_counter() - began}


def mean_over_ranks(logged: dict) -> dict:
    """The losses of one step averaged over the ranks (unchanged in one process)."""
    names = list(logged)
    means = distributed.mean_over_ranks(torch.stack([logged[name].float() for name in names]))  # (L,)
    return dict(zip(names, means))


def check_run(tc: TrainConfig, num_images: int, world_size: int, eval_set, out: Path | None) -> None:
    """Clear errors before any work for settings that cannot run."""
    if tc.eval_every and eval_set is None:
        raise ValueError("eval_every needs eval_set: the test split to compute the metrics on")
    if tc.tensorboard and out is None:
        raise ValueError("tensorboard needs out_dir: the events go to OUT/tensorboard")
    if tc.batch_size % world_size:
        raise ValueError(f"the batch size {tc.batch_size} is the global batch: it must split evenly "
                         f"over the {world_size} processes")
    if num_images < world_size:
        raise ValueError(f"{num_images} training images cannot be shared by {world_size} processes")


def train(detector: Detector, dataset: Dataset, train_config: TrainConfig | None = None,
          out_dir: str | Path | None = None, resume: bool = False, device: str = "auto",
          dataset_spec: dict | None = None, progress: bool = True, eval_set: Dataset | None = None,
          overwrite: bool = False) -> list[dict]:
    """Train ``detector`` on the normal images of ``dataset``; returns the per-epoch history.

    With ``out_dir``, a checkpoint is written there after every epoch (and kept as
    ``checkpoint_epochNNNN.pt`` after each epoch of ``train_config.keep_epochs``), and
    ``log.jsonl`` gets one line per epoch. The folder is claimed for this process
    (:func:`daad_lib.rundir.claim`: a second writer is refused) and must not hold another
    run unless ``overwrite`` (which removes it) or ``resume``, which continues from its
    checkpoint up to ``train_config.epochs`` epochs and refuses a changed recipe or dataset
    (:func:`check_resumable`). ``eval_set`` is the test split that
    ``train_config.eval_every`` evaluates. In a process group (torchrun, see
    :mod:`daad_lib.distributed`), every rank calls this and trains its share of each batch;
    rank 0 alone writes. ``detector.data`` becomes ``dataset_spec`` (or, without one, how
    ``dataset`` shapes its inputs, :func:`daad_lib.data.input_spec`), so that
    :func:`daad_lib.predict.predict` prepares single images the same way.
    """
    detector.data = dict(dataset_spec) if dataset_spec else input_spec(dataset)
    if out_dir is None or distributed.world().rank != 0:
        return train_claimed(detector, dataset, train_config, out_dir, resume, device, dataset_spec,
                             progress, eval_set)
    with rundir.claim(out_dir):
        rundir.prepare(out_dir, resume, overwrite)
        return train_claimed(detector, dataset, train_config, out_dir, resume, device, dataset_spec,
                             progress, eval_set)


@contextmanager
def deterministic_algorithms(enabled: bool):
    """Within the block, torch uses deterministic kernels only (an error where none exists);
    the previous setting comes back afterwards. Shuffling, flips and initialisation are seeded
    anyway (:func:`epoch_generator`, ``torch.manual_seed``), so this is what a rerun still needs
    to give bit-identical weights on a GPU."""
    if not enabled:
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's condition for determinism
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


RECIPE_FIELDS = ("seed", "batch_size", "flips", "betas", "precision", "weight_decay",
                 "lr_milestones")  # what the trained epochs depend on


def check_resumable(state: dict, tc: TrainConfig, dataset_spec: dict | None, checkpoint: Path) -> None:
    """Refuse to resume a run with another recipe or dataset than its finished epochs had: the
    record would no longer describe them. The number of epochs, logging and the data root
    (``data_dir``, e.g. after moving the data) may change."""
    stored = {**asdict(TrainConfig()), **(state.get("train_config") or {})}  # older runs lack newer fields
    as_stored = lambda value: tuple(value) if isinstance(value, list) else value
    changed = differences({k: as_stored(stored[k]) for k in RECIPE_FIELDS},
                          {k: v for k, v in asdict(tc).items() if k in RECIPE_FIELDS})
    if dataset_spec and state.get("dataset"):
        # a folder's "contents" are checked by daad_lib.run.check_same_images, before any image is decoded
        # a spec leaves out the fields at their defaults (fit "stretch"): shown by value, not as None
        drop = lambda spec: {"fit": "stretch", **{k: v for k, v in spec.items() if k not in ("data_dir", "contents")}}
        changed += differences(drop(state["dataset"]), drop(dataset_spec))
    if changed:
        raise ValueError(f"cannot resume {checkpoint}: its {state['epoch']} epochs were trained with other "
                         f"settings ({'; '.join(changed)}). Resume with the same settings, or start a new "
                         f"run (--overwrite or another --out)")


def raise_for_single_image_batch(error: ValueError, batch: int, images: int, batch_size: int, image_size: int):
    """Re-raise BatchNorm's "Expected more than 1 value per channel" (a batch of one image meeting
    a 1 x 1 feature map) as what to change; any other error unchanged."""
    if "more than 1 value per channel" not in str(error):
        raise error
    raise ValueError(f"a batch of {batch} image reached a 1 x 1 feature map of the {image_size} px model, where "
                     f"BatchNorm needs at least 2 values per channel: every process needs batches of 2 images or "
                     f"more (--batch-size {batch_size} over the processes, {images} training images), or use a "
                     f"larger --image-size") from None


def with_data_flips(tc: TrainConfig, dataset: Dataset) -> TrainConfig:
    """``tc`` with ``flips=None`` replaced by the dataset's default (:func:`daad_lib.data.default_flips`),
    so that the checkpoint records what the epochs were trained with."""
    return tc if tc.flips is not None else replace(tc, flips=default_flips(dataset))


def train_claimed(detector: Detector, dataset: Dataset, train_config: TrainConfig | None,
                  out_dir: str | Path | None, resume: bool, device: str, dataset_spec: dict | None,
                  progress: bool, eval_set: Dataset | None) -> list[dict]:
    """:func:`train`, once the run folder is this process's."""
    tc = with_data_flips(train_config or TrainConfig(), dataset)
    with deterministic_algorithms(tc.deterministic):
        return train_loop(detector, dataset, tc, out_dir, resume, device, dataset_spec, progress, eval_set)


def train_loop(detector: Detector, dataset: Dataset, tc: TrainConfig, out_dir: str | Path | None, resume: bool,
               device: str, dataset_spec: dict | None, progress: bool, eval_set: Dataset | None) -> list[dict]:
    """The epochs of :func:`train`."""
    rank, world_size = distributed.world()
    main = rank == 0
    dev = distributed.rank_device(device) if world_size > 1 else select_device(device)
    out = Path(out_dir) if out_dir is not None else None
    checkpoint = out / CHECKPOINT_NAME if out is not None else None
    check_run(tc, len(dataset), world_size, eval_set, out)
    if tc.sync_batchnorm and world_size > 1:
        detector.generator = distributed.use_sync_batchnorm(detector.generator, dev)
        if detector.discriminator is not None:
            detector.discriminator = distributed.use_sync_batchnorm(detector.discriminator, dev)
    detector.to(dev).train()
    opt_g, opt_d = make_optimizers(detector, tc.betas, tc.weight_decay)
    history, start = [], 0
    if resume:
        if checkpoint is None or not checkpoint.exists():
            raise FileNotFoundError(f"cannot resume: no checkpoint at {checkpoint}")
        state = load_checkpoint(checkpoint, detector.config.variant)
        check_resumable(state, tc, dataset_spec, checkpoint)
        history, start = restore_training(state, detector, opt_g, opt_d)
        if tc.epochs < start:  # it would train nothing, and the run's records would name the smaller number
            raise ValueError(f"cannot resume {checkpoint} to {tc.epochs} epochs: it has already trained {start}; "
                             f"give --epochs {start} or more (evaluate it as it is with `daad eval`)")
        detector.to(dev)
        if main:  # the log holds exactly the checkpoint's epochs (a kill may have cut it short or long)
            rundir.atomic_write_text(out / LOG_NAME, "".join(json.dumps(entry) + "\n" for entry in history))
    generator = distributed.wrap(detector.generator, dev)
    discriminator = distributed.wrap(detector.discriminator, dev) if opt_d is not None else None

    detector.check_input(dataset[0]["image"][None])  # a clear error before any work
    precision = resolve_precision(tc.precision, dev)
    if tc.num_workers == 0:
        dataset = in_memory(dataset, progress=progress and main)
        if dev.type != "cpu":  # keep the decoded images on the accelerator
            dataset = dataset.to(dev)
    if tc.eval_every and main and tc.num_workers == 0:
        eval_set = in_memory(eval_set)
    writer = tensorboard_writer(out) if tc.tensorboard and main else None
    steps = steps_per_epoch(len(dataset), tc.batch_size)
    bar = tqdm(total=tc.epochs * steps, initial=start * steps, disable=not (progress and main),
               desc=detector.config.variant, unit="step", dynamic_ncols=True)
    for epoch in range(start, tc.epochs):
        random = epoch_generator(tc.seed, epoch)
        for optimizer in filter(None, (opt_g, opt_d)):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(detector.config.lr, tc.lr_milestones, epoch)
        sums, seen, began = {}, 0, time.perf_counter()
        batches = epoch_batches(dataset, tc.batch_size, random, tc.num_workers, rank, world_size)
        for step, (batch, global_size) in enumerate(batches):
            x = batch["image"].to(dev)
            if tc.flips:  # drawn for the whole global batch, so any number of ranks flips alike
                x = apply_flips(x, rank_share(draw_flips(global_size, random), rank, world_size, dim=1))
            try:
                x_hat, logged = generator_step(detector, x, opt_g, precision, generator)
            except ValueError as error:
                raise_for_single_image_batch(error, len(x), len(dataset), tc.batch_size, detector.config.image_size)
            if opt_d is not None:
                logged["disc"] = discriminator_step(detector, x, x_hat, opt_d, precision, discriminator)
            logged = mean_over_ranks(logged)
            check_finite(logged, epoch, step, checkpoint)
            for name, value in logged.items():
                sums[name] = sums.get(name, 0.0) + float(value)
            seen += global_size
            bar.update(1)
            bar.set_postfix(refresh=False, epoch=epoch + 1, **{k: f"{float(v):.4f}" for k, v in logged.items()})
        distributed.average_buffers(detector)
        seconds = time.perf_counter() - began
        history.append({"epoch": epoch + 1, "seconds": seconds, "images_per_s": seen / seconds, "precision": precision,
                        **{name: total / steps for name, total in sums.items()}})
        if main and tc.eval_every and (epoch + 1) % tc.eval_every == 0:
            history[-1]["eval"] = monitor(detector, eval_set, dev)
        if main and out is not None:
            save_epoch(out, detector, tc, dataset_spec, history, opt_g, opt_d)
        if writer is not None:
            log_to_tensorboard(writer, history[-1])
    bar.close()
    if writer is not None:
        writer.close()
    distributed.barrier()  # the last checkpoint is written before any rank goes on
    return history


def save_epoch(out: Path, detector: Detector, tc: TrainConfig, dataset_spec: dict | None,
               history: list[dict], opt_g, opt_d) -> None:
    """Write the checkpoint (and a kept copy at a milestone) and append the epoch to the log."""
    epoch = history[-1]["epoch"]
    if epoch % tc.checkpoint_every == 0 or epoch == tc.epochs or epoch in tc.keep_epochs:
        state = training_state(detector, asdict(tc), dataset_spec, history, opt_g, opt_d)
        save_checkpoint(out / CHECKPOINT_NAME, state)
        if epoch in tc.keep_epochs:  # written whole (atomically) before the log line that names the epoch
            save_checkpoint(out / kept_checkpoint_name(epoch), state)
    with open(out / LOG_NAME, "a") as log:
        log.write(json.dumps(history[-1]) + "\n")


def train_new(config, dataset: Dataset, train_config: TrainConfig | None = None,
              **train_kwargs) -> tuple[Detector, list[dict]]:
    """Seed torch with the recipe's seed, build a fresh model from ``config`` and train it
    (:func:`train`'s keyword arguments); returns the detector and the per-epoch history.
    The start of every run: :func:`daad_lib.run.run` and :func:`fit` call it."""
    tc = train_config or TrainConfig()
    torch.manual_seed(tc.seed)  # the initial weights follow the seed
    detector = Detector(config)
    history = train(detector, dataset, tc, **train_kwargs)
    return detector, history


def fit(variant: str, dataset: Dataset, train_config: TrainConfig | None = None, **kwargs) -> Detector:
    """Seed, build the preset ``variant`` and train it in memory: the one-call API used by the
    book and ``daad demo`` (:func:`daad_lib.run.run` does the same into a run folder).

    Keyword arguments go to :func:`make_config` when they are config fields
    (``image_size``, ``rates``, ...) and to :func:`train` otherwise.

    >>> from daad_lib.data import Stripes
    >>> detector = fit("daad", Stripes("train"), TrainConfig(epochs=1), image_size=32,
    ...                rates=(2, 2, 1), num_items=20, progress=False)
    """
    from dataclasses import fields

    from .config import ModelConfig

    config_keys = {f.name for f in fields(ModelConfig)}
    config_kwargs = {k: v for k, v in kwargs.items() if k in config_keys}
    train_kwargs = {k: v for k, v in kwargs.items() if k not in config_keys}
    detector, _ = train_new(make_config(variant, **config_kwargs), dataset, train_config, **train_kwargs)
    return detector.eval()
