"""Writing self-supervised sequences in the project layout: real video cut into clips with pseudo
tracks (``write_pseudo_sequences``) and still photos under random warps (``write_warp_sequences``).

Each sequence is ``SEQ/img/000001.jpg ...``, ``groundtruth.txt`` (one ``x,y,w,h`` line per frame,
px, two decimals) and ``SOURCE.txt`` (source, method, licence); no ``language.txt``, so the sampler
draws BBOX samples only from them.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Iterator, Sequence as SequenceOf
from pathlib import Path

import cv2
import numpy as np

from litetrack_core.training.pseudo.frames import _rgb, iter_frames
from litetrack_core.training.pseudo.tracks import PseudoTrack, pseudo_tracks
from litetrack_core.training.pseudo.warps import warp_pairs

__all__ = ["write_pseudo_sequences", "write_warp_sequences"]

log = logging.getLogger(__name__)

_Frame = tuple[int, np.ndarray, Path | None]  # (index in the source, RGB frame, file or None), as iter_frames


def _write_sequence(
    folder: Path,
    frames: SequenceOf[np.ndarray],
    files: SequenceOf[Path | None],
    boxes: np.ndarray,
    source_lines: Iterable[str],
    *,
    image_ext: str,
    jpeg_quality: int,
) -> None:
    img = folder / "img"
    img.mkdir(parents=True, exist_ok=True)
    for k, (frame, file) in enumerate(zip(frames, files), 1):
        if file is not None and file.suffix.lower() == image_ext:
            shutil.copyfile(file, img / f"{k:06d}{image_ext}")
            continue
        target = img / f"{k:06d}{image_ext}"
        params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if image_ext in (".jpg", ".jpeg") else []
        if not cv2.imwrite(str(target), cv2.cvtColor(_rgb(frame), cv2.COLOR_RGB2BGR), params):
            raise OSError(f"cannot write {target}")
    lines = [",".join(f"{v:.2f}" for v in box) for box in boxes]
    (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "SOURCE.txt").write_text("\n".join(source_lines) + "\n", encoding="utf-8")


def _suffix(image_ext: str) -> str:
    """``image_ext`` lower-cased, with its leading dot."""
    return image_ext.lower() if image_ext.startswith(".") else f".{image_ext.lower()}"


def _clip_box(box: np.ndarray, w: int, h: int) -> np.ndarray:
    x0, y0 = max(0.0, box[0]), max(0.0, box[1])
    x1, y1 = min(float(w), box[0] + box[2]), min(float(h), box[1] + box[3])
    return np.array([x0, y0, x1 - x0, y1 - y0])


def write_pseudo_sequences(
    source: str | Path | SequenceOf[np.ndarray],
    out_root: str | Path,
    *,
    name: str | None = None,
    clip_length: int = 12,
    clip_stride: int | None = None,
    frame_step: int = 1,
    max_frames: int | None = None,
    min_length: int | None = None,
    min_confidence: float = 0.5,
    max_tracks_per_clip: int = 3,
    image_ext: str = ".jpg",
    jpeg_quality: int = 95,
    **track_kwargs,
) -> list[Path]:
    """Cut ``source`` (video file, folder of frames, or list of RGB arrays) into clips of
    ``clip_length`` frames (every ``frame_step``-th source frame; a clip starts every ``clip_stride``
    frames, default ``clip_length``), track proposed boxes through each clip (``pseudo_tracks``, extra
    keywords passed on) and write each track with at least ``min_length`` frames (default the whole
    clip) and ``confidence >= min_confidence`` as a sequence ``OUT/<name>_f<first frame>_t<k>`` in the
    project layout. Boxes are clipped to the frame. Frames taken from image files with the suffix
    ``image_ext`` are copied, others encoded. Returns the written folders, in order.
    """
    stride, need = _clip_plan(clip_length, clip_stride, min_length)
    image_ext = _suffix(image_ext)
    if name is None:
        name = Path(source).stem if isinstance(source, (str, Path)) else "frames"
    described = str(source) if isinstance(source, (str, Path)) else f"{len(source)} frames given as arrays"
    out = Path(out_root)
    out.mkdir(parents=True, exist_ok=True)
    track_kwargs.setdefault("max_boxes", max_tracks_per_clip)
    fb_threshold = track_kwargs.get("fb_threshold", 1.0)

    written: list[Path] = []
    for clip in _clips(iter_frames(source, step=frame_step, max_frames=max_frames), clip_length, stride, need):
        frames = [f for _, f, _ in clip]
        tracks = pseudo_tracks(frames, None, **track_kwargs)
        h, w = frames[0].shape[:2]
        for k, track in _kept_tracks(tracks, need, min_confidence, max_tracks_per_clip):
            first = clip[track.start][0]
            folder = out / f"{name}_f{first:06d}_t{k}"
            part = clip[track.start : track.end]
            boxes = np.array([_clip_box(b, w, h) for b in track.boxes])
            lines = _pseudo_source_lines(described, part, track, fb_threshold)
            _write_sequence(folder, [f for _, f, _ in part], [p for _, _, p in part], boxes, lines,
                            image_ext=image_ext, jpeg_quality=jpeg_quality)
            written.append(folder)
    log.info("%s: %d pseudo-labelled sequences written to %s", name, len(written), out)
    return written


def _clip_plan(clip_length: int, clip_stride: int | None, min_length: int | None) -> tuple[int, int]:
    """(stride, shortest track written), checked."""
    if clip_length < 2:
        raise ValueError(f"clip_length must be >= 2, got {clip_length}")
    stride = clip_length if clip_stride is None else clip_stride
    if stride < 1:
        raise ValueError(f"clip_stride must be >= 1, got {stride}")
    need = clip_length if min_length is None else min_length
    if not 2 <= need <= clip_length:
        raise ValueError(f"min_length must be in [2, clip_length={clip_length}], got {min_length}")
    return stride, need


def _clips(frames: Iterator[_Frame], clip_length: int, stride: int, need: int) -> Iterator[list[_Frame]]:
    """Clips of ``clip_length`` frames starting every ``stride`` frames (the frames between clips
    skipped); the last clip may be shorter, down to ``need`` frames."""
    buffer: list[_Frame] = []
    exhausted = False
    while not exhausted:
        while len(buffer) < clip_length:
            try:
                buffer.append(next(frames))
            except StopIteration:
                exhausted = True
                break
        if len(buffer) < need:
            break
        yield buffer[:clip_length]
        buffer = buffer[stride:] if stride < len(buffer) else []
        if stride > clip_length:  # skip the frames between clips
            for _ in range(stride - clip_length):
                try:
                    next(frames)
                except StopIteration:
                    exhausted = True
                    break


def _kept_tracks(tracks: list[PseudoTrack], need: int, min_confidence: float,
                 max_tracks: int) -> Iterator[tuple[int, PseudoTrack]]:
    """(k, track) for the tracks of at least ``need`` frames and ``min_confidence``, numbered from 1,
    until ``max_tracks`` are given."""
    k = 0
    for track in tracks:
        if len(track) < need or track.confidence < min_confidence:
            continue
        k += 1
        yield k, track
        if k == max_tracks:
            break


def _pseudo_source_lines(described: str, part: list[_Frame], track: PseudoTrack, fb_threshold: float) -> list[str]:
    return [
        f"source: {described}",
        f"source frames: {', '.join(str(i) for i, _, _ in part)}",
        "method: pseudo boxes from optical flow (litetrack_core.training.pseudo.pseudo_tracks): "
        "box proposed on the first frame (dense-flow motion against the background / MSER), "
        "followed by pyramidal Lucas-Kanade with a forward-backward check "
        f"(round trip <= {fb_threshold} px, patch NCC), scale from the median "
        "ratio of pairwise point distances, centre from the median of the points' votes",
        f"confidence: {track.confidence:.3f} (mean fraction of points kept per step)",
        "language: none (BBOX samples only)",
        "licence: that of the source video",
    ]


def write_warp_sequences(
    photos: SequenceOf[str | Path | np.ndarray],
    out_root: str | Path,
    *,
    seed: int = 0,
    per_photo: int = 1,
    name: str = "warp",
    image_ext: str = ".jpg",
    jpeg_quality: int = 95,
    **warp_kwargs,
) -> list[Path]:
    """``per_photo`` ``warp_pairs`` sequences per photo (a file or an RGB array), written as
    ``OUT/<name>_<photo stem or index>_<k>`` in the project layout. Randomness comes from ``seed``
    alone (one stream per photo and sequence). Unreadable photos are warned about and skipped.
    Returns the written folders, in order."""
    out = Path(out_root)
    out.mkdir(parents=True, exist_ok=True)
    image_ext = _suffix(image_ext)
    written = []
    for p, photo in enumerate(photos):
        if isinstance(photo, (str, Path)):
            image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
            if image is None:
                log.warning("skipping unreadable photo %s", photo)
                continue
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            stem, described = Path(photo).stem, str(photo)
        else:
            image, stem, described = _rgb(np.asarray(photo)), f"{p:04d}", f"array {p} given"
        for k in range(per_photo):
            rng = np.random.default_rng([seed, p, k])
            seq = warp_pairs(image, rng, **warp_kwargs)
            folder = out / f"{name}_{stem}_{k}"
            lines = [
                f"source: {described}",
                "method: synthetic warps of a still photo (litetrack_core.training.pseudo.warp_pairs): "
                "random crop and box, per-frame random-walk homography (translation, scale, rotation, "
                "perspective) about the box centre, exact box = tight box of the warped box corners, "
                "colour jitter and blur",
                f"seed: {seed}, photo {p}, sequence {k}; parameters: {warp_kwargs or 'defaults'}",
                "language: none (BBOX samples only)",
                "licence: that of the source photo",
            ]
            _write_sequence(folder, seq.frames, [None] * len(seq.frames), seq.boxes, lines,
                            image_ext=image_ext, jpeg_quality=jpeg_quality)
            written.append(folder)
    log.info("%d warped sequences written to %s", len(written), out)
    return written
