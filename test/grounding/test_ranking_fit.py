"""`litetrack detector fit`: the proposal ranking fitted for a given model on chosen corpus sequences."""

from __future__ import annotations

import json
import shutil

import pytest

from litetrack_core.cli import main
from litetrack_core.weights.checkpoint import DEFAULT_CHECKPOINT


@pytest.fixture(scope="module")
def corpus(clip, tmp_path_factory):
    """Two corpus sequences made of the packaged clip (its frames, boxes and sentence), each with
    grounding frames (1-based, as `litetrack data real` writes grounding.txt): 3 in one, 2 in the other."""
    root = tmp_path_factory.mktemp("corpus")
    for name, frames in (("walker", "1\n11\n41\n"), ("walker_again", "61\n81\n")):
        shutil.copytree(clip / "img", root / name / "img")
        for file in ("groundtruth.txt", "language.txt"):
            shutil.copy(clip / file, root / name / file)
        (root / name / "grounding.txt").write_text(frames)
    return root


def test_fit_reads_only_the_named_sequences_with_the_given_model(corpus, tmp_path):
    out = tmp_path / "ranking.json"
    assert main(["detector", "fit", "--corpus", str(corpus), "--sequences", "walker",
                 "--checkpoint", str(DEFAULT_CHECKPOINT), "--out", str(out)]) == 0
    fitted = json.loads(out.read_text())
    assert fitted["fit"]["frames"] == 3 and fitted["fitted_on"].startswith("1 sequences of corpus")
    assert fitted["model"] == str(DEFAULT_CHECKPOINT)


def test_fit_refuses_a_missing_model_or_unknown_sequences(corpus, tmp_path, capsys):
    out = tmp_path / "ranking.json"
    missing = tmp_path / "missing.safetensors"
    assert main(["detector", "fit", "--corpus", str(corpus), "--checkpoint", str(missing), "--out", str(out)]) == 2
    assert str(missing) in capsys.readouterr().err
    assert main(["detector", "fit", "--corpus", str(corpus), "--sequences", "nowhere", "--out", str(out)]) == 2
    assert "no sequence with grounding frames and a sentence" in capsys.readouterr().err
    assert not out.exists()
