"""Turning frames into model inputs and model outputs into boxes (no ROS)."""
