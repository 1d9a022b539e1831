#!/usr/bin/env bash
# The GPU checks this project owes, as ONE prepared device run (see the device tool's README).
# Prepare here (no GPU needed), from the repository root:
#   mkdir -p .device/mnist && cp ../shared/data/mnist/* .device/mnist/          # data travels in .device (git-ignored)
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl torchinfo==1.8.0              # the one package the device lacks
# Then run on the device with carry [".device", ".whl"] and timeout_s ~570:
#   bash benchmarks/gpu_session.sh
# It writes at most 8 files to $OUT (the device tool's limit), one folder deep.
set -uo pipefail
export PYTHONUNBUFFERED=1 MNIST_COURSE_DATA=$PWD/.device/mnist
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-deps --no-build-isolation -e . || exit 1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "import torch; print('torch', torch.__version__)"; } > "$OUT/machine.txt"
# 1. benchmarks: augmentation (>= 1M images/s), loader, and training throughput against the reference pipeline
{ python3 benchmarks/augment.py --device cuda; echo; python3 benchmarks/loader.py --device cuda; echo;
  python3 benchmarks/train.py --steps 50; echo; python3 benchmarks/train.py --steps 50 --compile --models resnet34; } \
  2>&1 | tee "$OUT/benchmarks.md"
# 2. the whole report with the paper preset (both models), timed
( time mnist-course reproduce --preset paper --out /tmp/reproduce ) 2>&1 | tee "$OUT/reproduce.log"
cp /tmp/reproduce/report.md "$OUT/report.md"
# run folders without the ResNet's 90 MB weights: metrics, histories, evaluations, figures
tar -czf "$OUT/reproduce.tgz" -C /tmp --exclude='*.safetensors' --exclude='probabilities.npy' reproduce
ls -la "$OUT"
