"""A small stand-in for a public repository, for the tests of ``litetrack data real``: a git repository
built from the real frames of the packaged clip, with sequences in every box format the manifest knows and the broken
cases the materialiser must name (a bad box line, a box outside its frame, a missing frame, a Git LFS
pointer)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np

from litetrack_core.data.hashing import dhash64, sha1_hex

REPO_NAME = "example-org/tracking-demos"
FRAMES = 8
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 12345\n"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "init.defaultBranch=main", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )
    return done.stdout.strip()


def _boxes_text(boxes: np.ndarray) -> str:
    return "".join(",".join(f"{v:g}" for v in b) + "\n" for b in boxes)


def _hashes(path: Path) -> dict:
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return {"sha1": sha1_hex(path.read_bytes()), "dhash": dhash64(image)}


def _entry(name: str, work: Path, frames: str, first: int, boxes: str, box_format: str, **extra) -> dict:
    files = sorted((work / frames).iterdir())
    by_number = {int("".join(c for c in f.stem if c.isdigit())): f for f in files}
    last = first + FRAMES - 1
    return {
        "name": name, "dataset": "test", "original_name": name, "category": "person", "repository": REPO_NAME, "commit": "0" * 40,
        "frames": frames, "frame_range": [first, last], "boxes": boxes, "box_format": box_format,
        "frame_count": FRAMES, "licence": "test data", "first_frame": _hashes(by_number[first]),
        "last_frame": _hashes(by_number.get(last, by_number[max(by_number)])),
        "sentences": [f"the pedestrian of {name}", "a person walking"], "grounding_frames": [1, 3, 5], **extra,
    }


def build_demo_repository(seq: Path, root: Path):
    """Build the repository under ``root/owner/name`` (so ``root`` is a mirror folder) from the first
    frames of ``seq``, a sequence folder of this project's layout (the packaged clip): (its work tree,
    its commit, manifest entries as dicts, the boxes of the frames used)."""
    src_frames = sorted((seq / "img").glob("*.jpg"))[:FRAMES]
    gt = np.loadtxt(seq / "groundtruth.txt", delimiter=",")[:FRAMES]
    work = root / REPO_NAME
    work.mkdir(parents=True)

    def frames_into(folder: str, first: int, digits: int = 4) -> None:
        (work / folder).mkdir(parents=True)
        for k, path in enumerate(src_frames):
            shutil.copy(path, work / folder / f"{first + k:0{digits}d}.jpg")

    entries = []
    # OTB-like, starting at frame 3 of the folder (annotated part, as OTB David), boxes with tabs.
    frames_into("otb/Walker/img", 3)
    (work / "otb/Walker/groundtruth_rect.txt").write_text(_boxes_text(gt).replace(",", "\t"))
    entries.append(_entry("walker_test", work, "otb/Walker/img", 3, "otb/Walker/groundtruth_rect.txt", "xywh"))
    # DAVIS-like: PNG masks numbered from 0, filled rectangles of the dev boxes.
    frames_into("davis/JPEGImages/walker", 0, 5)
    (work / "davis/Annotations/walker").mkdir(parents=True)
    height, width = cv2.imread(str(src_frames[0])).shape[:2]
    for k, (x, y, w, h) in enumerate(gt.astype(int)):
        mask = np.zeros((height, width), np.uint8)
        if k != 2:  # frame 2: an empty mask (target absent)
            mask[y : y + h, x : x + w] = 1
        cv2.imwrite(str(work / f"davis/Annotations/walker/{k:05d}.png"), mask)
    (work / "refs.csv").write_text("video;instance;expression\nwalker;1;a walking pedestrian seen from above\n")
    entries.append(_entry("walker_masks", work, "davis/JPEGImages/walker", 0, "davis/Annotations/walker", "mask",
                          published={"repository": REPO_NAME, "commit": "0" * 40, "path": "refs.csv", "line": 2,
                                     "separator": ";", "field": 2}))
    # TLP-like: frame,x,y,w,h,lost; frame 4 lost.
    frames_into("tlp/Walker/img", 1, 5)
    lost = np.zeros(FRAMES)
    lost[3] = 1
    rows = np.column_stack([np.arange(1, FRAMES + 1), gt, lost])
    (work / "tlp/Walker/groundtruth_rect.txt").write_text(_boxes_text(rows))
    entries.append(_entry("walker_tlp", work, "tlp/Walker/img", 1, "tlp/Walker/groundtruth_rect.txt", "tlp"))
    # Broken: a box line that is not numbers.
    frames_into("broken/box/img", 1)
    bad = _boxes_text(gt).splitlines(keepends=True)
    bad[4] = "12,abc,30,40\n"
    (work / "broken/box/groundtruth_rect.txt").write_text("".join(bad))
    entries.append(_entry("bad_box", work, "broken/box/img", 1, "broken/box/groundtruth_rect.txt", "xywh"))
    # Broken: the box of frame 7 lies outside the frame.
    frames_into("broken/outside/img", 1)
    far = gt.copy()
    far[6] = (5000, 5000, 20, 20)
    (work / "broken/outside/groundtruth_rect.txt").write_text(_boxes_text(far))
    entries.append(_entry("box_outside", work, "broken/outside/img", 1, "broken/outside/groundtruth_rect.txt", "xywh"))
    # Broken: frame 6 missing.
    frames_into("broken/missing/img", 1)
    (work / "broken/missing/img/0006.jpg").unlink()
    (work / "broken/missing/groundtruth_rect.txt").write_text(_boxes_text(gt))
    entries.append(_entry("missing_frame", work, "broken/missing/img", 1, "broken/missing/groundtruth_rect.txt", "xywh"))
    # Broken: frame 3 is a Git LFS pointer.
    frames_into("broken/lfs/img", 1)
    (work / "broken/lfs/img/0003.jpg").write_bytes(LFS_POINTER)
    (work / "broken/lfs/groundtruth_rect.txt").write_text(_boxes_text(gt))
    entries.append(_entry("lfs_pointer", work, "broken/lfs/img", 1, "broken/lfs/groundtruth_rect.txt", "xywh"))

    git(work, "init", "--quiet")
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "demo sequences")
    commit = git(work, "rev-parse", "HEAD")
    for entry in entries:
        entry["commit"] = commit
        if "published" in entry:
            entry["published"]["commit"] = commit
    return work, commit, entries, gt
