"""Which detector gives grounding its proposals: the shipped COCO CenterNet against MediaPipe
Objectron's SSD-MobileNetV2 on Open Images v4, measured on the real corpus's grounding frames
(the frames ``litetrack detector fit`` fits the ranking on; never the evaluation sequences).

Per detector, on every grounding frame where the target is visible (as ``training/ranking.py`` reads
them: each sequence's first sentence, ``Sequence.grounding_frames`` 0-based):

* covered: the sentences whose target is of one of the detector's classes at all (by hand,
  ``TARGETS`` below; the reader's class is compared with it);
* any class: frames where some proposal, of any class, has IoU >= 0.5 with the true box (the fit's
  rule; ``eval.metrics.iou``);
* named class: the same among the proposals of the class the sentence names, as the sentence reader
  (``grounding/sentence.py``) finds it: for CenterNet the project's reader as shipped, for the SSD
  the same reader over the SSD's 23 labels with the synonyms in ``OID_SYNONYMS``; also for the
  class's best-scoring proposal alone and its five best (the detectors give different numbers of
  proposals), and with the hand class instead of the reader's;
* parts ("the face of ...", by hand in ``TARGETS``): apart, as the fit counts them: a proposal of
  the named class holding >= 70% of the part's box;
* latency: the detector's call on the frame (resize, network, decoding, suppression), median and
  90th percentile over the frames, both run in this process with 2 threads, frame by frame in turn.

Both detectors keep candidates scoring >= 0.05 after per-class non-maximum suppression (IoU 0.5), at
most 100 (CenterNet: its graph's 100 candidates; the SSD: every (anchor, class) pair, sigmoid
scores, the background class left out, then the best 100 after suppression).

The SSD (nothing of it is committed): ``@mediapipe/objectron`` 0.4.1675468480 (npm, Apache-2.0)
packs ``object_detection_ssd_mobilenetv2_oidv4_fp16.tflite`` and ``object_detection_oidv4_labelmap.txt``
into ``objectron_solution_packed_assets.data``; the loader script names their byte ranges. Its use
follows MediaPipe's graph ``modules/objectron/object_detection_oid_v4_cpu.pbtxt`` (facts only): the
RGB frame stretched to 300x300 (here with cv2's INTER_AREA; INTER_LINEAR moved the counts by 3 at
most), values to [-1, 1] (the graph's tensor converter's default; [0, 1] scored the objects of the
frames looked at lower); 1917 SSD anchors (6 layers, strides 16..512, scales 0.2..0.95, aspect
ratios 1, 2, 1/2, 3, 1/3 and an interpolated one, 3 anchors in the lowest layer); box codes
(y, x, h, w) over scales (10, 10, 5, 5); class scores through a sigmoid, label 0 ("???") the
background. It runs with LiteRT from PyPI::

    mkdir -p /tmp/objectron && (cd /tmp/objectron && npm pack @mediapipe/objectron@0.4.1675468480)
    .venv/bin/pip install ai-edge-litert==2.3.0      # by hand; not in requirements.txt
    .venv/bin/python scripts/compare_detectors.py --corpus data/train/real \\
        --objectron /tmp/objectron/mediapipe-objectron-0.4.1675468480.tgz

``--detail`` adds one line per sequence; ``--draw DIR`` writes each sequence's first grounding frame
with both detectors' proposals of the named class (and the true box) as PNG.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import statistics
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision.ops import batched_nms

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from litetrack_core.data.load import load_dataset  # noqa: E402
from litetrack_core.data.sequence import Sequence  # noqa: E402
from litetrack_core.eval.metrics import iou  # noqa: E402
from litetrack_core.grounding.detector import Detector, Proposal  # noqa: E402
from litetrack_core.grounding.install import FILES, detector_files  # noqa: E402
from litetrack_core.grounding.sentence import SentenceReader  # noqa: E402
from litetrack_core.grounding.vocabulary import CLASS_SYNONYMS, COCO_CLASSES  # noqa: E402
from litetrack_core.profiling import cpu_model  # noqa: E402

OBJECTRON_VERSION = "0.4.1675468480"
SSD_MEMBER = "object_detection_ssd_mobilenetv2_oidv4_fp16.tflite"
LABELS_MEMBER = "object_detection_oidv4_labelmap.txt"
SSD_SHA256 = "d0a5255bf8c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6"
MIN_SCORE, NMS_IOU, MAX_PROPOSALS, HOLDS = 0.05, 0.5, 100, 0.7
KINDS = {"truck": "truck or bus", "bus": "truck or bus", "cow": "animal", "dog": "animal", "bird": "animal"}
# People riding, whose true box holds what they ride too (the bicycle, motorbike, scooter or horse).
RIDERS = frozenset({"bike1_uav123", "biker_spbacf", "bmx-trees_davis16", "horsejump-high_davis16", "motorcyclechase_tlp",
                    "motorrolling_otb", "mountainbike6_dtb70", "scooter-black_davis16"})

# Other names of the SSD's labels, for the reader as CLASS_SYNONYMS are for COCO's. Open Images puts
# buses, trucks, vans and motorcycles under "Vehicle", which this model has and they have not.
OID_SYNONYMS = {
    "person": CLASS_SYNONYMS["person"],
    "car": tuple(s for s in CLASS_SYNONYMS["car"] if s != "vehicle"),
    "vehicle": ("truck", "lorry", "pickup", "van", "bus", "coach", "motorcycle", "motorbike", "scooter", "moped"),
    "bicycle": CLASS_SYNONYMS["bicycle"],
    "cattle": ("cow", "calf", "bull", "ox"),
    "dog": CLASS_SYNONYMS["dog"],
    "computer monitor": ("monitor", "screen", "television", "tv"),
    "computer mouse": ("mouse",),
    "coffee cup": ("cup",),
    "footwear": ("shoe", "sneaker", "trainer"),
    "table": ("dining table",),
    "stationary bicycle": ("exercise bike",),
}

# By hand, per corpus sequence: the target's class among COCO's and among the SSD's labels (None:
# of neither), and the part when the target is a part of the thing named ("the face of the man").
# "helmet" in "the rider in a white shirt and black helmet" is clothing, not the target.
TARGETS: dict[str, tuple[str | None, str | None, str | None]] = {
    "basketball_otb": ("person", "person", None), "bike1_uav123": ("person", "person", None),
    "biker_otb": ("person", "person", "head"), "biker_spbacf": ("person", "person", None),
    "bmx-trees_davis16": ("person", "person", None), "bolt2_otb": ("person", "person", None),
    "breakdance_davis16": ("person", "person", None), "building4_uav123": (None, None, None),
    "building5_uav123": (None, None, None), "camel_davis16": (None, None, None),
    "car-shadow_davis16": ("car", "car", None), "car10_uav123": ("car", "car", None),
    "car14_uav123": ("car", "car", None), "car16_1_uav123": ("car", "car", None),
    "car16_2_uav123": ("car", "car", None), "car1_otb": ("car", "car", None),
    "cardark_otb": ("car", "car", None), "carscale_otb": ("car", "car", None),
    "couple_otb": ("person", "person", None), "cows_davis16": ("cow", "cattle", None),
    "dance-twirl_davis16": ("person", "person", None), "david_otb": ("person", "person", "face"),
    "diving_otb": ("person", "person", None), "dog1_otb": ("teddy bear", None, "head"),
    "dragonbaby_otb": ("person", "person", "face"), "drift-chicane_davis16": ("car", "car", None),
    "drift-straight_davis16": ("car", "car", None), "drone1_tlp": ("person", "person", None),
    "football1_otb": ("person", "person", "helmet"), "goat_davis16": (None, None, None),
    "group1_1_uav123": ("person", "person", None), "group1_3_uav123": ("person", "person", None),
    "group1_4_uav123": ("person", "person", None), "group2_2_uav123": ("person", "person", None),
    "group3_2_uav123": ("person", "person", None), "gull2_dtb70": ("bird", None, None),
    "horsejump-high_davis16": ("person", "person", None), "human9_otb": ("person", "person", None),
    "libby_davis16": ("dog", "dog", None), "mohiniyattam_tlp": ("person", "person", None),
    "motorcyclechase_tlp": ("person", "person", None), "motorrolling_otb": ("person", "person", None),
    "mountainbike6_dtb70": ("person", "person", None), "paragliding-launch_davis16": ("person", "person", None),
    "parkour_davis16": ("person", "person", None), "person11_uav123": ("person", "person", None),
    "person12_1_uav123": ("person", "person", None), "s0310_uavdt": ("bus", "vehicle", None),
    "s0601_uavdt": ("truck", "vehicle", None), "s1001_uavdt": ("car", "car", None),
    "s1301_uavdt": ("car", "car", None), "s1606_uavdt": ("car", "car", None),
    "scooter-black_davis16": ("person", "person", None), "singer1_otb": ("person", "person", None),
    "skating1_otb": ("person", "person", None), "soapbox_davis16": (None, None, None),
    "soccer_otb": ("person", "person", "face"), "surfing06_dtb70": ("person", "person", None),
    "truck2_uav123": ("truck", "vehicle", None), "truck4_1_uav123": ("truck", "vehicle", None),
    "truck4_2_uav123": ("truck", "vehicle", None), "wakeboard10_uav123": ("person", "person", None),
    "wakeboard3_uav123": ("person", "person", None), "wakeboard4_uav123": ("person", "person", None),
}


def objectron_files(tarball: Path) -> tuple[bytes, list[str]]:
    """The SSD's .tflite (SHA-256 checked) and its labels (index 0 = background) from the npm tarball."""
    with tarfile.open(tarball) as tar:
        loader = tar.extractfile("package/objectron_solution_packed_assets_loader.js").read().decode()
        data = tar.extractfile("package/objectron_solution_packed_assets.data").read()
    ranges = {Path(m[0]).name: (int(m[1]), int(m[2])) for m in
              re.findall(r'"filename":\s*"([^"]+)",\s*"start":\s*(\d+),\s*"end":\s*(\d+)', loader)}
    model = data[slice(*ranges[SSD_MEMBER])]
    if hashlib.sha256(model).hexdigest() != SSD_SHA256:
        raise SystemExit(f"{tarball}: {SSD_MEMBER} is not the pinned file (SHA-256 {SSD_SHA256})")
    labels = data[slice(*ranges[LABELS_MEMBER])].decode().splitlines()
    return model, labels


def ssd_anchors() -> np.ndarray:
    """(1917, 4) anchors x_centre, y_centre, w, h in [0, 1], in the model's output order."""
    layers, low, high, size = 6, 0.2, 0.95, 300
    scale = [low + (high - low) * i / (layers - 1) for i in range(layers)] + [1.0]
    rows = []
    for i, stride in enumerate((16, 32, 64, 128, 256, 512)):
        side = math.ceil(size / stride)
        if i == 0:
            shapes = [(0.1, 1.0), (scale[0], 2.0), (scale[0], 0.5)]
        else:
            shapes = [(scale[i], a) for a in (1.0, 2.0, 0.5, 3.0, 0.3333)] + [(math.sqrt(scale[i] * scale[i + 1]), 1.0)]
        for y in range(side):
            for x in range(side):
                rows.extend(((x + 0.5) / side, (y + 0.5) / side, s * math.sqrt(a), s / math.sqrt(a)) for s, a in shapes)
    return np.array(rows, np.float32)


class SsdDetector:
    """The Objectron SSD with LiteRT; proposals as ``grounding.detector.Proposal`` (class = label index)."""

    def __init__(self, model: bytes, threads: int = 2) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=model, num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        self.boxes, self.classes = outputs["raw_outputs/box_encodings"], outputs["raw_outputs/class_predictions"]
        self.anchors = ssd_anchors()

    def __call__(self, frame: np.ndarray) -> list[Proposal]:
        height, width = frame.shape[:2]
        image = cv2.resize(frame, (300, 300), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1.0
        self.interpreter.set_tensor(self.input, image[None])
        self.interpreter.invoke()
        code = self.interpreter.get_tensor(self.boxes)[0]
        scores = 1.0 / (1.0 + np.exp(-self.interpreter.get_tensor(self.classes)[0][:, 1:]))
        a = self.anchors
        cx, cy = code[:, 1] / 10 * a[:, 2] + a[:, 0], code[:, 0] / 10 * a[:, 3] + a[:, 1]
        w, h = np.exp(code[:, 3] / 5) * a[:, 2], np.exp(code[:, 2] / 5) * a[:, 3]
        corners = np.stack([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], 1)
        anchor, label = np.nonzero(scores >= MIN_SCORE)
        boxes = torch.from_numpy(corners[anchor])
        score = torch.from_numpy(scores[anchor, label])
        kept = batched_nms(boxes, score, torch.from_numpy(label), NMS_IOU)[:MAX_PROPOSALS]
        proposals = []
        for i in kept.tolist():
            x1, y1, x2, y2 = boxes[i].tolist()
            x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)
            if x2 > x1 and y2 > y1:
                proposals.append(Proposal((x1, y1, x2 - x1, y2 - y1), float(score[i]), int(label[i]) + 1))
        return proposals


@dataclass
class Tally:
    name: str
    classes: tuple[str, ...]  # index = the detector's class output
    reader: SentenceReader
    detect: object
    offset: int = 0  # reader's class_index + offset = the detector's class
    named: int | None = None  # the current sequence's class: by the reader, by hand
    hand_index: int | None = None
    sentences_covered: int = 0
    reader_named: int = 0
    reader_agrees: int = 0
    frames_covered: int = 0
    whole: int = 0
    any_class: int = 0
    named_right: int = 0
    named_top1: int = 0  # ... the class's best-scoring proposal
    named_top5: int = 0  # ... among its five best
    named_count: list = field(default_factory=list)  # proposals of the named class per frame
    hand_right: int = 0
    part_frames: int = 0
    part_held: int = 0
    proposals: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    detail: list = field(default_factory=list)


def holds(outer, inner) -> float:
    ix = max(0.0, min(outer[0] + outer[2], inner[0] + inner[2]) - max(outer[0], inner[0]))
    iy = max(0.0, min(outer[1] + outer[3], inner[1] + inner[3]) - max(outer[1], inner[1]))
    return ix * iy / max(inner[2] * inner[3], 1e-9)


def hit(proposals: list[Proposal], truth) -> bool:
    if not proposals:
        return False
    return bool((iou(np.array([p.box_xywh_px for p in proposals]), np.array([truth] * len(proposals))) >= 0.5).any())


def measure(sequences: list[Sequence], tallies: list[Tally], draw: Path | None) -> None:
    for seq in sequences:
        coco, oid, part = TARGETS[seq.name]
        frames = [i for i in seq.grounding_frames if not seq.absent[i]]
        for t, hand in zip(tallies, (coco, oid)):
            hand_index = t.classes.index(hand) if hand else None
            parsed = t.reader(seq.language)
            named = None if parsed.class_index is None else parsed.class_index + t.offset
            t.sentences_covered += int(hand is not None)
            t.frames_covered += len(frames) if hand is not None else 0
            t.reader_named += int(named is not None)
            t.reader_agrees += int(named == hand_index)
            t.detail.append([seq.name, len(frames), hand, None if named is None else t.classes[named], 0, 0, 0, 0])
            t.named, t.hand_index = named, hand_index
        for k, index in enumerate(frames):
            frame, truth = seq.frame(index), tuple(seq.ground_truth[index])
            for t in tallies:
                start = time.perf_counter()
                proposals = t.detect(frame)
                t.seconds.append(time.perf_counter() - start)
                t.proposals.append(len(proposals))
                of_named = sorted((p for p in proposals if p.class_index == t.named), key=lambda p: -p.score)
                row = t.detail[-1]
                if part:
                    t.part_frames += 1
                    held = any(holds(p.box_xywh_px, truth) >= HOLDS for p in of_named)
                    t.part_held += int(held)
                    row[6] += int(held)
                    continue
                t.whole += 1
                right = hit(of_named, truth)
                t.any_class += int(hit(proposals, truth))
                t.named_right += int(right)
                t.named_top1 += int(hit(of_named[:1], truth))
                t.named_top5 += int(hit(of_named[:5], truth))
                t.named_count.append(len(of_named))
                t.hand_right += int(hit([p for p in proposals if p.class_index == t.hand_index], truth))
                row[4] += int(hit(proposals, truth))
                row[5] += int(right)
                row[7] += int(hit(of_named[:1], truth))
            if draw is not None and k == 0:
                sketch(draw / f"{seq.name}.png", frame, truth, tallies)


def sketch(path: Path, frame: np.ndarray, truth, tallies: list[Tally]) -> None:
    image = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    x, y, w, h = (int(v) for v in truth)
    cv2.rectangle(image, (x, y), (x + w, y + h), (0, 255, 0), 2)
    for t, colour in zip(tallies, ((0, 0, 255), (255, 128, 0))):
        for p in [p for p in t.detect(frame) if p.class_index == t.named][:5]:
            x, y, w, h = (int(v) for v in p.box_xywh_px)
            cv2.rectangle(image, (x, y), (x + w, y + h), colour, 1)
            label = f"{t.name[:3]} {t.classes[p.class_index]} {p.score:.2f}"
            cv2.putText(image, label, (x, max(10, y - 2)), 0, 0.4, colour, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=REPO / "data/train/real")
    parser.add_argument("--objectron", type=Path, required=True,
                        help=f"the tarball of npm pack @mediapipe/objectron@{OBJECTRON_VERSION}")
    parser.add_argument("--detector-dir", type=Path, default=None, help="the installed CenterNet (default: litetrack's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--detail", action="store_true", help="one line per sequence")
    parser.add_argument("--draw", type=Path, default=None, help="folder for a PNG per sequence")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    sequences = [s for s in load_dataset(args.corpus) if s.grounding_frames and s.language]
    unknown = sorted({s.name for s in sequences} - set(TARGETS))
    if unknown:
        raise SystemExit(f"no hand class in TARGETS for {unknown}")
    model, labels = objectron_files(args.objectron)
    oid = tuple(label.lower() for label in labels)  # index 0 "???": the background
    detector_files(args.detector_dir)  # the files there and unaltered
    centernet_bytes = sum(size for name, (_, size, _) in FILES.items() if name.startswith("centernet."))
    tallies = [
        Tally("CenterNet", COCO_CLASSES, SentenceReader(), Detector(args.detector_dir)),
        Tally("SSD", oid, SentenceReader(classes=oid[1:], synonyms=OID_SYNONYMS), SsdDetector(model, args.threads),
              offset=1),
    ]
    for t in tallies:  # warm-up, not timed
        t.detect(sequences[0].frame(0))
    load_before = os.getloadavg()[0]
    measure(sequences, tallies, args.draw)
    load_after = os.getloadavg()[0]

    n_seq = len(sequences)
    print(f"{args.corpus}: {n_seq} sequences, {tallies[0].whole + tallies[0].part_frames} grounding frames "
          f"({tallies[0].whole} of a whole object, {tallies[0].part_frames} of a part); CPU {cpu_model()}, "
          f"{args.threads} threads; load average {load_before:.1f} before, {load_after:.1f} after")
    header = "| | " + " | ".join(t.name for t in tallies) + " |"
    print(header + "\n|---|" + "---|" * len(tallies))

    def row(label: str, values) -> None:
        print(f"| {label} | " + " | ".join(values) + " |")

    def share(a: int, b: int) -> str:
        return f"{a} / {b} ({100 * a / max(b, 1):.0f}%)"

    row("classes", [str(len(t.classes) - t.offset) for t in tallies])
    row("target's class among them (sentences, by hand)", [share(t.sentences_covered, n_seq) for t in tallies])
    row("... (grounding frames)", [share(t.frames_covered, tallies[0].whole + tallies[0].part_frames) for t in tallies])
    row("reader names a class (sentences)", [share(t.reader_named, n_seq) for t in tallies])
    row("reader's class = the hand class (or both none)", [share(t.reader_agrees, n_seq) for t in tallies])
    row("target among all proposals (whole-object frames)", [share(t.any_class, t.whole) for t in tallies])
    row("target among the named class's proposals (reader)", [share(t.named_right, t.whole) for t in tallies])
    row("... its best-scoring one", [share(t.named_top1, t.whole) for t in tallies])
    row("... among its 5 best-scoring", [share(t.named_top5, t.whole) for t in tallies])
    row("target among the hand class's proposals", [share(t.hand_right, t.whole) for t in tallies])
    row(f"part held by a named-class proposal (>= {HOLDS:.0%})", [share(t.part_held, t.part_frames) for t in tallies])
    row("proposals per frame, all / of the named class (median)",
        [f"{statistics.median(t.proposals):.0f} / {statistics.median(t.named_count):.0f}" for t in tallies])
    row("latency per frame, median / p90 (ms)",
        [f"{1000 * np.median(t.seconds):.0f} / {1000 * np.percentile(t.seconds, 90):.0f}" for t in tallies])
    row("model file", [f"{centernet_bytes / 1e6:.1f} MB", f"{len(model) / 1e6:.1f} MB"])
    first, second = tallies
    kinds: dict[str, list[int]] = {}
    more = fewer = 0
    for a, b in zip(first.detail, second.detail):
        if TARGETS[a[0]][2]:
            continue  # a part
        kind = "person riding (box with the mount)" if a[0] in RIDERS else KINDS.get(a[2], a[2] or "of no class")
        counts = kinds.setdefault(kind, [0, 0, 0, 0, 0, 0])
        for k, value in enumerate((1, a[1], a[5], b[5], a[7], b[7])):
            counts[k] += value
        more, fewer = more + int(b[5] > a[5]), fewer + int(b[5] < a[5])
    print(f"\ntarget among the named class's proposals (and its best-scoring one), by the target's kind (COCO "
          f"class by hand): {first.name} / {second.name}")
    for kind, (n_seq_kind, frames, a, b, a1, b1) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        print(f"  {kind}: {n_seq_kind} sequences, {frames} frames: {a} / {b} ({a1} / {b1})")
    print(f"sequences (whole object) where {second.name} finds the target on more frames than {first.name}: {more}, "
          f"on fewer: {fewer}, as many: {sum(v[0] for v in kinds.values()) - more - fewer}")
    if args.detail:
        for t in tallies:
            print(f"\n{t.name}: sequence, frames, hand class, reader's class, any-class hits, named-class hits, "
                  "parts held, hits of the named class's best")
            for d in t.detail:
                print("  " + ", ".join(str(v) for v in d))
    if args.json:
        skip = ("reader", "detect", "classes", "named", "hand_index")
        args.json.write_text(json.dumps({t.name: {k: v for k, v in vars(t).items() if k not in skip} for t in tallies},
                                        indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
