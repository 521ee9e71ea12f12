"""The training command: DDP with two CPU processes (gloo on loopback), resume, bad configs.

Real frames from the packaged clip (two sequences made from it, see ``data``), a tiny model, a few
steps: the loss must fall, the checkpoint must load in the tracker's loader, and a second run on the
same folder resumes.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import tiny_config
from litetrack_core.data.load import load_dataset
from litetrack_core.weights.checkpoint import load_model

TINY = {k: v for k, v in tiny_config(csa=True, asymmetric=True, prune_blocks=(1,)).to_dict().items()}


@pytest.fixture(scope="module")
def data(clip, tmp_path_factory) -> Path:
    """A folder of three real sequences made from the packaged clip: ``jacket`` (the clip itself),
    ``jacket_reversed`` (its frames and boxes in reverse order: the person walks left to right) and
    ``jacket_late`` (its frames 51-100 only)."""
    src = load_dataset(clip)[0]
    root = tmp_path_factory.mktemp("data")
    for name, frames in (("jacket", range(len(src))), ("jacket_reversed", range(len(src) - 1, -1, -1)),
                         ("jacket_late", range(50, len(src)))):
        (root / name / "img").mkdir(parents=True)
        for k, i in enumerate(frames, start=1):
            shutil.copy(src.frame_paths[i], root / name / "img" / f"{k:06d}.jpg")
        rows = [",".join(f"{v:g}" for v in src.ground_truth[i]) for i in frames]
        (root / name / "groundtruth.txt").write_text("\n".join(rows) + "\n")
        (root / name / "language.txt").write_text(src.language + "\n")
    assert [s.name for s in load_dataset(root)] == ["jacket", "jacket_late", "jacket_reversed"]
    return root


def _config(tmp_path: Path, data: Path, **changes) -> Path:
    settings = {
        "model": {**TINY, "prune_blocks": list(TINY["prune_blocks"])},
        "init": "random",
        "datasets": [{"path": str(data), "names": ["jacket", "jacket_reversed"]}],
        "epochs": 3,
        "samples_per_epoch": 16,
        "batch_size": 4,
        "lr": 1.0e-3,
        "warmup_steps": 2,
        "log_every": 1,
        "save_every": 5,
        **changes,
    }
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def _run(args: list[str], nproc: int = 1) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    if nproc == 1:
        cmd = [sys.executable, "-m", "litetrack_core.cli", "train", *args]
    else:
        with socket.socket() as s:  # a free port on loopback for torchrun's rendezvous
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [
            sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
            "--master_addr=127.0.0.1", f"--master_port={port}",
            "-m", "litetrack_core.cli", "train", *args,
        ]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_two_processes_train_resume_and_reload(tmp_path, data):
    out = tmp_path / "run"
    config = _config(tmp_path, data)
    done = _run([str(config), "--out", str(out)], nproc=2)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert done.stdout.count("model:") == 1  # rank 0 reports
    lines = _metrics(out)
    assert [m["step"] for m in lines] == list(range(1, 13))  # 3 epochs x 16 samples / batch 4, per process
    losses = [m["total"] for m in lines]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses
    model, report = load_model(out / "last.safetensors")
    assert report.exact and model.cfg.asymmetric and model.cfg.prune_blocks == (1,)
    assert yaml.safe_load((out / "config.yaml").read_text())["batch_size"] == 4

    # The same folder with one more epoch resumes at step 13 from the saved optimizer and schedule.
    more = _run([str(_config(tmp_path, data, epochs=4)), "--out", str(out)], nproc=1)
    assert more.returncode == 0, more.stderr[-4000:]
    assert [m["step"] for m in _metrics(out)] == list(range(1, 17))


def test_pruning_gate_is_trained_with_its_regulariser(tmp_path, data):
    gated = {**TINY, "prune_blocks": [1], "prune_gate": True}
    out = tmp_path / "gate"
    done = _run([str(_config(tmp_path, data, model=gated, keep_ratio_target=0.7, epochs=1)), "--out", str(out)])
    assert done.returncode == 0, done.stderr[-4000:]
    assert all("keep" in m and m["keep"] >= 0 for m in _metrics(out))
    assert load_model(out / "last.safetensors")[0].prune_gate is not None


def test_a_memory_run_trains_the_model_to_read_past_frames(tmp_path, data):
    """memory_size 2: tracking samples carry past frames' crops, read as extra keys; the loss falls and
    the checkpoint tracks with a memory."""
    out = tmp_path / "memory"
    done = _run([str(_config(tmp_path, data, memory_size=2, max_gap=30, epochs=4)), "--out", str(out)])
    assert done.returncode == 0, done.stderr[-4000:]
    losses = [m["total"] for m in _metrics(out)]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, losses
    assert yaml.safe_load((out / "config.yaml").read_text())["memory_size"] == 2


def test_a_moving_average_of_the_weights_is_written_and_resumed(tmp_path, data):
    """ema_decay: ema.safetensors beside last.safetensors, a checkpoint like any other, holding the
    average that last_state.pt carries (not the last weights); a resume goes on averaging; a run
    trained without one is not resumed with one."""
    import torch

    from litetrack_core.weights.checkpoint import read_torch_file

    out = tmp_path / "ema"
    done = _run([str(_config(tmp_path, data, ema_decay=0.9, epochs=2)), "--out", str(out)])
    assert done.returncode == 0, done.stderr[-4000:]
    last, _ = load_model(out / "last.safetensors")
    ema, report = load_model(out / "ema.safetensors")
    assert report.exact
    average = read_torch_file(out / "last_state.pt")["ema"]
    assert int(average["n_averaged"]) == 8  # 2 epochs x 16 samples / batch 4
    for name, value in ema.state_dict().items():
        torch.testing.assert_close(value, average[f"module.{name}"])
    moved = [n for n, v in last.state_dict().items() if v.is_floating_point() and not torch.equal(v, ema.state_dict()[n])]
    assert len(moved) > len(last.state_dict()) // 2, moved

    more = _run([str(_config(tmp_path, data, ema_decay=0.9, epochs=3)), "--out", str(out)])
    assert more.returncode == 0, more.stderr[-4000:]
    assert int(read_torch_file(out / "last_state.pt")["ema"]["n_averaged"]) == 12

    plain = tmp_path / "plain"
    assert _run([str(_config(tmp_path, data, epochs=1)), "--out", str(plain)]).returncode == 0
    assert not (plain / "ema.safetensors").exists()
    refused = _run([str(_config(tmp_path, data, ema_decay=0.9, epochs=2)), "--out", str(plain)])
    assert refused.returncode == 2 and "holds no moving average" in refused.stderr, refused.stderr[-2000:]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"batch_sise": 4}, "unknown training settings ['batch_sise']"),
        ({"datasets": []}, "name at least one dataset folder"),
        ({"model": "no-such-model"}, "unknown model config 'no-such-model'"),
        ({"datasets": [{"path": "/nonexistent/data"}]}, "/nonexistent/data"),
        ({"datasets": [{"path": "/some/data", "repeat": 0}]}, "repeat=0 must be an integer >= 1"),
        ({"init": 5}, "init=5 must be packages, random or a checkpoint path"),
        ({"datasets": [{"path": "/a", "weight": 1}, {"path": "/b"}]}, "give every dataset a weight, or none"),
        ({"datasets": [{"path": "/a", "weight": 2, "repeat": 3}]}, "give weight or repeat, not both"),
        ({"datasets": [{"path": "/a", "weight": -1}]}, "weight=-1 must be a number > 0"),
        ({"datasets": [{"path": "/a", "task_mix": [0, 0]}]}, "task_mix=[0, 0] must be 3 numbers"),
        ({"memory_size": -1}, "memory_size=-1 must be >= 0"),
        ({"memory_window": 0}, "memory_window=0 must be >= 1"),
        ({"ema_decay": 1.0}, "ema_decay=1.0 must be in [0, 1)"),
        ({"memory_size": 2, "model": {**TINY, "prune_blocks": [1], "asymmetric": False}},
         "memory_size=2 needs an asymmetric model"),
    ],
)
def test_bad_configs_are_refused_clearly(tmp_path, data, changes, message):
    done = _run([str(_config(tmp_path, data, **changes)), "--out", str(tmp_path / "bad")])
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize(
    "setting, message",
    [("model=no-such-model", "unknown model config 'no-such-model'"), ("epochs", "a setting is KEY=VALUE")],
)
def test_command_line_overrides_are_checked_like_the_file(tmp_path, data, setting, message):
    done = _run([str(_config(tmp_path, data)), "--out", str(tmp_path / "bad"), "--set", setting])
    assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]


def test_committed_run_configs_parse():
    from litetrack_core.training.config import load_train_config

    root = Path(__file__).resolve().parents[2] / "configs/train"
    configs = sorted(root.glob("*.yaml"))
    assert configs, f"no run configs in {root}"
    for path in configs:
        cfg = load_train_config(path)
        assert cfg.total_steps > 0 and cfg.model_config().name


def test_a_checkpoint_init_is_read_relative_to_the_config(tmp_path):
    """As dataset paths are: a second-stage config names the first stage's run folder."""
    from litetrack_core.training.config import load_train_config

    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs/stage2.yaml"
    path.write_text("model: litetrack-s168\ninit: ../runs/stage1/last.safetensors\ndatasets: [../data]\n")
    cfg = load_train_config(path)
    assert cfg.init == str(tmp_path / "runs/stage1/last.safetensors")
    assert [d.path for d in cfg.datasets] == [str(tmp_path / "data")]
    for keyword in ("packages", "random"):
        path.write_text(f"model: litetrack-s168\ninit: {keyword}\ndatasets: [../data]\n")
        assert load_train_config(path).init == keyword


def test_datasets_become_weighted_pools(tmp_path, data):
    """Each dataset is a pool: its weight, or without weights its sequence count times repeat (the
    uniform draw over all sequences); a dataset's own task mix goes with it."""
    from litetrack_core.training.config import load_train_config
    from litetrack_core.training.trainer import _pools

    seqs = str(data)
    path = _config(tmp_path, data, datasets=[
        {"path": seqs, "names": ["jacket", "jacket_reversed"], "repeat": 3},
        {"path": seqs, "names": ["jacket_late"]},
    ])
    pools = _pools(load_train_config(path))
    assert [(len(p.sequences), p.weight, p.task_mix) for p in pools] == [(2, 6.0, None), (1, 1.0, None)]
    path = _config(tmp_path, data, datasets=[
        {"path": seqs, "names": ["jacket", "jacket_reversed"], "weight": 0.7},
        {"path": seqs, "names": ["jacket_late"], "weight": 0.3, "task_mix": [0, 1, 0]},
    ])
    pools = _pools(load_train_config(path))
    assert [(len(p.sequences), p.weight, p.task_mix) for p in pools] == [(2, 0.7, None), (1, 0.3, (0, 1, 0))]


def test_a_diverging_run_stops_at_the_non_finite_step_and_keeps_the_last_good_state(tmp_path, data):
    """A learning rate so large that the weights overflow after one step: the next step's loss is
    not finite. The run stops with an error naming that step, before the optimizer applies it; the
    checkpoint of the step before stays (saved every step here) and nothing after it is written."""
    import torch

    from litetrack_core.weights.checkpoint import read_torch_file

    out = tmp_path / "diverged"
    config = _config(tmp_path, data, lr=1.0e30, warmup_steps=1, save_every=1, epochs=1)
    done = _run([str(config), "--out", str(out)])
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-4000:]
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("error: non-finite loss at step ") and "before the optimizer applied it" in message
    bad_step = int(message.split("at step ")[1].split()[0])
    assert bad_step >= 2, message  # step 1 runs on the initial weights
    assert [m["step"] for m in _metrics(out)] == list(range(1, bad_step))
    state = read_torch_file(out / "last_state.pt")
    assert state["step"] == bad_step - 1 and not (out / "last_state.pt.tmp").exists()
    model, _ = load_model(out / "last.safetensors")
    assert all(torch.isfinite(p).all() for p in model.state_dict().values())
