"""The Python halves of making test/grounding/fixtures/centernet_reference.npz and
movenet_reference.npz (see scripts/detector_reference.mjs for the whole recipe).

  frames DIR  decode the reference frames (three frames of the packaged clip, paths relative to
              the repository) with cv2 (BGR -> RGB) and write them as raw uint8 RGB files plus
              DIR/frames.json, so TF.js and our pipeline start from identical pixels; and MoveNet's
              input for the clip's person on each (its groundtruth.txt box, ``pose.pose_input``)
              as raw int32 files plus DIR/poses.json.
  pack DIR    read what detector_reference.mjs wrote to DIR and write the small fixtures: per
              frame the path and SHA-1 of the frame, the (100, 6) detections, the resized input's
              SHA-1, the heat map at 256 seeded (row, col, class) positions and its per-class max;
              per pose crop the frame, the box, the input's SHA-1 and the (17, 3) keypoints.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from litetrack_core.grounding.pose import pose_input  # noqa: E402

# First, middle and last frame of the clip shipped in the package (paths relative to REPO), so the
# test needs nothing beside the repository.
FRAMES = (
    "litetrack_core/clips/vtest_pale_jacket/img/000001.jpg",
    "litetrack_core/clips/vtest_pale_jacket/img/000050.jpg",
    "litetrack_core/clips/vtest_pale_jacket/img/000100.jpg",
)
FIXTURE = REPO / "test" / "grounding" / "fixtures" / "centernet_reference.npz"
POSE_FIXTURE = REPO / "test" / "grounding" / "fixtures" / "movenet_reference.npz"
CLIP_BOXES = REPO / "litetrack_core" / "clips" / "vtest_pale_jacket" / "groundtruth.txt"
HEATMAP_SHAPE = (128, 128, 80)
SAMPLE_SEED, SAMPLES = 0, 256


def write_frames(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    listing = []
    for i, rel in enumerate(FRAMES):
        image = cv2.imread(str(REPO / rel), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"cannot decode {REPO / rel}")
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        name = f"frame{i}.rgb"
        (out / name).write_bytes(rgb.tobytes())
        listing.append({"file": name, "path": rel, "height": rgb.shape[0], "width": rgb.shape[1]})
    (out / "frames.json").write_text(json.dumps(listing, indent=1))
    boxes = [[float(v) for v in line.split(",")] for line in CLIP_BOXES.read_text().splitlines()]
    poses = []
    for i, frame in enumerate(listing):
        rgb = np.fromfile(out / frame["file"], np.uint8).reshape(frame["height"], frame["width"], 3)
        box = boxes[int(Path(frame["path"]).stem) - 1]
        name = f"pose{i}.i32"
        (out / name).write_bytes(pose_input(rgb, tuple(box))[0].numpy().astype("<i4").tobytes())
        poses.append({"file": name, "path": frame["path"], "box": box})
    (out / "poses.json").write_text(json.dumps(poses, indent=1))


def pack(out: Path) -> None:
    listing = json.loads((out / "frames.json").read_text())
    results = json.loads((out / "results.json").read_text())
    rng = np.random.default_rng(SAMPLE_SEED)
    positions = np.stack([rng.integers(0, n, SAMPLES) for n in HEATMAP_SHAPE], axis=1).astype(np.int32)
    paths, sha1s, input_sha1s, detections, samples, class_max = [], [], [], [], [], []
    for frame, result in zip(listing, results["frames"], strict=True):
        assert frame["file"] == result["file"]
        paths.append(frame["path"])
        sha1s.append(hashlib.sha1((REPO / frame["path"]).read_bytes()).hexdigest())
        input_sha1s.append(result["resized_input_sha1"])
        detections.append(np.fromfile(out / f"{frame['file']}.detections.f32", "<f4").reshape(100, 6))
        heat = np.fromfile(out / f"{frame['file']}.keypoints.f32", "<f4").reshape(HEATMAP_SHAPE)
        samples.append(heat[positions[:, 0], positions[:, 1], positions[:, 2]])
        class_max.append(heat.reshape(-1, HEATMAP_SHAPE[2]).max(axis=0))
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        FIXTURE,
        paths=np.array(paths),
        sha1=np.array(sha1s),
        resized_input_sha1=np.array(input_sha1s),
        detections=np.stack(detections).astype(np.float32),
        heatmap_positions=positions,
        heatmap_samples=np.stack(samples).astype(np.float32),
        heatmap_class_max=np.stack(class_max).astype(np.float32),
        tfjs_version=np.array(results["tfjs_version"]),
        tfjs_backend=np.array(results["backend"]),
    )
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")
    poses = json.loads((out / "poses.json").read_text())
    np.savez_compressed(
        POSE_FIXTURE,
        paths=np.array([p["path"] for p in poses]),
        boxes=np.array([p["box"] for p in poses], np.float64),
        input_sha1=np.array([hashlib.sha1((out / p["file"]).read_bytes()).hexdigest() for p in poses]),
        keypoints=np.stack([np.fromfile(out / f"{p['file']}.keypoints17.f32", "<f4").reshape(17, 3) for p in poses]),
        tfjs_version=np.array(results["tfjs_version"]),
        tfjs_backend=np.array(results["backend"]),
    )
    print(f"wrote {POSE_FIXTURE} ({POSE_FIXTURE.stat().st_size} bytes)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("step", choices=("frames", "pack"))
    parser.add_argument("folder", type=Path, help="scratch folder shared with detector_reference.mjs")
    args = parser.parse_args()
    (write_frames if args.step == "frames" else pack)(args.folder)


if __name__ == "__main__":
    main()
