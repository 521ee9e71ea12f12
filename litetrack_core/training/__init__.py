"""Training: losses (``litetrack_core.training.losses``) and, later, the sampler and the loop."""
