"""ROS 2 tests. A package (unlike the other test folders) so that its conftest.py is imported as
`ros.conftest` and does not replace test/conftest.py as the module `conftest`, which other tests
import from (`from conftest import tiny_config`)."""
