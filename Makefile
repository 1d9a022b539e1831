# The two commands a newcomer types:  `make run`  and  `make test`.
# Both create the virtual environment .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Offline machines read the four official MNIST files from a folder; with internet, leave it empty
# and torchvision downloads them. The course's shared copy is used when it sits beside the clone.
export MNIST_COURSE_DATA ?= $(abspath $(wildcard ../shared/data/mnist))
# Lessons call `mnist-course` as a learner would: the environment's scripts come first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test check lab clean lock

# settings.ini names the supported version ranges; constraints.txt pins the exact set CI tests (a lock).
$(BIN)/.installed: setup.py settings.ini constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

run: $(BIN)/.installed  ## set up, then run the course's main job
	$(BIN)/mnist-course reproduce --out runs/reproduce

test: $(BIN)/.installed  ## set up, then run the lessons (CPU cells) and the test suite
	$(BIN)/nbdev_test --path nbs --n_workers 1  # one notebook at a time: torch already uses both cores
	$(BIN)/pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

check: $(BIN)/.installed  ## notebooks clean and package in sync with them
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean
	git diff --exit-code -- nbs mnist_course
	test -z "$$(git status --porcelain -- nbs mnist_course)" || { git status --porcelain -- nbs mnist_course; exit 1; }

lab: $(BIN)/.installed  ## open the lessons in JupyterLab
	$(BIN)/jupyter lab nbs

clean:
	rm -rf $(VENV) _docs _proc docs/vendor

lock: $(BIN)/.docs-installed  ## after upgrading packages in .venv and testing them: pin that set in constraints.txt
	{ sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -v '^mnist.course'; } > constraints.tmp
	mv constraints.tmp constraints.txt

# The course website (docs/build.py): nbdev processes the notebooks, Sphinx + MyST-NB render them.
.PHONY: docs
$(BIN)/.docs-installed: $(BIN)/.installed docs/requirements.txt constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -r docs/requirements.txt
	touch $@

# The Draw a digit page (lesson 22) runs the network with onnxruntime-web: this version from the npm registry, its
# tarball checked against this hash, unpacked into docs/vendor/ (git-ignored); docs/build.py copies it into the site,
# so the page fetches nothing from a CDN.
ORT_WEB_VERSION := 1.31.1
ORT_WEB_SHA256 := bdccdb9fbb9ab537247c0c734e9b1d2b1b338b4f2a09faa58f0dc1cfa27c312c
ORT_WEB := docs/vendor/onnxruntime-web
ORT_WEB_TGZ := $(ORT_WEB)/onnxruntime-web-$(ORT_WEB_VERSION).tgz
$(ORT_WEB)/.unpacked-$(ORT_WEB_VERSION):
	rm -rf $(ORT_WEB) && mkdir -p $(ORT_WEB)
	cd $(ORT_WEB) && npm pack --silent onnxruntime-web@$(ORT_WEB_VERSION) >/dev/null
	echo "$(ORT_WEB_SHA256)  $(ORT_WEB_TGZ)" | sha256sum --check --quiet
	tar -xzf $(ORT_WEB_TGZ) -C $(ORT_WEB) --strip-components=1 package/package.json package/dist/ort.wasm.min.js \
	    package/dist/ort-wasm-simd-threaded.mjs package/dist/ort-wasm-simd-threaded.wasm
	rm $(ORT_WEB_TGZ)
	touch $@

# The build's output is kept in _proc/build.log, its first line the time it started: tests/test_site.py reuses this
# build (CI runs `make docs` before `make test`) when no file of the repository has changed since.
docs: $(BIN)/.docs-installed $(ORT_WEB)/.unpacked-$(ORT_WEB_VERSION)  ## build the course website into _docs/
	set -o pipefail; log=$$(mktemp); { echo "docs/build.py started at $$(date +%s.%N)"; $(BIN)/python docs/build.py 2>&1; } \
	    | tee $$log && mv $$log _proc/build.log
