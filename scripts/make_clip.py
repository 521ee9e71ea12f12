"""Makes the packaged clip (litetrack_core/clips/vtest_pale_jacket) from OpenCV's vtest.avi.

Run once, by hand, with Debian's opencv-doc installed; the result is committed and this script
says how it was made. Frames 118-217 of vtest.avi (10 Hz, 768x576, a fixed camera over a
crossing), resized to 640x480 and written as JPEG. The boxes follow the person in the pale blue
jacket who walks in from the right edge, passes behind the lamp post and leaves on the left.

Boxes: KEY holds a box set by eye on every fifth frame (the detector's person box, looked at on
the frame with every detection drawn, or one drawn by hand where none held the whole person). On
the frames between, the shipped COCO detector's person box is taken where it overlaps the box
interpolated between the keys by MIN_IOU or more, the interpolated box otherwise; while the person
is behind the lamp post (BEHIND) only the interpolation is used. Every tenth frame and every
occluded one was then looked at with its box drawn (``--sheet`` writes the tenth frames).

    python scripts/make_clip.py [--video /usr/share/doc/opencv-doc/examples/data/vtest.avi] [--sheet sheet.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from litetrack_core.grounding.detector import Detector

VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
OUT = Path(__file__).resolve().parents[1] / "litetrack_core" / "clips" / "vtest_pale_jacket"
FIRST, COUNT = 118, 100  # 1-based frame numbers of vtest.avi
SIZE = (640, 480)
# Boxes set by eye (x, y, w, h, 640x480 pixels) on every fifth frame (1-based clip frame numbers),
# each the detector's box of the person where it holds the whole person; 16 is set by hand (the
# walker in black covers the lower half), 36 is left out (behind the lamp post and a passer-by).
KEY = {
    1: (593.6, 189.7, 37.5, 68.4), 6: (555.1, 179.0, 25.3, 70.8), 11: (519.3, 174.4, 26.3, 67.3),
    16: (482.0, 165.0, 28.0, 70.0), 21: (449.7, 163.1, 36.8, 65.7), 26: (419.9, 160.0, 30.8, 62.6),
    31: (379.5, 151.7, 35.5, 67.0), 41: (313.3, 145.1, 27.8, 60.5), 46: (279.2, 145.2, 29.0, 58.3),
    51: (246.0, 140.4, 32.4, 59.5), 56: (214.0, 138.2, 29.9, 58.4), 61: (184.2, 137.0, 24.7, 55.2),
    66: (156.4, 136.1, 31.1, 54.6), 71: (128.5, 131.5, 27.4, 55.3), 76: (102.9, 133.2, 28.2, 50.7),
    81: (81.2, 128.3, 22.9, 53.6), 86: (56.7, 127.1, 23.0, 52.0), 91: (32.8, 124.2, 21.6, 47.9),
    96: (17.6, 125.3, 21.2, 47.3), 100: (1.8, 121.7, 21.3, 47.7),
}
BEHIND = range(32, 41)  # behind the lamp post and passers-by: interpolated, no detection taken
MIN_IOU = 0.5  # a detection replaces the interpolated box when it overlaps it this much
MIN_SCORE = 0.1  # the walker scores 0.15-0.25 while half in view or beside another person


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = np.maximum(a[:2], b[:2])
    x2, y2 = np.minimum(a[:2] + a[2:], b[:2] + b[2:])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _frames(video: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    frames, index = [], 0
    while len(frames) < COUNT:
        ok, bgr = cap.read()
        if not ok:
            raise SystemExit(f"error: {video} ended at frame {index}")
        index += 1
        if index >= FIRST:
            frames.append(cv2.resize(bgr, SIZE, interpolation=cv2.INTER_AREA))
    return frames


def _boxes(frames: list[np.ndarray]) -> np.ndarray:
    keys = np.array(sorted(KEY))
    boxes = np.stack([np.interp(np.arange(1, len(frames) + 1), keys, [KEY[k][c] for k in keys]) for c in range(4)], axis=1)
    detector = Detector()
    interpolated = []
    for i in range(len(frames)):
        if i + 1 in KEY:
            continue
        if i + 1 in BEHIND:
            interpolated.append(i + 1)
            continue
        people = [np.array(p.box_xywh_px) for p in detector(cv2.cvtColor(frames[i], cv2.COLOR_BGR2RGB)) if p.class_index == 0 and p.score > MIN_SCORE]
        overlaps = [_iou(boxes[i], p) for p in people]
        if overlaps and max(overlaps) >= MIN_IOU:
            boxes[i] = people[int(np.argmax(overlaps))]
        else:
            interpolated.append(i + 1)
    print(f"{len(KEY)} boxes set by eye, {len(interpolated)} interpolated: {interpolated}")
    return boxes


def _sheet(frames: list[np.ndarray], boxes: np.ndarray, path: Path) -> None:
    tiles = []
    for i in range(4, len(frames), 10):
        x, y, w, h = boxes[i]
        cx, cy = x + w / 2, y + h / 2
        crop_x = int(np.clip(cx - 80, 0, SIZE[0] - 160))
        crop_y = int(np.clip(cy - 80, 0, SIZE[1] - 160))
        tile = frames[i].copy()
        cv2.rectangle(tile, (round(x), round(y)), (round(x + w), round(y + h)), (0, 0, 255), 1)
        tile = cv2.resize(tile[crop_y:crop_y + 160, crop_x:crop_x + 160], (320, 320), interpolation=cv2.INTER_NEAREST)
        cv2.putText(tile, str(i + 1), (4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 255), 2)
        tiles.append(tile)
    rows = [np.hstack(tiles[r:r + 5]) for r in range(0, len(tiles), 5)]
    cv2.imwrite(str(path), np.vstack(rows))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", type=Path, default=VIDEO)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--sheet", type=Path, help="also write every tenth frame's box, enlarged, to this PNG")
    args = p.parse_args()
    frames = _frames(args.video)
    boxes = _boxes(frames)
    (args.out / "img").mkdir(parents=True, exist_ok=True)
    for i, bgr in enumerate(frames):
        cv2.imwrite(str(args.out / "img" / f"{i + 1:06d}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 75])
    np.savetxt(args.out / "groundtruth.txt", boxes, fmt="%.1f", delimiter=",")
    if args.sheet:
        _sheet(frames, boxes, args.sheet)


if __name__ == "__main__":
    main()
