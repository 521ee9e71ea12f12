"""The training loop: one process, or one per GPU / CPU slot under ``torchrun`` (DDP).

    litetrack train configs/train/NAME.yaml --out runs/NAME
    torchrun --nproc_per_node 2 -m litetrack_core.cli train configs/train/NAME.yaml --out runs/NAME

Each process draws its own share of the samples (DistributedSampler over one ``TrackingPairs``),
gradients are averaged by DistributedDataParallel (NCCL on CUDA, gloo on CPU). Rank 0 writes
``OUT/metrics.jsonl`` (one line per ``log_every`` steps: losses averaged over processes, learning
rate, samples per second), ``OUT/last.safetensors`` (the model, loadable by every command) and
``OUT/last_state.pt`` (optimizer, schedule, position; tensors and plain values only), and a run
started on the same ``OUT`` resumes from them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from litetrack_core.eval.datasets import load_dataset
from litetrack_core.models.factory import create_model
from litetrack_core.models.freezing import apply_litetrack_freezing
from litetrack_core.models.litetrack import LiteTrack
from litetrack_core.models.text import TokenizedText
from litetrack_core.training.config import TrainConfig
from litetrack_core.training.losses import compute_losses
from litetrack_core.training.sampling import SequencePool, TrackingPairs
from litetrack_core.weights.checkpoint import load_model, read_torch_file, save_checkpoint

__all__ = ["train"]

log = logging.getLogger(__name__)

MODEL_FILE, STATE_FILE, METRICS_FILE = "last.safetensors", "last_state.pt", "metrics.jsonl"


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


def _train(cfg: TrainConfig, out: Path, rank: int, world: int, device: torch.device, max_steps: int | None) -> Path:
    torch.manual_seed(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        (out / "config.yaml").write_text(_yaml(cfg.to_dict()))
    model = _build_model(cfg, out).to(device).train()
    if cfg.freeze:
        apply_litetrack_freezing(model)
    optimizer = torch.optim.AdamW(_param_groups(model, cfg), weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(cfg))
    step, epoch, skip = 0, 0, 0
    if (out / STATE_FILE).is_file():
        state = read_torch_file(out / STATE_FILE)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, epoch, skip = int(state["step"]), int(state["epoch"]), int(state["batch_in_epoch"])
        if rank == 0:
            log.info("resuming %s at step %d (epoch %d, batch %d)", out, step, epoch, skip)
    # Some parameters get no gradient in some batches (the grounding size tower without NL samples).
    net = DistributedDataParallel(model, find_unused_parameters=True) if world > 1 else model

    data = TrackingPairs(
        _pools(cfg),
        model.cfg,
        samples_per_epoch=cfg.samples_per_epoch * world,
        max_gap=cfg.max_gap,
        task_mix=cfg.task_mix,
        seed=cfg.seed,
        augment=cfg.augment,
    )
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
    loader = DataLoader(data, cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers, drop_last=False)
    autocast = _autocast(cfg, device)
    stop = cfg.total_steps if max_steps is None else min(cfg.total_steps, max_steps)
    tic, seen = time.perf_counter(), 0
    while epoch < cfg.epochs and step < stop:
        sampler.set_epoch(epoch)
        data.set_epoch(epoch)
        for b, batch in enumerate(loader):
            if b < skip:
                continue  # resuming inside an epoch: these batches were trained on
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with autocast:
                feats, head, _ = net(
                    batch["template"],
                    batch["search"],
                    TokenizedText(batch["text_ids"], batch["text_mask"]),
                    batch["template_mask"],
                    batch["context_mask"],
                    batch["flag"],
                )
                total, parts = compute_losses(feats, head, batch, cfg.losses, cfg.keep_ratio_target)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            schedule.step()
            step += 1
            seen += batch["flag"].shape[0]
            if step % cfg.log_every == 0 or step == stop:
                _log_metrics(out, rank, world, step, epoch, schedule.get_last_lr()[-1], parts, seen * world / (time.perf_counter() - tic))
                tic, seen = time.perf_counter(), 0
            if step % cfg.save_every == 0 or step == stop:
                _save(out, rank, model, optimizer, schedule, step, epoch, b + 1)
            if step >= stop:
                break
        else:
            epoch, skip = epoch + 1, 0
            _save(out, rank, model, optimizer, schedule, step, epoch, 0)
    if world > 1:
        dist.barrier()  # rank 0's last checkpoint is on disk before anyone returns
    return out / MODEL_FILE


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
        return create_model(cfg.model_config(), pretrained=cfg.init == "packages")
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


def _log_metrics(out: Path, rank: int, world: int, step: int, epoch: int, lr: float, parts: dict, rate: float) -> None:
    names = sorted(parts)
    values = torch.tensor([float(parts[n]) for n in names], dtype=torch.float64)
    if world > 1:
        dist.all_reduce(values)
        values /= world
    if rank != 0:
        return
    line = {"step": step, "epoch": epoch, "lr": lr, "samples_per_s": round(rate, 2), **dict(zip(names, values.tolist()))}
    with open(out / METRICS_FILE, "a") as f:
        f.write(json.dumps(line) + "\n")
    log.info("step %d epoch %d loss %.4f lr %.2e %.1f samples/s", step, epoch, line.get("total", float("nan")), lr, rate)


def _save(out: Path, rank: int, model: LiteTrack, optimizer, schedule, step: int, epoch: int, batch_in_epoch: int) -> None:
    if rank != 0:
        return
    save_checkpoint(model, out / MODEL_FILE, {"step": str(step)})
    state = {
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "step": step,
        "epoch": epoch,
        "batch_in_epoch": batch_in_epoch,
    }
    tmp = out / (STATE_FILE + ".tmp")
    torch.save(state, tmp)
    tmp.replace(out / STATE_FILE)


def _yaml(data: dict) -> str:
    import yaml

    return yaml.safe_dump(json.loads(json.dumps(data)), sort_keys=False)
