# Two commands on a fresh machine: `make demo` and `make test`. Each creates (or reuses)
# the virtual environment in .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch; other versions download several GB of CUDA libraries.
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test bench soak model photos compress compress-report temporal-study evaluate info clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: setup.py | $(BIN)/python
	$(BIN)/pip install -q -e '.[demo]'
	touch $@

$(VENV)/.dev: setup.py | $(BIN)/python
	$(BIN)/pip install -q '$(TORCH_SPEC)'
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.runtime

## Stylize a clip made from a bundled photo with the shipped default model (ONNX Runtime CPU).
demo: $(VENV)/.runtime
	$(BIN)/python -m sdk demo --out demo

## Debian tools that some tests use as independent checks: ffprobe (the written video), Xvfb, xwd, xwininfo and
## xdotool (the preview window). Best effort: without root or apt those tests skip with the reason.
$(VENV)/.tools: | $(BIN)/python
	@command -v ffprobe >/dev/null && command -v Xvfb >/dev/null && command -v xwd >/dev/null \
		&& command -v xwininfo >/dev/null && command -v xdotool >/dev/null \
		|| apt-get install -y -q --no-install-recommends ffmpeg xvfb x11-apps x11-utils xdotool >/dev/null 2>&1 \
		|| echo "could not apt-get install ffmpeg xvfb x11-apps x11-utils xdotool: the tests that need them skip"
	touch $@

## A GUI build of OpenCV beside the headless one, for the preview-window test only (the package keeps headless).
$(VENV)/opencv-gui/.installed: $(VENV)/.dev
	$(BIN)/pip install -q --no-deps --target $(VENV)/opencv-gui \
		"opencv-python==$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("opencv-python-headless"))')" \
		&& touch $@ || echo "opencv-python not installed: the preview-window test skips"

## The test suite (CPU only; GPU tests skip with a reason).
test: $(VENV)/.dev $(VENV)/.tools $(VENV)/opencv-gui/.installed
	$(BIN)/python -m pytest tests -q

## pytest-benchmark table: stylize_frame end to end and per stage, with baselines.
bench: $(VENV)/.dev
	mkdir -p .benchmarks
	$(BIN)/python -m pytest benchmarks -q -m "not soak" --benchmark-only --benchmark-columns=median,mean,min,max,rounds \
		--benchmark-sort=name --benchmark-json=.benchmarks/latest.json -p no:cacheprovider
	$(BIN)/python -m benchmarks.report .benchmarks/latest.json

## 20,000 frames at 640x360 through stylize_frame; resident memory every 1,000 frames (about 8 minutes).
soak: $(VENV)/.dev
	mkdir -p .benchmarks
	$(BIN)/python -m pytest benchmarks/test_soak.py -q -s --benchmark-only --benchmark-columns=median,rounds \
		--benchmark-json=.benchmarks/soak.json -p no:cacheprovider

## Reproduce the shipped default package: fetch the photo corpus, train (5,200 steps with one thread: the
## shipped run took 31 minutes for 4,500 steps beside a second run, 4 for the next 400, 2 for the last 300
## (the ink stage), and about 2 to build the crops), export, then the compressed variants (`make compress`,
## about 10 minutes). One thread: the shipped package was trained so, and a CPU run repeats bit for bit only
## at the same thread count.
model: $(VENV)/.dev
	$(BIN)/python -m trainer photos fetch
	OMP_NUM_THREADS=1 $(BIN)/python -m trainer train --config trainer/configs/default.toml --run runs/default
	$(BIN)/python -m trainer export --checkpoint runs/default/checkpoint.pt --out sdk/models/default
	$(BIN)/python -m trainer model-card --package sdk/models/default
	$(MAKE) compress

## The photo corpus (real photos from Debian's wallpaper packages and scikit-image) in ~/.cache/stylizer/photos.
photos: $(VENV)/.dev
	$(BIN)/python -m trainer photos fetch

## Add pruned (50% and 25% of the MACs, distilled 2,000 steps each) and FP16/INT8 variants to the shipped
## package, then the trade-off table (about 10 minutes on this 2-core machine).
compress: $(VENV)/.dev
	OMP_NUM_THREADS=2 $(BIN)/python -m trainer prune --package sdk/models/default --macs 0.5 --macs 0.25 --iterations 2000
	OMP_NUM_THREADS=2 $(BIN)/python -m trainer quantize --package sdk/models/default
	$(MAKE) compress-report

## Size, MACs, CPU latency (one run) and fidelity of every variant: reports/compress.{md,png,json}.
compress-report: $(VENV)/.dev
	$(BIN)/python -m trainer compress-report --package sdk/models/default --out reports

## The shipped recipe with and without its temporal-consistency term, trained side by side (one thread
## each, about 6 minutes), exported, and evaluated together: reports/temporal_study/report.md.
temporal-study: $(VENV)/.dev
	OMP_NUM_THREADS=1 $(BIN)/python -m trainer train --config trainer/configs/default.toml --set temporal_weight=0 \
		--run runs/temporal_off & \
	OMP_NUM_THREADS=1 $(BIN)/python -m trainer train --config trainer/configs/default.toml --run runs/temporal_on; \
	wait
	$(BIN)/python -m trainer export --checkpoint runs/temporal_off/checkpoint.pt --out runs/temporal_off/package
	$(BIN)/python -m trainer export --checkpoint runs/temporal_on/checkpoint.pt --out runs/temporal_on/package
	$(BIN)/python -m trainer evaluate --package runs/temporal_off/package --package runs/temporal_on/package \
		--label "without temporal term" --label "with temporal term (shipped)" --out reports/temporal_study

## The evaluation report of the shipped package on the corpus's test split: reports/evaluate/
## (report.md, looks.md with closure against the classical baselines, contact_sheet.jpg).
evaluate: $(VENV)/.dev
	$(BIN)/python -m trainer photos fetch
	$(BIN)/python -m trainer evaluate --package sdk/models/default --label "shipped (auto variant)" --out reports/evaluate --sheet-copy docs/looks.jpg

info: $(VENV)/.dev
	$(BIN)/python -m trainer info

clean:
	rm -rf $(VENV) demo runs .benchmarks .pytest_cache
