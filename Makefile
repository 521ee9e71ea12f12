# The two commands of the README: `make demo` (set up, then run the main job) and `make test`.
.PHONY: setup demo test train-default

setup:
	scripts/setup.sh

demo: setup
	.venv/bin/litetrack-ros-demo --out results/demo

# pytest exits 5 when it collects no test: that is a failure here, not a pass.
test: setup
	.venv/bin/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi; exit $$rc

# Re-creates the default model: its offline training set, then the training run (docs/training.md).
train-default: setup
	scripts/make_training_data.sh data/train
	.venv/bin/litetrack train configs/train/litetrack-s168.yaml --out runs/litetrack-s168
