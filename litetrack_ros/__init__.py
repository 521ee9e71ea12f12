"""litetrack_ros: the ROS 2 side of LiteTrack (rclpy nodes and ROS <-> numpy conversions).

This one Python package has two halves:
  * our modules, the files beside this one (litetrack_ros.tracker_node, ...);
  * the interfaces that rosidl generates from msg/ and srv/ (litetrack_ros.msg, litetrack_ros.srv
    and their typesupport extension modules).

In a colcon install both halves lie in one folder and nothing special is needed. In the project's
.venv (scripts/setup.sh) they lie in two: the generated half in site-packages/litetrack_ros/ (cmake
install), ours in the repository (pip editable install). Whichever folder Python finds first
becomes the package, so the other half would be invisible. Therefore this same file is also the
generated half's __init__.py (CMakeLists.txt copies it over the empty one rosidl writes), and it
extends the package's __path__ with every other folder that holds a part of the package:
  * `litetrack_ros/` in any sys.path entry (pkgutil.extend_path), e.g. site-packages or the
    current directory;
  * the folder that any other import finder maps the name to (setuptools' editable finder, which
    is not a sys.path entry).
Submodules are then found in either folder, so `import litetrack_ros.tracker_node` and
`from litetrack_ros.msg import TrackStatus` both work wherever the package is imported from.

Keep this file free of other code: it is copied into the build, and scripts/setup.sh rebuilds the
interfaces when it changes. Add modules beside it; they need nothing from here.
"""

from __future__ import annotations


def _extend_path(path: list[str], name: str) -> list[str]:
    import importlib.machinery
    import os
    import pkgutil
    import sys

    path = list(pkgutil.extend_path(path, name))
    seen = {os.path.realpath(p) for p in path}
    for finder in sys.meta_path:
        if finder is importlib.machinery.PathFinder:  # its folders: pkgutil.extend_path above
            continue
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        try:
            spec = find_spec(name, None)
        except Exception:  # noqa: BLE001 - a foreign finder's failure must not break the import
            continue
        for location in (spec.submodule_search_locations or []) if spec is not None else []:
            real = os.path.realpath(location)
            if real not in seen and os.path.isdir(location):
                seen.add(real)
                path.append(location)
    return path


__path__ = _extend_path(__path__, __name__)
