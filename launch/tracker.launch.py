"""ros2 launch litetrack_ros tracker.launch.py image_topic:=/camera/image_raw [target_text:="the red car"]

Thin: declares the arguments and starts tracker_node with the parameters file plus the overrides
and the remapping of its relative 'image' topic in litetrack_ros.launch_args (the tests start the
node with exactly these).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from litetrack_ros.launch_args import LAUNCH_ARGUMENTS, node_overrides, node_remappings


def generate_launch_description() -> LaunchDescription:
    defaults = {name: default for name, (default, _) in LAUNCH_ARGUMENTS.items()}
    defaults["params_file"] = PathJoinSubstitution([FindPackageShare("litetrack_ros"), "config", "tracker.yaml"])
    values = {name: LaunchConfiguration(name) for name in LAUNCH_ARGUMENTS}
    return LaunchDescription(
        [
            *(DeclareLaunchArgument(n, default_value=defaults[n], description=d) for n, (_, d) in LAUNCH_ARGUMENTS.items()),
            Node(
                package="litetrack_ros",
                executable="tracker_node",
                name="litetrack_tracker",
                namespace=values["namespace"],
                parameters=[values["params_file"], node_overrides(values)],
                remappings=node_remappings(values),
                output="screen",
            ),
        ]
    )
