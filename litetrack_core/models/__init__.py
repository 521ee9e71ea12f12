"""The LiteTrack / UVLTrack model family."""

from litetrack_core.models.configs import CONFIGS, ModelConfig, get_config
from litetrack_core.models.factory import create_model
from litetrack_core.models.litetrack import LiteTrack

__all__ = ["CONFIGS", "ModelConfig", "LiteTrack", "create_model", "get_config"]
