"""The training step between the sampler's batch and the loop (``training/step.py``).

Real batches: samples of the packaged clip drawn by ``TrackingPairs`` and collated by a DataLoader,
through a tiny model. The non-finite check is shown on a batch whose box targets are NaN (the
losses themselves turn NaN), and across two processes under torchrun (gloo on loopback).
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
from torch.utils.data import DataLoader

from conftest import tiny_config, tiny_model
from litetrack_core.data.load import load_dataset
from litetrack_core.training.losses import LossWeights, compute_losses
from litetrack_core.training.samples import SAMPLE_KEYS
from litetrack_core.training.sampling import TrackingPairs
from litetrack_core.training.step import NonFiniteLossError, StepOutput, TrainStep, check_finite

TERMS = ("aux", "cont", "focal", "giou", "l1")


@pytest.fixture(scope="module")
def batch(clip) -> dict[str, torch.Tensor]:
    """Four samples of the packaged clip, collated as the trainer's DataLoader does."""
    data = TrackingPairs(load_dataset(clip), tiny_config(), samples_per_epoch=4, seed=3)
    return next(iter(DataLoader(data, batch_size=4)))


def test_a_batch_gives_the_loss_and_device_stats(batch):
    model = tiny_model().train()
    out = TrainStep(model, torch.device("cpu"), LossWeights())(batch)
    assert isinstance(out, StepOutput) and out.samples == 4
    assert out.loss.dim() == 0 and out.loss.requires_grad
    assert sorted(out.stats) == sorted((*TERMS, "iou", "total"))
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad for v in out.stats.values())
    assert math.isfinite(out.loss.item()) and out.stats["total"].item() == pytest.approx(out.loss.item())
    # The same numbers as the host-side losses on the same forward.
    feats, head, _ = _forward(tiny_model().train(), batch)
    _, parts = compute_losses(feats, head, batch, LossWeights())
    assert {k: pytest.approx(v, rel=1e-5, abs=1e-6) for k, v in parts.items()} == \
        {k: v.item() for k, v in out.stats.items()}
    out.loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_without_the_target_iou_is_nan_and_the_names_stay(batch):
    nobody = dict(batch, valid=torch.zeros_like(batch["valid"]))
    out = TrainStep(tiny_model().train(), "cpu")(nobody)
    assert sorted(out.stats) == sorted((*TERMS, "iou", "total")) and math.isnan(out.stats["iou"].item())
    check_finite(out.loss, out.stats, step=1)  # the loss itself is finite: no error


def test_a_batch_missing_keys_is_refused(batch):
    partial = {k: v for k, v in batch.items() if k not in ("flag", "valid")}
    with pytest.raises(ValueError, match=r"missing \['flag', 'valid'\]"):
        TrainStep(tiny_model().train(), "cpu")(partial)
    assert set(SAMPLE_KEYS) == set(batch)


def test_nan_box_targets_stop_the_step_naming_it_and_the_terms(batch):
    model = tiny_model().train()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    poisoned = dict(batch, search_box=batch["search_box"].clone())
    poisoned["search_box"][1] = float("nan")  # one sample's box target
    out = TrainStep(model, "cpu", LossWeights())(poisoned)
    assert math.isnan(out.loss.item())
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step 7 \(total=nan; non-finite terms: ") as err:
        check_finite(out.loss, out.stats, step=7)
        optimizer.step()  # never reached
    assert err.value.step == 7 and "before the optimizer applied it" in str(err.value)
    named = dict(t.split("=") for t in str(err.value).split("non-finite terms: ")[1].split(")")[0].split(", "))
    assert named["giou"] == named["l1"] == "nan" and set(named) <= set(TERMS)  # neither "total" nor "iou"
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_infinite_loss_is_refused_too():
    loss = torch.tensor(float("inf"))
    with pytest.raises(NonFiniteLossError, match=r"step 3 \(total=inf; non-finite terms: focal=inf\)"):
        check_finite(loss, {"focal": loss, "l1": torch.tensor(0.5), "total": loss, "iou": torch.tensor(math.nan)}, 3)


def test_every_process_stops_at_the_same_step(tmp_path):
    """Rank 0's loss is NaN, rank 1's finite: both raise at step 5 (none waits in backward)."""
    script = tmp_path / "ranks.py"
    script.write_text(textwrap.dedent("""
        import math, os, torch, torch.distributed as dist
        from litetrack_core.training.step import NonFiniteLossError, check_finite
        dist.init_process_group("gloo")
        rank = dist.get_rank()
        loss = torch.tensor(math.nan if rank == 0 else 1.0)
        check_finite(torch.tensor(2.0), {}, 4, world=2)
        try:
            check_finite(loss, {"l1": loss, "total": loss}, 5, world=2)
        except NonFiniteLossError as err:
            print(f"rank {rank}: {err}", flush=True)
        dist.destroy_process_group()
    """))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
         f"--master_port={port}", str(script)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "rank 0: non-finite loss at step 5 (total=nan; non-finite terms: l1=nan)" in done.stdout
    assert "rank 1: non-finite loss at step 5 (on 1 of 2 processes, not this one)" in done.stdout


def _forward(model, batch):
    from litetrack_core.models.text import TokenizedText

    return model(batch["template"], batch["search"], TokenizedText(batch["text_ids"], batch["text_mask"]),
                 batch["template_mask"], batch["context_mask"], batch["flag"])
