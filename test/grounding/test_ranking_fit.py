"""`litetrack detector fit`: the proposal ranking (a conditional logit) fitted for a given model on
chosen corpus sequences."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from litetrack_core.cli import main
from litetrack_core.grounding.grounder import WEIGHTS_FILE, RankingWeights
from litetrack_core.training.ranking import _conditional_logit
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


def test_the_conditional_logit_ranks_each_frames_proposals_by_what_tells_the_target():
    """Frames of 2-6 proposals with two features: the first is higher on the target than on any other
    proposal of its frame (but not across frames: a frame's level is random), the second is noise.
    The fit weighs the first and ranks the target first in every frame; the probabilities of a frame's
    proposals sum to 1."""
    rng = np.random.default_rng(0)
    rows, labels, frames = [], [], []
    for _ in range(40):
        n, level = int(rng.integers(2, 7)), rng.normal(0, 3)
        signal = level + rng.uniform(0, 1, n)
        target = int(rng.integers(n))
        signal[target] = signal.max() + 0.2
        rows += [[s, rng.normal()] for s in signal]
        frames.append(slice(len(labels), len(labels) + n))
        labels += [float(i == target) for i in range(n)]
    x, y = np.array(rows), np.array(labels)
    weights = _conditional_logit(x, y, frames)
    assert weights[0] > 5 * abs(weights[1])
    ranking = RankingWeights(tuple(weights), 0.0, (0.0, 0.0, 1.0, 1.0))
    for rows_of_frame in frames:
        p = ranking.probability(x[rows_of_frame])
        assert np.isclose(p.sum(), 1.0) and y[rows_of_frame][np.argmax(p)] == 1.0


def test_weights_of_another_objective_are_refused_with_the_reason(tmp_path):
    packaged = json.loads(WEIGHTS_FILE.read_text())
    old = {k: v for k, v in packaged.items() if k != "objective"} | {"bias": -6.2}  # the earlier logistic file
    path = tmp_path / "ranking.json"
    path.write_text(json.dumps(old))
    with pytest.raises(ValueError, match="refit them with `litetrack detector fit`"):
        RankingWeights.load(path)
    assert RankingWeights.load().weights == tuple(packaged["weights"])
