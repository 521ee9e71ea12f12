"""Self-supervised sequences: optical-flow pseudo boxes on real video frames, and warped stills.

Everything runs on the real frames of the packaged clip (litetrack_core/clips/vtest_pale_jacket, no
mocks): tracking seeded with a ground-truth box must stay on the target, the forward-backward check
must drop points on a region replaced by noise, proposals must be valid boxes, written sequences
must load with ``load_dataset``, and warped boxes must be exactly where the warped content is.

The clip: a fixed camera over a square, 640x480, the target walking right to left at about 7 px a
frame; a walker in black covers it in frames 13-16 (0-based 12-15) and the lamp post and passers-by
in frames 32-40, so the tests that track the person use windows after that (0-based frame 40 on).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from litetrack_core.data.load import load_dataset
from litetrack_core.training.pseudo.flow import _box_points, forward_backward_flow
from litetrack_core.training.pseudo.frames import _gray
from litetrack_core.training.pseudo.proposals import propose_boxes
from litetrack_core.training.pseudo.tracks import pseudo_tracks
from litetrack_core.training.pseudo.warps import warp_pairs
from litetrack_core.training.pseudo.write import write_pseudo_sequences, write_warp_sequences


def _iou(a, b) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.fixture(scope="module")
def seq(clip):
    (sequence,) = load_dataset(clip)
    assert len(sequence) == 100 and sequence.frame(0).shape == (480, 640, 3)
    return sequence


# --- tracking --------------------------------------------------------------------------------------


# Two 15-frame windows of the clip, free of occlusion (a track through the occlusions in frames 12-15
# and 31-39 stops there, as it should). Measured with the defaults: mean IoU 0.831 (from frame 40)
# and 0.884 (from frame 70); the thresholds leave about 0.08 below.
@pytest.mark.parametrize("first, threshold", [(40, 0.75), (70, 0.8)])
def test_seeded_track_follows_the_ground_truth(seq, first, threshold):
    n = 15
    frames = [seq.frame(i) for i in range(first, first + n)]
    truth = seq.ground_truth[first : first + n]
    (track,) = pseudo_tracks(frames, truth[:1])
    assert track.start == 0 and track.boxes.shape == (len(track), 4)
    np.testing.assert_allclose(track.boxes[0], truth[0])
    assert len(track) == n and track.stop == "end", f"track stopped early: {track.stop} after {len(track)}"
    ious = [_iou(b, g) for b, g in zip(track.boxes, truth)]
    assert np.mean(ious) > threshold, f"mean IoU {np.mean(ious):.3f} over {n} frames"
    assert min(ious) > 0.4
    assert 0.5 < track.confidence <= 1.0
    assert track.frame_confidence.shape == (n,) and track.frame_confidence[0] == 1.0


def test_a_moving_object_steers_a_box_mostly_of_static_background(seq):
    """The pedestrian's box widened to four times its width: the static square fills most of it, yet
    the track walks with the pedestrian (points moving against the background steer it). With that
    turned off (``min_moving`` above 1) the square's points hold the box still."""
    first = 40  # after the occlusions (module docstring)
    frames = [seq.frame(i) for i in range(first, first + 15)]
    x, y, w, h = seq.ground_truth[first]
    box = [x - 1.5 * w, y - 5, 4 * w, h + 10]
    gt = seq.ground_truth[first : first + 15]
    truth = gt[:, :2] + gt[:, 2:] / 2
    assert truth[0, 0] - truth[-1, 0] > 15

    (track,) = pseudo_tracks(frames, [box])
    centre = track.boxes[:, :2] + track.boxes[:, 2:] / 2
    assert len(track) == 15
    np.testing.assert_allclose(centre[-1] - centre[0], truth[-1] - truth[0], atol=4.0)

    (region,) = pseudo_tracks(frames, [box], min_moving=2.0)
    centre = region.boxes[:, :2] + region.boxes[:, 2:] / 2
    assert np.abs(centre[-1] - centre[0]).max() < 8


def test_track_starts_at_a_later_frame_and_stops_at_max_length(seq):
    first = 40  # frames 40-59 of the clip, after the occlusions (module docstring)
    frames = [seq.frame(i) for i in range(first, first + 20)]
    truth = seq.ground_truth[first : first + 20]
    (track,) = pseudo_tracks(frames, truth[5:6], start=5, max_length=8)
    assert track.start == 5 and len(track) == 8 and track.end == 13 and track.stop == "end"
    ious = [_iou(b, g) for b, g in zip(track.boxes, truth[5:13])]
    assert np.mean(ious) > 0.6


def test_track_stops_when_the_next_frame_is_unrelated(seq):
    """A cut to a different view: no point survives the forward-backward check. The clip has one fixed
    camera, so the other view is a 2x zoom on the top-left quarter of a later frame (buildings and
    lawn, nothing of the square where the target walks)."""
    first = 40
    other = cv2.resize(seq.frame(90)[:240, :320], (640, 480))
    frames = [seq.frame(first), seq.frame(first + 1), other, seq.frame(first + 3)]
    (track,) = pseudo_tracks(frames, seq.ground_truth[first : first + 1])
    assert len(track) == 2 and track.stop == "points"


def test_track_stops_when_the_box_leaves_the_frame(seq):
    """The view pans right by 20 px a frame (a crop sliding over a real frame): the target's box moves
    left and out."""
    frame = seq.frame(0)
    # 12 steps keep the 400 px crop inside the 640 px frame; the track ends long before.
    frames = [np.ascontiguousarray(frame[100:400, 20 * k : 20 * k + 400]) for k in range(12)]
    box = [60.0, 90.0, 120.0, 80.0]
    (track,) = pseudo_tracks(frames, [box])
    assert track.stop == "left frame"
    assert 3 <= len(track) <= 5  # the box's left edge reaches x = 0 after 3 steps
    np.testing.assert_allclose(track.boxes[1:, 0] - track.boxes[:-1, 0], -20.0, atol=1.0)


def test_track_scales_with_the_point_spread(seq):
    """A real frame zoomed by 4 % a frame about a fixed point: the box grows by 4 % a frame and keeps
    that point at the same relative place."""
    frame = seq.frame(0)
    h, w = frame.shape[:2]
    centre = (430.0, 260.0)
    frames = [cv2.warpAffine(frame, cv2.getRotationMatrix2D(centre, 0.0, 1.04**k), (w, h)) for k in range(8)]
    box = np.array([330.0, 200.0, 160.0, 100.0])
    (track,) = pseudo_tracks(frames, [box])
    assert len(track) == 8
    expected = np.array([[centre[0] + (box[0] - centre[0]) * 1.04**k, centre[1] + (box[1] - centre[1]) * 1.04**k,
                          box[2] * 1.04**k, box[3] * 1.04**k] for k in range(8)])
    np.testing.assert_allclose(track.boxes, expected, atol=3.0)


def test_forward_backward_check_drops_points_on_a_region_replaced_by_noise(seq):
    """Frame 2 is frame 1 shifted by (3, 2) px with a 200 x 200 region replaced by noise: points that
    land in the noise fail the round trip, points elsewhere pass and give the shift."""
    g0 = _gray(seq.frame(0))
    h, w = g0.shape
    g1 = cv2.warpAffine(g0, np.float32([[1, 0, 3], [0, 1, 2]]), (w, h), borderMode=cv2.BORDER_REPLICATE)
    noisy = g1.copy()
    noisy[150:350, 400:600] = np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)
    pts = _box_points(g0, np.array([150.0, 100.0, 488.0, 300.0]), 200, 12)  # ends 2 px inside the 640 px frame
    dest = pts + [3, 2]
    in_noise = (dest[:, 0] >= 408) & (dest[:, 0] < 592) & (dest[:, 1] >= 158) & (dest[:, 1] < 342)
    clean = dest[:, 0] < 384
    assert in_noise.sum() > 30 and clean.sum() > 30

    _, fb_clean, kept_clean = forward_backward_flow(g0, g1, pts)
    assert kept_clean[in_noise].mean() > 0.9 and kept_clean[clean].mean() > 0.8

    new, fb, kept = forward_backward_flow(g0, noisy, pts)
    assert kept[in_noise].mean() < 0.1, f"{kept[in_noise].mean():.2f} of the points in the noise kept"
    assert kept[clean].mean() > 0.8
    assert np.median(fb[in_noise]) > 1.0
    np.testing.assert_allclose(np.median(new[kept] - pts[kept], axis=0), [3, 2], atol=0.1)

    # The check alone (no patch correlation) already drops them.
    _, _, kept_fb_only = forward_backward_flow(g0, noisy, pts, min_ncc=None)
    assert kept_fb_only[in_noise].mean() < 0.1


@pytest.mark.parametrize("first", [0, 50])  # the target on the right, by itself; in mid-square among others
def test_proposals_are_valid_boxes_inside_the_frame(seq, first):
    frame = seq.frame(first)
    h, w = frame.shape[:2]
    boxes = propose_boxes(frame, seq.frame(first + 3), max_boxes=4)
    assert boxes.shape[1] == 4 and 1 <= len(boxes) <= 4
    for x, y, bw, bh in boxes:
        assert x >= 0 and y >= 0 and x + bw <= w and y + bh <= h
        assert max(0.02 * w, 12) <= bw <= 0.3 * w and max(0.02 * h, 12) <= bh <= 0.3 * h
        assert max(bw / bh, bh / bw) <= 4
    for i in range(len(boxes)):
        for j in range(i):
            assert _iou(boxes[i], boxes[j]) <= 0.3
    # Without a later frame (no motion cue) the texture proposals still give valid boxes.
    still = propose_boxes(frame, None, max_boxes=2)
    assert 1 <= len(still) <= 2


def test_proposed_tracks_on_real_frames(seq):
    # Frames 60-71: the target walks on the left half of the square, away from the other walkers.
    # (From frame 40, say, other walkers and the building's windows take all three proposals: the clip
    # has a dozen moving people, so which three win depends on the window.)
    first = 60
    frames = [seq.frame(i) for i in range(first, first + 12)]
    gt = seq.ground_truth[first : first + 12]
    tracks = pseudo_tracks(frames, max_boxes=3)
    assert 1 <= len(tracks) <= 3
    assert any(len(t) == 12 and t.confidence > 0.7 for t in tracks)
    # One motion proposal is on the pedestrian in the light blue jacket (part of it at least), and its
    # track walks with the person: the centre moves as the ground truth's does (about 60 px left).
    on_target = max(tracks, key=lambda t: _iou(t.boxes[0], gt[0]))
    assert _iou(on_target.boxes[0], gt[0]) > 0.2 and len(on_target) == 12
    centre = on_target.boxes[:, :2] + on_target.boxes[:, 2:] / 2
    truth = gt[:, :2] + gt[:, 2:] / 2
    assert truth[0, 0] - truth[-1, 0] > 10
    np.testing.assert_allclose(centre[-1] - centre[0], truth[-1] - truth[0], atol=5.0)


# --- writing ---------------------------------------------------------------------------------------


def _video(path, frames) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()


def _check_written(folders, out_root):
    loaded = {s.name: s for s in load_dataset(out_root)}
    assert set(loaded) == {f.name for f in folders}
    for folder in folders:
        seq = loaded[folder.name]
        lines = (folder / "groundtruth.txt").read_text().splitlines()
        assert len(seq) == len(lines) == len(list((folder / "img").iterdir()))
        assert seq.language is None and not seq.absent.any()
        frame = seq.frame(0)
        h, w = frame.shape[:2]
        gt = seq.ground_truth
        assert (gt[:, :2] >= 0).all()
        assert (gt[:, 0] + gt[:, 2] <= w + 1e-6).all() and (gt[:, 1] + gt[:, 3] <= h + 1e-6).all()
        assert (folder / "SOURCE.txt").read_text().startswith("source: ")
    return loaded


def test_write_pseudo_sequences_from_a_video(seq, tmp_path):
    # Frames 60-89: every proposal is on walkers crossing the square (in earlier windows some cover
    # groups of walkers that cross each other, and the boxes drift between them).
    frames = [seq.frame(i) for i in range(60, 90)]
    # The camera is fixed: the median of the frames is the empty square, and a frame's difference
    # to it shows what moves (the walkers).
    background = np.median(np.stack([_gray_f(f) for f in frames]), axis=0)
    video = tmp_path / "jacket.avi"
    _video(video, frames)
    out = tmp_path / "pseudo"
    folders = write_pseudo_sequences(video, out, clip_length=10, max_tracks_per_clip=2)
    assert 2 <= len(folders) <= 6  # 3 clips, up to 2 tracks each
    loaded = _check_written(folders, out)
    tracked, static = [], []
    for folder in folders:
        s = loaded[folder.name]
        assert len(s) == 10
        source = (folder / "SOURCE.txt").read_text()
        assert str(video) in source and "forward-backward" in source
        first = int(folder.name.split("_f")[1].split("_")[0])
        indices = [int(v) for v in source.split("source frames: ")[1].splitlines()[0].split(", ")]
        assert indices == list(range(first, first + 10))
        # The written frames are the video's frames (MJPG then JPEG: small differences only).
        diff = np.abs(s.frame(5).astype(int) - frames[indices[5]].astype(int)).mean()
        assert diff < 6, diff
        # The pseudo boxes move as the content does: the moving content (difference to the background)
        # under the last box looks like that under the first box, more than the moving content under
        # the first box on the last frame does. (Compared on the moving content, not on the pixels:
        # here the walkers are small in their boxes, mostly still square, which the pixels would weigh
        # most. Measured: tracked 0.56 to 0.83, mean 0.70; static -0.14 to 0.03.)
        moving = [cv2.GaussianBlur(np.abs(_gray_f(s.frame(k)) - background), (5, 5), 0) for k in (0, 9)]
        a = moving[0][_slices(s.ground_truth[0])]
        tracked.append(_ncc(a, cv2.resize(moving[1][_slices(s.ground_truth[9])], (a.shape[1], a.shape[0]))))
        static.append(_ncc(a, moving[1][_slices(s.ground_truth[0])]))
        assert tracked[-1] > static[-1] - 0.05, (folder.name, tracked[-1], static[-1])
    assert np.mean(tracked) > 0.55, tracked
    assert np.mean(static) < 0.3, static  # the walkers have left the first boxes: the boxes had to move


def _gray_f(frame):
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _slices(box):
    x, y, w, h = (int(round(v)) for v in box)
    return slice(y, y + h), slice(x, x + w)


def _ncc(a, b) -> float:
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_write_pseudo_sequences_from_a_folder_copies_frames(clip, tmp_path):
    img = clip / "img"
    out = tmp_path / "pseudo"
    folders = write_pseudo_sequences(img, out, name="jacket", clip_length=8, clip_stride=20, max_frames=28,
                                     max_tracks_per_clip=1)
    assert [f.name for f in folders] == ["jacket_f000000_t1", "jacket_f000020_t1"]
    _check_written(folders, out)
    source_files = sorted(img.iterdir())
    written = sorted((folders[1] / "img").iterdir())
    assert len(written) == 8
    assert written[0].read_bytes() == source_files[20].read_bytes()
    assert written[7].read_bytes() == source_files[27].read_bytes()


# --- warped stills ---------------------------------------------------------------------------------


def test_warped_boxes_are_the_tight_box_of_the_warped_content():
    """A bright square on a dark textured image: in every frame the bright pixels' tight box is the
    returned box (exact up to interpolation and blur at the edges)."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 60, (360, 480, 3), dtype=np.uint8)
    box = (180.0, 120.0, 90.0, 70.0)
    image[120:190, 180:270] = 230
    seq = warp_pairs(image, np.random.default_rng(7), length=12, box=box, frame_size=None,
                     max_rotation_deg=8.0, blur=0.5)
    assert len(seq.frames) == 12 and seq.boxes.shape == (12, 4) and seq.homographies.shape == (12, 3, 3)
    np.testing.assert_allclose(seq.boxes[0], box)
    moved = 0
    for frame, b in zip(seq.frames, seq.boxes):
        assert frame.shape == image.shape and frame.dtype == np.uint8
        ys, xs = np.nonzero(frame.mean(axis=2) > 110)
        bright = np.array([xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()], float)
        # Contained (to the pixel), and tight: rotated corners thin out under blur and thresholding.
        assert bright[0] >= b[0] - 1 and bright[1] >= b[1] - 1
        assert bright[0] + bright[2] <= b[0] + b[2] + 1 and bright[1] + bright[3] <= b[1] + b[3] + 1
        np.testing.assert_allclose(bright, b, atol=2.0)
        moved += _iou(b, box) < 0.9
        assert b[0] >= 0 and b[1] >= 0 and b[0] + b[2] <= 480 and b[1] + b[3] <= 360
    assert moved >= 3  # the warps are not all near the identity


def test_warp_homographies_map_real_content(seq):
    """On a real photo-like frame, warping each frame back by its homography recovers the view."""
    photo = seq.frame(10)
    warped = warp_pairs(photo, np.random.default_rng(1), length=6, frame_size=(320, 240), colour=0.0, blur=0.0)
    view = warped.frames[0]
    assert view.shape == (240, 320, 3)
    x, y, w, h = warped.source_box
    assert 0.1 * np.sqrt(320 * 240) * 0.5 <= w and x >= 0 and y >= 0 and x + w <= 320 and y + h <= 240
    for frame, hom in zip(warped.frames[1:], warped.homographies[1:]):
        back = cv2.warpPerspective(frame, np.linalg.inv(hom), (320, 240))
        sl = _slices(warped.source_box)
        assert _ncc(back[sl], view[sl]) > 0.9
        assert _ncc(frame[sl], view[sl]) < _ncc(back[sl], view[sl])


def test_write_warp_sequences_load_and_repeat(seq, tmp_path):
    # Two photos: the clip's first frame, and its last one cropped to another size and content.
    photos = [seq.frame(0), np.ascontiguousarray(seq.frame(99)[0:360, 80:560])]
    out = tmp_path / "warp"
    folders = write_warp_sequences(photos, out, seed=5, per_photo=2, length=5, frame_size=(256, 192))
    assert [f.name for f in folders] == ["warp_0000_0", "warp_0000_1", "warp_0001_0", "warp_0001_1"]
    loaded = _check_written(folders, out)
    assert all(len(s) == 5 and s.frame(0).shape == (192, 256, 3) for s in loaded.values())
    again = write_warp_sequences(photos[:1], tmp_path / "again", seed=5, per_photo=1, length=5, frame_size=(256, 192))
    assert (again[0] / "groundtruth.txt").read_text() == (folders[0] / "groundtruth.txt").read_text()
    assert (folders[0] / "groundtruth.txt").read_text() != (folders[1] / "groundtruth.txt").read_text()
