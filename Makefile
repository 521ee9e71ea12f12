# The two commands of the README: `make demo` (set up, then run the main job) and `make test`.
.PHONY: setup demo test

setup:
	scripts/setup.sh

demo: setup
	.venv/bin/litetrack-ros-demo --out results/demo

# pytest exits 5 when it collects no test: that is a failure here, not a pass.
test: setup
	.venv/bin/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi; exit $$rc
