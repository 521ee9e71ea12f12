"""Checkpoint round trip, format recognition, and clear refusals of bad files."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from conftest import tiny_config
from litetrack_core.cli import main
from litetrack_core.models import create_model
from litetrack_core.models.litetrack import LiteTrack
from litetrack_core.weights.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint


@pytest.fixture(scope="module")
def tiny() -> LiteTrack:
    torch.manual_seed(1)
    return create_model(tiny_config(csa=True))


def _run(model: LiteTrack):
    cfg = model.cfg
    g = torch.Generator().manual_seed(3)
    z = torch.randn(1, 3, cfg.template_size, cfg.template_size, generator=g)
    x = torch.randn(1, 3, cfg.search_size, cfg.search_size, generator=g)
    from litetrack_core.models.text import TokenizedText

    ids = torch.zeros(1, cfg.max_text_tokens, dtype=torch.long)
    ids[0, :4] = torch.tensor([101, 2417, 2482, 102])
    zmask = torch.zeros(1, cfg.template_grid**2, dtype=torch.bool)
    xmask = torch.zeros(1, cfg.search_grid**2, dtype=torch.bool)
    zmask[0, 5] = xmask[0, 40] = True
    with torch.no_grad():
        return model(z, x, TokenizedText(ids, (ids > 0).long()), zmask, xmask, torch.tensor([2]))[1]


def test_round_trip(tiny, tmp_path):
    path = save_checkpoint(tiny, tmp_path / "tiny.safetensors", metadata={"note": "test"})
    assert not list(tmp_path.glob("*.tmp"))
    loaded, report = load_model(path)
    assert loaded.cfg == tiny.cfg
    assert report.format == "litetrack" and report.exact and report.loaded == len(tiny.state_dict())
    a, b = _run(tiny), _run(loaded)
    torch.testing.assert_close(a.bbox_map, b.bbox_map, atol=0, rtol=0)
    torch.testing.assert_close(a.cont_score, b.cont_score, atol=0, rtol=0)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_model(tmp_path / "nope.pth.tar")


def test_garbage_bytes(tmp_path):
    path = tmp_path / "garbage.pth.tar"
    path.write_bytes(b"\x00not a checkpoint" * 100)
    with pytest.raises(CheckpointError, match="not a readable PyTorch file"):
        load_model(path)


def test_truncated_safetensors(tiny, tmp_path):
    path = save_checkpoint(tiny, tmp_path / "t.safetensors")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_model(path)


class Payload:
    def __reduce__(self):  # what a malicious checkpoint would do on unpickling
        return (print, ("this must never run",))


def test_pickled_objects_are_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth.tar"
    torch.save({"net": {"w": torch.zeros(1)}, "x": Payload()}, path)
    with pytest.raises(CheckpointError, match=r"Python object \(print\).*refusing to unpickle"):
        load_model(path)
    assert "this must never run" not in capsys.readouterr().out


def test_wrong_format_is_named(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a UVLTrack/LiteTrack checkpoint"):
        load_model(path)
    mae = tmp_path / "mae.pth"
    torch.save({"model": {"blocks.0.norm1.weight": torch.ones(3)}}, mae)
    with pytest.raises(CheckpointError, match="MAE ViT file"):
        load_model(mae)
    nested = tmp_path / "nested.pth"
    torch.save({"net": {"a": {"b": torch.zeros(1)}}}, nested)
    with pytest.raises(CheckpointError, match="not a checkpoint of a known format"):
        load_model(nested)


def test_safetensors_without_config(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="no 'config' metadata"):
        load_model(path)


def test_shape_mismatch_lists_the_entries(tiny, tmp_path):
    path = save_checkpoint(tiny, tmp_path / "tiny.safetensors")
    other = create_model(tiny_config(csa=True, head_channels=16))
    with pytest.raises(CheckpointError, match=r"100 shapes disagree(.|\n)*head\.offset\.0\.0\.weight: file \(32, 64, 3, 3\) vs model \(16, 64, 3, 3\)"):
        load_checkpoint(other, path)


def test_missing_entries_fail_strict_and_are_reported_otherwise(tiny, tmp_path):
    path = save_checkpoint(tiny, tmp_path / "tiny.safetensors")
    no_csa = create_model(tiny_config(csa=False))
    with pytest.raises(CheckpointError, match="unexpected: blocks.0.attn.csa.fc1.bias"):
        load_checkpoint(no_csa, path)
    report = load_checkpoint(no_csa, path, strict=False)
    assert len(report.unexpected) == 4 * no_csa.cfg.depth and not report.missing


def test_cli_checkpoint_report(tiny, tmp_path, capsys):
    path = save_checkpoint(tiny, tmp_path / "tiny.safetensors")
    assert main(["checkpoint", str(path)]) == 0
    out = capsys.readouterr().out
    assert "format litetrack" in out and "0 missing, 0 unexpected" in out
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"junk")
    assert main(["checkpoint", str(bad)]) == 2
    assert "not a readable PyTorch file" in capsys.readouterr().err
