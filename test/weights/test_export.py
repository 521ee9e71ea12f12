"""The shippable checkpoint form: only what training changed, float16, package weights left out."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from litetrack_core.models.freezing import apply_litetrack_freezing
from litetrack_core.weights.checkpoint import CheckpointError, export_checkpoint, load_model
from litetrack_core.weights.pretrained import create_pretrained_model

SHIPPING_LIMIT = 30 * 2**20  # bytes: the ceiling for a committed checkpoint


@pytest.fixture(scope="module")
def trained():
    """litetrack-s168 from its packages, its trainable part moved (standing in for training)."""
    model = create_pretrained_model("litetrack-s168")
    apply_litetrack_freezing(model)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * 0.01)
    return model


def test_export_keeps_what_training_changed_and_reloads(trained, tmp_path):
    path, omitted = export_checkpoint(trained, tmp_path / "s168.safetensors")
    with safe_open(path, framework="pt") as f:
        stored, meta = set(f.keys()), f.metadata()
        dtypes = {f.get_tensor(k).dtype for k in stored}
    frozen = {n for n, p in trained.named_parameters() if not p.requires_grad}
    trainable = {n for n, p in trained.named_parameters() if p.requires_grad}
    assert meta["base"] == "packages" and json.loads(meta["config"])["name"] == "litetrack-s168"
    assert stored.isdisjoint(frozen) and trainable <= stored
    assert omitted == len(trained.state_dict()) - len(stored) >= len(frozen)
    assert dtypes <= {torch.float16, torch.int64}
    assert path.stat().st_size < SHIPPING_LIMIT

    loaded, report = load_model(path)
    assert report.exact, str(report)
    want = trained.state_dict()
    for name, value in loaded.state_dict().items():
        expected = want[name].half().float() if name in stored and value.is_floating_point() else want[name]
        assert torch.equal(value, expected), name


def test_unknown_base_is_refused(trained, tmp_path):
    path = tmp_path / "odd.safetensors"
    meta = {"config": json.dumps(trained.cfg.to_dict()), "format": "litetrack", "base": "the-internet"}
    save_file({"logit_scale": torch.zeros(())}, path, metadata=meta)
    with pytest.raises(CheckpointError, match="unknown base 'the-internet'"):
        load_model(path)


def test_a_file_missing_trained_entries_is_reported(trained, tmp_path):
    """Entries neither in the file nor from the packages are missing: strict loading refuses."""
    path, _ = export_checkpoint(trained, tmp_path / "full.safetensors")
    with safe_open(path, framework="pt") as f:
        state, meta = {k: f.get_tensor(k) for k in f.keys()}, f.metadata()
    name = sorted(k for k in state if k.startswith("head."))[0]
    del state[name]
    cut = tmp_path / "cut.safetensors"
    save_file(state, cut, metadata=meta)
    with pytest.raises(CheckpointError, match=f"missing: {name}"):
        load_model(cut)


def test_several_checkpoints_export_as_their_average(trained, tmp_path):
    """`litetrack export weights A B OUT`: a uniform soup of two runs from one start, then the
    shippable form; the mean is taken in float32 before the float16 cast."""
    from litetrack_core.cli import main
    from litetrack_core.weights.checkpoint import save_checkpoint

    other = create_pretrained_model("litetrack-s168")
    other.load_state_dict(trained.state_dict())
    name = next(n for n, p in trained.named_parameters() if p.requires_grad)
    counter = next(n for n in trained.state_dict() if n.endswith(".num_batches_tracked"))
    with torch.no_grad():
        dict(other.named_parameters())[name].add_(1.0)
        dict(other.named_buffers())[counter].add_(7)  # runs of other seeds count batches differently
    a, b = save_checkpoint(trained, tmp_path / "a.safetensors"), save_checkpoint(other, tmp_path / "b.safetensors")

    assert main(["export", "weights", str(a), str(b), str(tmp_path / "soup.safetensors")]) == 0
    soup, report = load_model(tmp_path / "soup.safetensors")
    assert report.exact, str(report)
    got = soup.state_dict()
    want = (trained.state_dict()[name] + other.state_dict()[name]) / 2
    assert torch.equal(got[name], want.half().float())
    untouched = next(n for n, p in trained.named_parameters() if p.requires_grad and n != name)
    assert torch.equal(got[untouched], trained.state_dict()[untouched].half().float())
    assert got[counter] == trained.state_dict()[counter] + 7  # the largest count


def test_checkpoints_of_other_configs_are_not_averaged(trained, tmp_path, capsys):
    from litetrack_core.cli import main
    from litetrack_core.models.factory import create_model
    from litetrack_core.weights.checkpoint import save_checkpoint

    a = save_checkpoint(trained, tmp_path / "a.safetensors")
    b = save_checkpoint(create_model("litetrack-e192"), tmp_path / "b.safetensors")
    assert main(["export", "weights", str(a), str(b), str(tmp_path / "soup.safetensors")]) == 2
    assert "cannot average models of configs 'litetrack-s168' and 'litetrack-e192'" in capsys.readouterr().err
    assert not (tmp_path / "soup.safetensors").exists()
