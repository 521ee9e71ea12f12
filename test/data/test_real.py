"""``litetrack data real``: the materialiser on a repository the tests build from real frames."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from .demo_mirror import FRAMES, REPO_NAME
from litetrack_core.data.load import load_dataset
from litetrack_core.data.manifest import load_manifest
from litetrack_core.data.real import materialise


@pytest.fixture
def written(demo_repository, manifest_file, tmp_path):
    work, _, _, _ = demo_repository
    mirror = work.parent.parent  # MIRROR/owner/name
    report = materialise(load_manifest(manifest_file()), mirror, tmp_path / "out")
    return report, tmp_path / "out"


def test_good_sequences_are_written_in_the_project_layout(written, demo_repository):
    report, out = written
    _, _, _, gt = demo_repository
    assert sorted(s.name for s in report.written) == ["walker_masks", "walker_test", "walker_tlp"]
    sequences = {s.name: s for s in load_dataset(out)}
    assert set(sequences) == {"walker_masks", "walker_test", "walker_tlp"}
    for seq in sequences.values():
        assert len(seq) == FRAMES
        assert [p.name for p in seq.frame_paths] == [f"{k:06d}.jpg" for k in range(1, FRAMES + 1)]
        assert seq.grounding_frames == (0, 2, 4)
        assert seq.category == "person"
    np.testing.assert_allclose(sequences["walker_test"].ground_truth, gt)
    # Masks give the tight box of their pixels: the rectangles drawn from the integer boxes.
    masks = sequences["walker_masks"]
    visible = [k for k in range(FRAMES) if k != 2]
    np.testing.assert_allclose(masks.ground_truth[visible], gt.astype(int)[visible])
    assert masks.absent.tolist() == [k == 2 for k in range(FRAMES)]
    tlp = sequences["walker_tlp"]
    assert tlp.absent.tolist() == [k == 3 for k in range(FRAMES)]
    assert tlp.ground_truth[3].tolist() == [0, 0, 0, 0]


def test_a_category_file_of_more_than_one_word_skips_its_sequence_saying_why(written, caplog):
    _, out = written
    (out / "walker_tlp/category.txt").write_text("person vehicle\n")
    (out / "walker_test/category.txt").unlink()
    sequences = {s.name: s for s in load_dataset(out)}
    assert set(sequences) == {"walker_masks", "walker_test"}
    assert sequences["walker_test"].category is None  # no file: the sequence does not say
    assert "category.txt must hold one word" in caplog.text


def test_frames_are_the_repository_bytes(written, demo_repository):
    _, out = written
    work, _, _, _ = demo_repository
    for k in range(FRAMES):
        assert (out / "walker_test/img" / f"{k + 1:06d}.jpg").read_bytes() == \
            (work / "otb/Walker/img" / f"{k + 3:04d}.jpg").read_bytes()


def test_sentences_ours_then_the_published_one(written):
    _, out = written
    assert (out / "walker_masks/language.txt").read_text().splitlines() == [
        "the pedestrian of walker_masks", "a person walking", "a walking pedestrian seen from above"]
    seq = load_dataset(out / "walker_masks")[0]
    assert seq.language == "the pedestrian of walker_masks"
    assert len(seq.sentences) == 3
    assert (out / "walker_test/language.txt").read_text().splitlines() == ["the pedestrian of walker_test", "a person walking"]
    assert REPO_NAME in (out / "walker_test/SOURCE.txt").read_text()


def test_broken_sequences_are_skipped_and_named(written):
    report, out = written
    assert set(report.skipped) == {"bad_box", "box_outside", "missing_frame", "lfs_pointer"}
    assert "frame 7" in report.skipped["box_outside"] and "outside" in report.skipped["box_outside"]
    assert "line 5" in report.skipped["bad_box"] and "not numbers" in report.skipped["bad_box"]
    assert "frames missing" in report.skipped["missing_frame"] and "6" in report.skipped["missing_frame"]
    assert "frame 3" in report.skipped["lfs_pointer"] and "LFS pointer" in report.skipped["lfs_pointer"]
    for name in report.skipped:
        assert not (out / name).exists()
    assert not list(out.glob(".*partial"))  # nothing half-written


def test_a_changed_file_is_refused_by_its_hash(demo_repository, manifest_file, tmp_path):
    work, _, entries, _ = demo_repository
    altered = dict(entries[0], first_frame=dict(entries[0]["first_frame"], sha1="f" * 40))
    report = materialise(load_manifest(manifest_file([altered])), work.parent.parent, tmp_path / "out")
    assert not report.written
    assert "first frame" in report.skipped["walker_test"] and "SHA-1" in report.skipped["walker_test"]


def test_a_missing_mask_is_named(demo_repository, manifest_file, tmp_path):
    work, _, entries, _ = demo_repository
    # A folder without PNG masks in the frames' numbering.
    elsewhere = dict(entries[1], boxes="otb/Walker/img")
    report = materialise(load_manifest(manifest_file([elsewhere])), work.parent.parent, tmp_path / "out")
    assert "mask of frame 0 missing from otb/Walker/img" in report.skipped["walker_masks"]


def test_rerun_keeps_frames_and_refreshes_text(demo_repository, manifest_file, tmp_path):
    work, _, entries, _ = demo_repository
    mirror = work.parent.parent
    materialise(load_manifest(manifest_file(entries[:1])), mirror, tmp_path / "out")
    reworded = dict(entries[0], sentences=["the pedestrian crossing the road"])
    report = materialise(load_manifest(manifest_file([reworded])), mirror, tmp_path / "out")
    assert report.written[0].kept
    assert (tmp_path / "out/walker_test/language.txt").read_text() == "the pedestrian crossing the road\n"


def test_missing_repository_is_named_and_can_be_cloned(demo_repository, manifest_file, tmp_path):
    work, _, entries, _ = demo_repository
    empty = tmp_path / "empty_mirror"
    empty.mkdir()
    report = materialise(load_manifest(manifest_file(entries[:1])), empty, tmp_path / "out")
    assert REPO_NAME in report.skipped["walker_test"] and "not in the mirror" in report.skipped["walker_test"]
    # Where the internet is reachable the base is https://github.com; a local folder of repositories
    # exercises the same clone.
    report = materialise(load_manifest(manifest_file(entries[:1])), empty, tmp_path / "out",
                         clone_from=str(work.parent.parent))
    assert [s.name for s in report.written] == ["walker_test"]
    assert (empty / REPO_NAME / "HEAD").is_file()


def test_command_prints_what_it_wrote_and_skipped(demo_repository, manifest_file, tmp_path):
    work, _, _, _ = demo_repository
    done = subprocess.run(
        [sys.executable, "-m", "litetrack_core.cli", "data", "real", "--mirror", str(work.parent.parent),
         "--out", str(tmp_path / "out"), "--manifest", str(manifest_file())],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"3 sequences, {3 * FRAMES} frames ({3 * FRAMES - 2} with the target annotated)" in done.stdout
    for name in ("bad_box", "box_outside", "missing_frame", "lfs_pointer"):
        assert f"skipped {name}:" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "litetrack_core.cli", "data", "real", "--mirror", str(tmp_path / "nowhere"),
         "--out", str(tmp_path / "out2"), "--manifest", str(manifest_file())],
        capture_output=True, text=True, timeout=300,
    )
    assert bad.returncode == 2 and "nowhere" in bad.stderr


def test_frames_decode_to_the_source_pictures(written, clip):
    _, out = written
    source = sorted((clip / "img").glob("*.jpg"))[0]
    assert np.array_equal(cv2.imread(str(out / "walker_test/img/000001.jpg")), cv2.imread(str(source)))


def test_the_sampler_grounds_on_the_listed_frames_with_our_sentences(written):
    """Training reads the materialised corpus: NL samples on its grounding frames, with its sentences."""
    from litetrack_core.training.sampling import TrackingPairs

    _, out = written
    seq = load_dataset(out / "walker_test")[0]
    ds = TrackingPairs([seq], "litetrack-s168", samples_per_epoch=24, task_mix=(0, 1, 0), augment=False)
    infos = [ds.draw(i)[1] for i in range(len(ds))]
    assert {i.search_frame for i in infos} == {0, 2, 4}
    assert {i.text for i in infos if i.search_frame == 0} == {"the pedestrian of walker_test", "a person walking"}
    assert {i.text for i in infos if i.search_frame != 0} == {"the pedestrian of walker_test"}
