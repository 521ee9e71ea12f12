"""The detector and the pose model are a pinned dependency: their files are checked by SHA-256 every time they load."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile

import pytest

from litetrack_core.grounding.install import DetectorError, detector_files, install_detector


@pytest.fixture
def copy_of_detector(tmp_path):
    """The installed detector files (scripts/setup.sh installs them), copied to a folder of the test."""
    source = detector_files()
    folder = tmp_path / "detector"
    shutil.copytree(source, folder)
    return folder


def test_the_installed_files_verify(copy_of_detector):
    assert detector_files(copy_of_detector) == copy_of_detector
    assert {p.name for p in copy_of_detector.iterdir()} == {
        "centernet.json", "centernet.bin", "movenet-lightning.json", "movenet-lightning.bin"}


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.unlink(), "is missing"),
    (lambda p: p.write_bytes(p.read_bytes()[:1000]), "has 1000 bytes"),
    (lambda p: p.write_bytes(bytes([p.read_bytes()[0] ^ 1]) + p.read_bytes()[1:]), "fails its SHA-256 check"),
])
@pytest.mark.parametrize("name", ["centernet.json", "centernet.bin", "movenet-lightning.json", "movenet-lightning.bin"])
def test_missing_truncated_or_altered_files_are_refused_by_name(copy_of_detector, name, damage, message):
    damage(copy_of_detector / name)
    with pytest.raises(DetectorError, match=message) as err:
        detector_files(copy_of_detector)
    assert str(copy_of_detector / name) in str(err.value)


def test_a_tarball_that_is_not_the_pinned_package_is_refused(tmp_path):
    fake = tmp_path / "human-3.3.6.tgz"
    with tarfile.open(fake, "w:gz") as archive:
        data = b"{}"
        info = tarfile.TarInfo("package/models/centernet.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    with pytest.raises(DetectorError, match="SHA-512 differs from the registry's pinned integrity"):
        install_detector(tmp_path / "out", tarball=fake)
    assert not (tmp_path / "out" / "centernet.json").exists()


def test_check_command_names_the_bad_file(copy_of_detector):
    (copy_of_detector / "centernet.bin").write_bytes(b"not weights")
    done = subprocess.run([sys.executable, "-m", "litetrack_core.cli", "detector", "check", "--dir", str(copy_of_detector)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "centernet.bin" in done.stderr
