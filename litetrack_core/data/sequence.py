"""One tracking video with its annotation, as every dataset reader returns it (``load.load_dataset``).

Ground truth is (N, 4) float64 x, y, w, h in pixels, top-left origin, one row per frame. Frames are
read lazily, as RGB uint8 (H, W, 3); ``Sequence.frame`` raises OSError for a file that cannot be
decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["IMAGE_SUFFIXES", "Sequence", "read_rgb"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True, eq=False)
class Sequence:
    """One video with its annotation.

    name: unique within the dataset. frame_paths: image files in frame order.
    ground_truth: (N, 4) float64 x, y, w, h pixels. language: one sentence naming the target (the
    first of ``sentences``), or None. absent: (N,) bool, True where the target is not visible (flagged,
    or invalid ground truth). sentences: every sentence of the sequence's sentence file (one a line),
    all describing the target in its first frame. grounding_frames: 0-based frames where the first
    sentence still holds (``grounding.txt``), or None when the sequence does not say. category: what
    the target is (``category.txt``: "person", "vehicle", ...), or None when the sequence does not say.
    """

    name: str
    frame_paths: tuple[Path, ...]
    ground_truth: np.ndarray
    language: str | None
    absent: np.ndarray
    sentences: tuple[str, ...] = ()
    grounding_frames: tuple[int, ...] | None = None
    category: str | None = None

    def __post_init__(self) -> None:
        n = len(self.frame_paths)
        if self.ground_truth.shape != (n, 4):
            raise ValueError(f"ground_truth of {self.name!r} must have shape ({n}, 4), got {self.ground_truth.shape}")
        if self.absent.shape != (n,):
            raise ValueError(f"absent of {self.name!r} must have shape ({n},), got {self.absent.shape}")
        # The first sentence is ``language``: replacing ``language`` (dataclasses.replace) updates both.
        if self.language is None:
            object.__setattr__(self, "sentences", ())
        elif not self.sentences or self.sentences[0] != self.language:
            object.__setattr__(self, "sentences", (self.language, *self.sentences[1:]))
        if self.grounding_frames is not None and not all(0 <= i < n for i in self.grounding_frames):
            raise ValueError(f"grounding_frames of {self.name!r} must lie in 0..{n - 1}, got {self.grounding_frames}")

    def __len__(self) -> int:
        return len(self.frame_paths)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as an RGB uint8 (H, W, 3) array. Raises OSError if the file cannot be decoded."""
        return read_rgb(self.frame_paths[index], f"frame {index} of {self.name!r}")


def read_rgb(path: Path, what: str) -> np.ndarray:
    """The image at ``path`` as RGB uint8 (H, W, 3); OSError naming ``what`` if it cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"cannot read {what} from {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
