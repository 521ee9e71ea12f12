"""Shared test fixtures: where the real data lives, and small model configs.

Real frames come from the packaged clip (``clip``) and the UVLTrack conformance fixture from
test/fixtures, so every test runs from a clone alone. Only the tests that evaluate on the seven
development sequences read ../shared/data (``shared_data``); they are the only ones allowed to skip
without it. With LITETRACK_NO_SKIPS=1 (the second run of .ci/run), any other skip fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from litetrack_core.models import ModelConfig

from litetrack_core.clips import PEDESTRIAN

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CONFORMANCE = REPO / "test" / "fixtures" / "conformance" / "uvltrack_base"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repository: the seven development sequences. For dev-set tests only."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"dev-set test: the development sequences are not at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def clip() -> Path:
    """The packaged real clip (litetrack_core/clips/vtest_pale_jacket): 100 frames 640x480,
    groundtruth.txt, language.txt."""
    return PEDESTRIAN


@pytest.fixture(scope="session")
def conformance() -> Path:
    """The UVLTrack conformance fixture (rule, inputs, reference outputs), kept in the repository."""
    return CONFORMANCE


@pytest.fixture(scope="session")
def uvltrack_rule(conformance, tmp_path_factory):
    """(UVLTrack-Base model with the conformance fixture's rule weights, loaded from a .pth.tar
    through our reader, its load report, fixture folder). About 1.5 GB; built once per session."""
    from conformance_rule import reference_state_dict
    from litetrack_core.weights.checkpoint import load_model

    folder = conformance
    state, mismatched = reference_state_dict(folder)
    assert not mismatched, f"weights rule disagrees with state_dict_keys.tsv for {mismatched[:5]}"
    path = tmp_path_factory.mktemp("ckpt") / "uvltrack_rule.pth.tar"
    torch.save({"net": state, "epoch": 300}, path)
    model, report = load_model(path)
    path.unlink()  # 650 MB that no test reads again
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
    if report.skipped and os.environ.get("LITETRACK_NO_SKIPS") == "1" and "shared_data" not in item.fixturenames:
        # Only dev-set tests may skip; anything else that skips here would hide a missing install step.
        report.outcome = "failed"
        report.longrepr = f"skipped, but only dev-set tests may skip (LITETRACK_NO_SKIPS=1): {report.longrepr}"
    setattr(item, f"rep_{report.when}", report)
    return report
