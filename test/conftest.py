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


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures can add context when a test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
