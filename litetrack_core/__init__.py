"""LiteTrack vision-language tracker: model, weights and (later) tracking, evaluation, training.

This package never imports ROS; the ROS 2 node in ``litetrack_ros`` only converts and calls it.
"""

__version__ = "0.1.0"
