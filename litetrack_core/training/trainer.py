"""The training loop: one process, or one per GPU / CPU slot under ``torchrun`` (DDP).

    litetrack train configs/train/NAME.yaml --out runs/NAME
    torchrun --nproc_per_node 2 -m litetrack_core.cli train configs/train/NAME.yaml --out runs/NAME

Each process draws its own share of the samples (DistributedSampler over one ``TrackingPairs``),
gradients are averaged by DistributedDataParallel (NCCL on CUDA, gloo on CPU). Rank 0 writes
``OUT/metrics.jsonl`` (one line per ``log_every`` steps: losses averaged over processes, learning
rate, samples per second), ``OUT/last.safetensors`` (the model, loadable by every command) and
``OUT/last_state.pt`` (optimizer, schedule, position; tensors and plain values only), with
``ema_decay`` also ``OUT/ema.safetensors`` (the weights' moving average), and a run started on the
same ``OUT`` resumes from them.

A step's forward is ``step.TrainStep`` (batch -> loss and stats, kept on the device); this loop
does the rest: ``step.check_finite`` (a NaN or infinite loss raises ``NonFiniteLossError`` naming
the step, before backward, so neither the weights nor the checkpoints take it), backward, clipping,
optimizer, schedule, and at log steps the stats' one copy to the host.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, DistributedSampler

from litetrack_core.data.load import load_dataset
from litetrack_core.models.factory import create_model
from litetrack_core.models.freezing import apply_litetrack_freezing
from litetrack_core.models.litetrack import LiteTrack
from litetrack_core.training.config import TrainConfig
from litetrack_core.training.sampling import SequencePool, TrackingPairs
from litetrack_core.training.step import TrainStep, check_finite
from litetrack_core.weights.checkpoint import load_model, read_torch_file, save_checkpoint
from litetrack_core.weights.pretrained import create_pretrained_model

__all__ = ["train"]

log = logging.getLogger(__name__)

MODEL_FILE, STATE_FILE, METRICS_FILE, EMA_FILE = "last.safetensors", "last_state.pt", "metrics.jsonl", "ema.safetensors"


def train(cfg: TrainConfig, out: str | Path, max_steps: int | None = None) -> Path:
    """Run (or resume) ``cfg`` into folder ``out``; returns the model checkpoint's path.

    ``max_steps`` stops early after that many optimizer steps in all (for smoke runs).
    """
    out = Path(out)
    rank, world, device = _init_distributed()
    try:
        return _train(cfg, out, rank, world, device, max_steps)
    finally:
        if world > 1:
            dist.destroy_process_group()


@dataclass
class _Run:
    """What the loop changes: the model and its optimisation, and the position in the run."""

    cfg: TrainConfig
    out: Path
    rank: int
    world: int
    model: LiteTrack
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    ema: AveragedModel | None = None  # the weights' moving average (cfg.ema_decay > 0)
    step: int = 0
    epoch: int = 0
    skip: int = 0  # batches of the current epoch already trained on (a resumed run)


def _train(cfg: TrainConfig, out: Path, rank: int, world: int, device: torch.device, max_steps: int | None) -> Path:
    torch.manual_seed(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        (out / "config.yaml").write_text(_yaml(cfg.to_dict()))
    run = _start(cfg, out, rank, world, device)
    if cfg.memory_size and not run.model.cfg.asymmetric:
        raise ValueError(f"memory_size={cfg.memory_size} needs an asymmetric model (target keys cached); "
                         f"{run.model.cfg.name} is not")
    # Some parameters get no gradient in some batches (the grounding size tower without NL samples).
    net = DistributedDataParallel(run.model, find_unused_parameters=True) if world > 1 else run.model
    train_step = TrainStep(net, device, cfg.losses, cfg.keep_ratio_target, _autocast(cfg, device))
    data = TrackingPairs(
        _pools(cfg),
        run.model.cfg,
        samples_per_epoch=cfg.samples_per_epoch * world,
        max_gap=cfg.max_gap,
        task_mix=cfg.task_mix,
        seed=cfg.seed,
        augment=cfg.augment,
        memory_size=cfg.memory_size,
        memory_window=cfg.memory_window,
        negative_ratio=cfg.negative_ratio,
        negative_same_category=cfg.negative_same_category,
    )
    stop = cfg.total_steps if max_steps is None else min(cfg.total_steps, max_steps)
    _loop(run, train_step, data, stop)
    if world > 1:
        dist.barrier()  # rank 0's last checkpoint is on disk before anyone returns
    return out / MODEL_FILE


def _start(cfg: TrainConfig, out: Path, rank: int, world: int, device: torch.device) -> _Run:
    """The model, optimizer and schedule, resumed from ``out`` when it holds a run."""
    model = _build_model(cfg, out).to(device).train()
    if cfg.freeze:
        apply_litetrack_freezing(model)
    optimizer = torch.optim.AdamW(_param_groups(model, cfg), weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(cfg))
    # Only rank 0 writes the average, and every rank holds the same weights: the others keep none.
    keep_ema = cfg.ema_decay > 0 and rank == 0
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True) if keep_ema else None
    run = _Run(cfg, out, rank, world, model, optimizer, schedule, ema)
    if (out / STATE_FILE).is_file():
        state = read_torch_file(out / STATE_FILE)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if cfg.ema_decay > 0 and "ema" not in state:  # every rank stops, not rank 0 alone
            raise ValueError(f"{out / STATE_FILE} holds no moving average: resume with ema_decay 0, as it was trained")
        if ema is not None:
            ema.load_state_dict(state["ema"])
        run.step, run.epoch, run.skip = int(state["step"]), int(state["epoch"]), int(state["batch_in_epoch"])
        if rank == 0:
            log.info("resuming %s at step %d (epoch %d, batch %d)", out, run.step, run.epoch, run.skip)
    return run


def _loop(run: _Run, train_step: TrainStep, data: TrackingPairs, stop: int) -> None:
    """Optimizer steps until ``stop`` or the last epoch: the step's forward (``train_step``), the
    non-finite check, backward, optimizer and schedule; metrics and checkpoints when due."""
    cfg = run.cfg
    sampler = DistributedSampler(data, num_replicas=run.world, rank=run.rank, shuffle=True, seed=cfg.seed)
    loader = DataLoader(data, cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers, drop_last=False)
    tic, seen = time.perf_counter(), 0
    while run.epoch < cfg.epochs and run.step < stop:
        sampler.set_epoch(run.epoch)
        data.set_epoch(run.epoch)
        for b, batch in enumerate(loader):
            if b < run.skip:
                continue  # resuming inside an epoch: these batches were trained on
            result = train_step(batch)
            check_finite(result.loss, result.stats, run.step + 1, run.world)  # raises before any update
            _optimise(run, result.loss)
            seen += result.samples
            if run.step % cfg.log_every == 0 or run.step == stop:
                _log_metrics(run, result.stats, seen * run.world / (time.perf_counter() - tic))
                tic, seen = time.perf_counter(), 0
            if run.step % cfg.save_every == 0 or run.step == stop:
                _save(run, b + 1)
            if run.step >= stop:
                return
        run.epoch, run.skip = run.epoch + 1, 0
        _save(run, 0)


def _optimise(run: _Run, loss: torch.Tensor) -> None:
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if run.cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.grad_clip)
    run.optimizer.step()
    run.schedule.step()
    if run.ema is not None:
        run.ema.update_parameters(run.model)
    run.step += 1


def _init_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device) from torchrun's environment; a plain run is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if world > 1:
        if os.environ.get("MASTER_ADDR") in ("127.0.0.1", "localhost"):
            # gloo picks a network interface for its peers; on one machine keep it on loopback.
            os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        if cuda:
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if cuda else "gloo")
    return (dist.get_rank() if world > 1 else 0), world, device


def _build_model(cfg: TrainConfig, out: Path) -> LiteTrack:
    if (out / MODEL_FILE).is_file():
        return load_model(out / MODEL_FILE)[0]  # resume
    if cfg.init in ("packages", "random"):
        build = create_pretrained_model if cfg.init == "packages" else create_model
        return build(cfg.model_config())
    return load_model(cfg.init, cfg.model_config(), strict=False)[0]


def _pools(cfg: TrainConfig) -> list[SequencePool]:
    """One pool per dataset of the config: its weight, or (without weights) its sequence count times
    ``repeat``, which draws sequences uniformly over all datasets."""
    pools = []
    for spec in cfg.datasets:
        found = [s for s in load_dataset(spec.path, spec.names, split=spec.split) if s.name not in spec.exclude]
        if not found:
            log.warning("dataset %s gives no training sequences", spec.path)
            continue
        weight = spec.weight if spec.weight is not None else len(found) * spec.repeat
        pools.append(SequencePool(tuple(found), float(weight), spec.task_mix))
    if not pools:
        raise ValueError(f"no training sequences in {[s.path for s in cfg.datasets]}")
    return pools


def _param_groups(model: LiteTrack, cfg: TrainConfig) -> list[dict]:
    """The pretrained feature extractors (patch embedding, blocks before fusion, text encoder)
    learn at backbone_lr_scale x lr; fusion blocks, prompter and head at lr. Behind a CNN patch
    embedding only the CNN is pretrained: the projection and ViT blocks start untrained (lr)."""
    fusion = model.cfg.fusion_start
    conv_stem = model.cfg.patch_embed != "linear"
    backbone, rest = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        parts = name.split(".")
        visual = name.startswith("patch_embed.cnn.") if conv_stem else (
            parts[0] in ("patch_embed", "pos_embed_z", "pos_embed_x", "cls_token")
            or (parts[0] == "blocks" and int(parts[1]) < fusion)
        )
        (backbone if visual or parts[0] == "text" else rest).append(p)
    return [
        {"params": backbone, "lr": cfg.lr * cfg.backbone_lr_scale},
        {"params": rest, "lr": cfg.lr},
    ]


def _lr_factor(cfg: TrainConfig):
    """Linear warm-up, then cosine from 1 to min_lr_ratio over the run."""
    total, warm = cfg.total_steps, min(cfg.warmup_steps, cfg.total_steps)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total - warm)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _autocast(cfg: TrainConfig, device: torch.device):
    on = cfg.amp == "on" or (cfg.amp == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16) if on else nullcontext()


def _log_metrics(run: _Run, stats: dict[str, torch.Tensor], rate: float) -> None:
    """One line of ``metrics.jsonl``: each stat averaged over the processes where it is finite (a
    batch without the target has no "iou"). The stats reach the host here, at log steps only."""
    names = sorted(stats)
    values = torch.stack([stats[n] for n in names]).double()
    have = torch.isfinite(values)
    sums_counts = torch.cat([torch.where(have, values, torch.zeros_like(values)), have.double()])
    if run.world > 1:
        dist.all_reduce(sums_counts)
    if run.rank != 0:
        return
    sums_counts = sums_counts.tolist()
    sums, counts = sums_counts[: len(names)], sums_counts[len(names) :]
    lr = run.schedule.get_last_lr()[-1]
    line = {"step": run.step, "epoch": run.epoch, "lr": lr, "samples_per_s": round(rate, 2)}
    line.update({n: s / c for n, s, c in zip(names, sums, counts) if c})
    with open(run.out / METRICS_FILE, "a") as f:
        f.write(json.dumps(line) + "\n")
    log.info("step %d epoch %d loss %.4f lr %.2e %.1f samples/s", run.step, run.epoch, line.get("total", float("nan")), lr, rate)


def _save(run: _Run, batch_in_epoch: int) -> None:
    if run.rank != 0:
        return
    save_checkpoint(run.model, run.out / MODEL_FILE, {"step": str(run.step)})
    if run.ema is not None:
        save_checkpoint(run.ema.module, run.out / EMA_FILE, {"step": str(run.step), "ema_decay": str(run.cfg.ema_decay)})
    state = {
        "optimizer": run.optimizer.state_dict(),
        "schedule": run.schedule.state_dict(),
        "step": run.step,
        "epoch": run.epoch,
        "batch_in_epoch": batch_in_epoch,
    }
    if run.ema is not None:
        state["ema"] = run.ema.state_dict()
    tmp = run.out / (STATE_FILE + ".tmp")
    torch.save(state, tmp)
    tmp.replace(run.out / STATE_FILE)


def _yaml(data: dict) -> str:
    import yaml

    return yaml.safe_dump(json.loads(json.dumps(data)), sort_keys=False)
