#!/usr/bin/env bash
# Lesson 20's few-labels runs for the seeds given (default: 0 1 2), from this folder. For 100, 300 and 1,000 labels:
# the baseline supervised on the labels alone, its student (self-training, round 1) and the student's student
# (round 2), first with 4 epochs of 10,000 images, then with twice that (-budget2x); last, a check of whether twice was
# enough: the supervised runs with four times the images (-budget4x). A run whose metrics.json exists is skipped; each
# run's terminal output goes to its .log.
set -euo pipefail
cd "$(dirname "$0")"
PRECISION=0.95  # a student keeps the pool images at least as sure as its teacher is when right 95% of the time
run() { local out=$1; shift; [ -f "$out/metrics.json" ] || mnist-course "$@" --out "$out" > "$out.log" 2>&1; }
train() {  # train NAME LABELS IMAGES_PER_EPOCH: the quick preset's baseline, cut to 4 epochs of that many images
  run "$1" train --model baseline --preset quick --labels "$2" --seed "$seed" --epochs 4 --samples-per-epoch "$3"
}
grid() {  # grid SUFFIX IMAGES_PER_EPOCH: supervised, round 1, round 2 (a student keeps its teacher's budget)
  for n in 100 300 1000; do
    train "baseline-labels$n$1-seed$seed" $n "$2"
    run "baseline-labels$n$1-selftrain-seed$seed" self-train "baseline-labels$n$1-seed$seed" --precision $PRECISION
  done
  for n in 100 300 1000; do
    run "baseline-labels$n$1-selftrain2-seed$seed" self-train "baseline-labels$n$1-selftrain-seed$seed" \
      --precision $PRECISION
  done
}
for seed in ${@:-0 1 2}; do
  grid "" 10000
  grid -budget2x 20000
  for n in 100 300 1000; do train "baseline-labels$n-budget4x-seed$seed" $n 40000; done
done
