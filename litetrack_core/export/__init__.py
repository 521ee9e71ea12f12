"""Shipping a model: ``litetrack export weights | onnx``, the int8 calibration of the ONNX search
graph on training frames, and the check of every engine against PyTorch on real frames."""
