# The two commands of the README: `make demo` (set up, then run the main job) and `make test`.
.PHONY: setup demo test train-default compare-backbones

setup:
	scripts/setup.sh

demo: setup
	.venv/bin/litetrack-ros-demo --out results/demo

# pytest exits 5 when it collects no test: that is a failure here, not a pass.
test: setup
	.venv/bin/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi; exit $$rc

# Re-creates the default model: its offline training set, stages 1 and 2 on it, the real corpus (cloned from
# GitHub at the manifest's pinned commits), stage 3 on it, and the shipped file (its float16 export)
# (docs/training.md; litetrack_core/weights/default/MODEL_CARD.md).
train-default: setup
	scripts/make_training_data.sh data/train
	.venv/bin/litetrack train configs/train/litetrack-s168.yaml --out runs/litetrack-s168
	.venv/bin/litetrack train configs/train/litetrack-s168-stage2.yaml --out runs/litetrack-s168-stage2
	.venv/bin/litetrack export weights runs/litetrack-s168-stage2/last.safetensors litetrack_core/weights/default/litetrack-s168.safetensors
	.venv/bin/litetrack data real --mirror data/mirror --clone-from https://github.com --out data/train/real
	.venv/bin/litetrack train configs/train/litetrack-s168-stage3-real.yaml --out runs/litetrack-s168-stage3-real
	.venv/bin/litetrack export weights runs/litetrack-s168-stage3-real/last.safetensors \
		litetrack_core/weights/default/litetrack-s168.safetensors

# The default model's backbone candidates (DINOv2 ViT-S/14, EfficientNet-Lite0), same data and steps.
compare-backbones: setup
	scripts/make_training_data.sh data/train
	scripts/compare_backbones.sh
