"""Words -> box through object proposals: the detector's boxes of the class a sentence names, ranked
by the rest of the sentence.

For each proposal of the named class, eight features (``FEATURES``):
    detector   the detector's score
    relative   that score over the class's best score on the frame
    colour     share of the proposal's pixels of the sentence's colour terms (0 without colour words)
    colour_relative  that share over the class's best share on the frame (the best-matching colour
               stands out whatever the lighting; 0 without colour words)
    position   closeness of the proposal's centre to where the position words point (0 without)
    size       agreement of the proposal's size rank with "big"/"small" words (0 without)
    area       log of its area over the class's largest proposal (named targets tend to be salient)
    model      the tracking model's own text-to-region score: its grounding map's peak in the box
combined by weights fitted on the real corpus's grounding frames (``training/ranking.py``; never on
the evaluation sequences) into a score whose softmax over the frame's proposals of the named class is
the probability that the proposal is the target (a conditional logit: it ranks the proposals of one
frame against each other, which is the choice grounding makes). The best proposal wins
if that probability reaches ``min_probability``; otherwise (or when no class is named, or none of
its proposals is found) the caller grounds with the model alone. When the sentence names a part of a
person ("the face of the girl"), the box is placed on the best person's head keypoints (``pose.py``),
with a place also fitted on the corpus.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from litetrack_core.grounding.colour import colour_share
from litetrack_core.grounding.detector import Detector, Proposal
from litetrack_core.grounding.pose import PoseEstimator, part_box
from litetrack_core.grounding.sentence import ParsedSentence, SentenceReader
from litetrack_core.grounding.vocabulary import COCO_CLASSES, POSITION_WORDS

__all__ = ["FEATURES", "Grounding", "ProposalGrounder", "RankingWeights", "features"]

Box = tuple[float, float, float, float]
RegionScore = Callable[[Box], float]
FEATURES = ("detector", "relative", "colour", "colour_relative", "position", "size", "area", "model")
WEIGHTS_FILE = Path(__file__).with_name("ranking.json")
# What the weights were fitted for; a file of another objective (the earlier logistic one) is refused.
OBJECTIVE = "softmax over the frame's proposals"
_PERSON = COCO_CLASSES.index("person")


@dataclass(frozen=True)
class Grounding:
    """Where words put the target: box (x, y, w, h) pixels, the probability that it is the target,
    the class the sentence named, and how many proposals of it were ranked."""

    box_xywh_px: Box
    probability: float
    class_name: str
    candidates: int


@dataclass(frozen=True)
class RankingWeights:
    """Weights of ``FEATURES`` (a conditional logit: softmax of the weighted sum over one frame's
    proposals); the acceptance threshold; and the place of a part word's box relative to its person's
    head keypoints (``pose.part_box``): centre offset, width, height in units of the keypoints' span."""

    weights: tuple[float, ...]
    min_probability: float
    part_place: tuple[float, float, float, float]

    @classmethod
    def load(cls, path: str | Path | None = None) -> "RankingWeights":
        data = json.loads(Path(path or WEIGHTS_FILE).read_text())
        if data.get("features") != list(FEATURES):
            raise ValueError(f"{path or WEIGHTS_FILE}: weights are for features {data.get('features')}, not {list(FEATURES)}")
        if data.get("objective") != OBJECTIVE:
            raise ValueError(f"{path or WEIGHTS_FILE}: weights of objective {data.get('objective', 'logistic')!r}, "
                             f"not {OBJECTIVE!r}: refit them with `litetrack detector fit`")
        return cls(tuple(data["weights"]), float(data["min_probability"]),
                   tuple(float(v) for v in data["part_place"]))

    def save(self, path: str | Path, **notes) -> None:
        Path(path).write_text(json.dumps({
            "features": list(FEATURES), "objective": OBJECTIVE, "weights": [round(w, 5) for w in self.weights],
            "min_probability": self.min_probability,
            "part_place": [round(v, 4) for v in self.part_place], **notes,
        }, indent=1) + "\n")

    def probability(self, feats: np.ndarray) -> np.ndarray:
        """(N,) probabilities, summing to 1, of the N proposals of one frame (``features``' rows)."""
        return softmax(feats @ np.asarray(self.weights))


def softmax(scores: np.ndarray) -> np.ndarray:
    """Softmax of a 1-D array (shifted by its maximum: no overflow)."""
    if not scores.size:
        return scores
    e = np.exp(scores - scores.max())
    return e / e.sum()


def features(frame: np.ndarray, parsed: ParsedSentence, proposals: list[Proposal], region: RegionScore | None) -> np.ndarray:
    """(N, len(FEATURES)) features of proposals (all of the named class) on an RGB uint8 frame."""
    height, width = frame.shape[:2]
    best = max((p.score for p in proposals), default=1.0)
    areas = np.array([p.box_xywh_px[2] * p.box_xywh_px[3] for p in proposals])
    largest = max(areas.max(initial=0.0), 1e-9)
    # Size rank in [-1, 1]: -1 the smallest proposal, +1 the largest.
    ranks = (np.argsort(np.argsort(areas)) / max(1, len(areas) - 1)) * 2 - 1 if len(areas) > 1 else np.zeros(len(areas))
    colours = [colour_share(frame, p.box_xywh_px, parsed.colours) for p in proposals]
    best_colour = max(colours, default=0.0)
    rows = []
    for p, rank, colour in zip(proposals, ranks, colours):
        x, y, w, h = p.box_xywh_px
        cx, cy = (x + w / 2) / width, (y + h / 2) / height
        closeness = []
        for word in parsed.positions:
            axis, aim = POSITION_WORDS[word]
            if axis == "c":
                closeness.append(1 - math.hypot(cx - 0.5, cy - 0.5) / math.hypot(0.5, 0.5))
            else:
                closeness.append(1 - abs((cx if axis == "x" else cy) - aim))
        rows.append([
            p.score,
            p.score / best,
            colour,
            colour / best_colour if best_colour > 0 else 0.0,
            float(np.mean(closeness)) if closeness else 0.0,
            parsed.size * rank,
            max(-5.0, math.log(max(w * h, 1e-9) / largest)),
            region(p.box_xywh_px) if region is not None else 0.0,
        ])
    return np.array(rows, dtype=np.float64).reshape(-1, len(FEATURES))


class ProposalGrounder:
    """Grounds sentences on frames with the detector's proposals (see the module docstring).

    detector, reader, pose: made on first use when not given (the detector and the pose model from
    the installed files, the process's shared sentence reader), so that a tracker that never grounds
    never loads them. weights: the packaged fitted ranking when not given.
    """

    def __init__(
        self, detector: Detector | None = None, reader: SentenceReader | None = None,
        weights: RankingWeights | None = None, pose: PoseEstimator | None = None,
    ) -> None:
        self._detector, self._reader, self._pose = detector, reader, pose
        self.weights = weights or RankingWeights.load()

    @property
    def detector(self) -> Detector:
        if self._detector is None:
            self._detector = Detector()
        return self._detector

    @property
    def pose(self) -> PoseEstimator:
        if self._pose is None:
            self._pose = PoseEstimator()
        return self._pose

    @property
    def reader(self) -> SentenceReader:
        if self._reader is None:
            from litetrack_core.grounding.sentence import shared_reader

            self._reader = shared_reader()
        return self._reader

    def __call__(self, frame: np.ndarray, sentence: str, region: RegionScore | None = None) -> Grounding | None:
        """The target named by ``sentence`` on an RGB uint8 frame, or None when the proposals cannot
        say (no class named, none of its proposals, or the best below ``min_probability``).
        ``region``: the model's text-to-region score of a box, when the caller has it."""
        return self.sure(self.rank(frame, sentence, region, top=1))

    def sure(self, ranked: list[Grounding]) -> Grounding | None:
        """The first of ``rank``'s list if its probability reaches ``min_probability``, else None."""
        if not ranked or ranked[0].probability < self.weights.min_probability:
            return None
        return ranked[0]

    def rank(self, frame: np.ndarray, sentence: str, region: RegionScore | None = None, top: int = 3) -> list[Grounding]:
        """The ``top`` proposals of the named class, most probable first, whatever their probability
        (part words: each placed on that person's head); [] when no class is named or none is found.
        For callers that weigh the candidates with more than the sentence (the target memory)."""
        parsed = self.reader(sentence)
        if parsed.class_index is None:
            return []
        proposals = [p for p in self.detector(frame) if p.class_index == parsed.class_index]
        if not proposals:
            return []
        probability = self.weights.probability(features(frame, parsed, proposals, region))
        ranked = []
        for i in np.argsort(-probability, kind="stable")[:top]:
            box = proposals[i].box_xywh_px
            if parsed.part is not None and parsed.class_index == _PERSON:
                box = part_box(self.pose(frame, box), self.weights.part_place)
            ranked.append(Grounding(box, float(probability[i]), COCO_CLASSES[parsed.class_index], len(proposals)))
        return ranked
