"""Shared test fixtures: where the real data lives, and small model configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from litetrack_core.models import ModelConfig

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repository (real sequences and the conformance fixture)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def uvltrack_rule(shared_data, tmp_path_factory):
    """(UVLTrack-Base model with the conformance fixture's rule weights, loaded from a .pth.tar
    through our reader, its load report, fixture folder). About 1.5 GB; built once per session."""
    from conformance_rule import reference_state_dict
    from litetrack_core.weights.checkpoint import load_model

    folder = shared_data / "conformance" / "uvltrack_base"
    state, mismatched = reference_state_dict(folder)
    assert not mismatched, f"weights rule disagrees with state_dict_keys.tsv for {mismatched[:5]}"
    path = tmp_path_factory.mktemp("ckpt") / "uvltrack_rule.pth.tar"
    torch.save({"net": state, "epoch": 300}, path)
    model, report = load_model(path)
    return model, report, folder


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


def tiny_config(**changes) -> ModelConfig:
    """A 4-block, width-64 model: same code paths as the full model at a fraction of the cost."""
    base = dict(
        name="tiny",
        embed_dim=64,
        depth=4,
        num_heads=4,
        fusion_start=2,
        contrastive_start=1,
        text_heads=4,
        text_intermediate=128,
        head_channels=32,
        template_size=64,
        search_size=128,
        csa_hidden=8,
    )
    base.update(changes)
    return ModelConfig(**base)


# Real-looking WordPiece ids: [CLS] the red car on [SEP]; [CLS] a person walking [SEP].
SENTENCES = ([101, 1996, 2417, 2482, 2006, 102], [101, 1037, 2711, 3788, 102])


def tiny_model(**changes):
    """A seeded tiny model (see ``tiny_config``)."""
    from litetrack_core.models import create_model

    torch.manual_seed(0)
    return create_model(tiny_config(**changes))


def tiny_inputs(cfg: ModelConfig, batch: int = 1, seed: int = 0):
    """Random template / search crops, token ids of ``SENTENCES``, a few cells in the box:
    (template, search, TokenizedText, template_mask, context_mask)."""
    from litetrack_core.models.text import TokenizedText

    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, 3, cfg.template_size, cfg.template_size, generator=g)
    x = torch.randn(batch, 3, cfg.search_size, cfg.search_size, generator=g)
    ids = torch.zeros(batch, cfg.max_text_tokens, dtype=torch.long)
    for i in range(batch):
        words = SENTENCES[(seed + i) % len(SENTENCES)]
        ids[i, : len(words)] = torch.tensor(words)
    zmask = torch.zeros(batch, cfg.template_grid**2, dtype=torch.bool)
    xmask = torch.zeros(batch, cfg.search_grid**2, dtype=torch.bool)
    zmask[:, 5:7] = True
    xmask[:, 27:29] = True
    return z, x, TokenizedText(ids, (ids > 0).long()), zmask, xmask


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures can add context when a test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
