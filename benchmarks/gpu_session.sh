#!/usr/bin/env bash
# The GPU batches this project owes, each ONE prepared device call that fits one 15-minute lease (the device tool's
# README): `BATCH=NAME bash benchmarks/gpu_session.sh` runs one batch inside BUDGET seconds (default 540, 9 minutes).
#
# Prepare once, here (no GPU needed), from the repository root; both folders are git-ignored and travel by `carry`:
#   mkdir -p .device/mnist && cp ../shared/data/mnist/*.gz .device/mnist/          # MNIST's four files, 11 MB
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl torchinfo==1.8.0                 # 23 kB; what the device lacks
# The device's image has every other package the course imports (KINDS.md, "Python packages already there": filelock,
# scipy, statsmodels, safetensors, matplotlib, seaborn, scikit-learn, tqdm). machine.txt prints their versions there:
# carry a wheel only for a package that settings.ini asks in a newer version than machine.txt shows.
#
# The device call (one batch a lease; the script ends within about 10 s of BUDGET, so 600 s leaves room to spare):
#   run(command="BATCH=resnet34-99.45 bash benchmarks/gpu_session.sh", carry=[".device", ".whl"], timeout_s=600)
# A second call continues where the first stopped. Make it at once, while the machine is warm (30 s), with BUDGET the
# lease's time left (status's budget_left_s) less 40 s, and timeout_s 30 s above BUDGET; e.g. with 4 minutes left:
#   run(command="BATCH=resnet34-99.45 BUDGET=200 bash benchmarks/gpu_session.sh", carry=[".device", ".whl"],
#       timeout_s=230)
# How finished work is carried over: everything lands in $WORK (default /tmp/gpu_work), which stays on the machine while
# it is warm (30 s after a call), and is packed into $OUT/results.tgz after every step. A run is skipped when its file
# is in $WORK; a sweep also skips what results/sweeps/NAME already holds (copied into $WORK first). If the machine went
# back between calls, unpack the first call's results.tgz into .device/work (`mkdir -p .device/work && tar -xzf
# results.tgz -C .device/work`): the script copies .device/work/results into $WORK (empty .device/work before another
# batch). Weights never come back (89 MB a ResNet34 checkpoint): an ensemble needs its runs trained on the machine that
# evaluates it. What travels (the tree, .device, .whl) is about 46 MB of the 64 MB a call may carry.
#
# What comes back in $OUT: machine.txt, session.log (everything printed), tests.log, results.tgz (results/ as the repo
# lays it out: sweeps/NAME/*.json, beyond-GPU/RUN/ without checkpoints, with RUN.log), logs.tgz (each sweep's log), and
# parallel.md (ablation-full) or candidate.md (targets; also in beyond-GPU/).
# To commit a real GPU run: `tar -xzf results.tgz --skip-old-files` in the repository root (a committed record is never
# overwritten), then regenerate each touched sweep's summary from every run file, `mnist-course sweep NAME --no-train`
# (lessons 15, 16, 17 and 19 read results/sweeps/NAME/NAME.json), then what CONTRIBUTING.md regenerates after a new
# run (the leaderboard and the README's headline table); beyond-GPU/candidate.md goes into that folder's README.
#
# The batches. Minutes are GPU time inside the call, estimated from committed timings (the run files' train_seconds);
# each start of a machine costs 1-2 minutes more. Runs go in order of importance; a run starts only if its estimate
# fits in the time left (then the next call starts there). All ResNet34 runs committed before 2026-12-02 (56a94fb)
# drew dropout from the old seeding, so a seed rerun today is a fresh draw of the same recipe, not a repeat.
#   resnet34-99.45 (issue 39; about 12 minutes: 9 in the first call, the last two runs in a second)
#       the CUDA tests; then detective-resnet34's (d) SGD at 0.01, seeds 0, 1, 2; (a) as written, seeds 1, 2; (b)
#       momentum 0.9, seed 0; (a) in fp32 (sweep detective-resnet34-fp32), seed 0; (a) seed 0. The committed
#       reproductions (results/reproduce-paper-h100, -h200) have (a) seed 0's configuration, but ran before the
#       dropout seeding changed: copied into the sweep, a run named seed 0 would not be what seed 0 trains now, so it
#       is trained, last. Each paper-budget ResNet34 run: 64-66 s of training in bf16 (reproduce-paper-h100, -h200),
#       80 s with start and test; in fp32 about 114 s of training (10,500 img/s in the graph, benchmarks-h200): 130 s.
#   targets (issue 40; about 10 minutes: 9.5 with weight decay chosen, 11 with 8 epochs; the TTA ensemble, last, may
#       need the second call, on the same warm machine since the weights are there)
#       the CUDA tests; fast-epochs-resnet34's missing runs, 6 and 8 epochs with seeds 1 and 2 (32 and 43 s of
#       training on the H100); then the candidate of a rule fixed before these runs (benchmarks/gpu_batches.py: among
#       the fast ResNet34 variants with run files for seeds 0, 1 and 2, the best mean validation accuracy over them;
#       no test accuracy read), printed to candidate.md with its validation numbers; that candidate on fresh seeds 5-9
#       (`mnist-course train --preset fast` and its options, into beyond-GPU/NAME-seedS, each 15 s more than its
#       sweep's median training seconds); their ensemble without TTA (30 s) and with 8 views at the strength the
#       runs' own validation images choose (`--tta-strength auto`, 90 s), into beyond-GPU/NAME-s5to9-ensemble and
#       -ensemble-tta8-auto (no "seed" in the name: the leaderboard reads NAME-seedS as runs; probabilities come back,
#       weights stay behind).
#   ablation-full (issue 41; about 9.5 minutes with runs at 1.6x at once, 14 one at a time; the stem kernels: 8 more)
#       the CUDA tests, with test_gpu_batches.py's fit_many test under the graph with dropout; benchmarks/parallel.py
#       with K = 1, 2, 4 (capped at 60 s; parallel.md): if K runs at once train at least 1.6x one run's images/s and
#       that test passed, the sweep trains K at once (`--parallel K`), else one at a time; then ablation-full's
#       "modifications" view without the report's own network (torchvision's ResNet34, then each modification added),
#       seed 0 of every network, then seed 1, then seed 2; then the stem-kernel view (3x3, 7x7) while time is left.
#       No full-budget timing of these networks is committed: the estimates (35-85 s a run) scale the report's
#       network's 65 s by the size of the maps each keeps (7x7 to 28x28 after the stem and pool).
#   families (issue 42; about 9 minutes)
#       the CUDA tests; the fast preset's runs of FAMILY_RUNS (MODEL:SEED, in order; default: efficientnet_b0:0
#       densenet121:1 efficientnet_b0:1 densenet121:2 efficientnet_b0:2, so that both families reach two seeds first;
#       DenseNet121's seed 0 is committed in results/beyond-h200) into beyond-GPU/MODEL-seedS, where lessons 05 and 19
#       and the leaderboard read the preset's runs of every family (`seed_groups`): no sweep, since the ResNet34's and
#       DenseNet121's fast runs are already run folders there. DenseNet121: 105 s of training on the H200;
#       EfficientNet-B0 has no GPU timing yet (estimated 90 s a run).
# TINY=1 runs a batch's code path in minutes on a CPU (the tiny budget, nothing compared with the committed runs) to
# rehearse it before GPU time is spent: e.g. `TINY=1 BATCH=targets OUT=/tmp/out-targets bash benchmarks/gpu_session.sh`.
# Its outputs are never results: its archive holds rehearsal/, not results/. In `targets` the baseline stands in for the
# candidate's ResNet34s (a CPU takes hours to evaluate five ResNet34s on 10,000 test images with views). PARALLEL=K
# skips ablation-full's benchmark and trains K at once (a rehearsal of --parallel).
set -uo pipefail
BATCH=${BATCH:-}; TINY=${TINY:-0}; BUDGET=${BUDGET:-540}
case $BATCH in resnet34-99.45|targets|ablation-full|families) ;;
  *) echo "usage: BATCH=resnet34-99.45|targets|ablation-full|families [TINY=1] [BUDGET=s] bash $0" >&2; exit 2 ;; esac
export PYTHONUNBUFFERED=1 MNIST_COURSE_DATA=${MNIST_COURSE_DATA:-$PWD/.device/mnist}
OUT=${OUT:-/tmp/gpu_out}; WORK=${WORK:-/tmp/gpu_work}; START=$(date +%s)
RES=$WORK/$([ "$TINY" = 1 ] && echo rehearsal || echo results)  # a rehearsal's runs never unpack into results/
mkdir -p "$OUT" "$WORK/bin" "$RES/sweeps" "$WORK/logs" "$WORK/state"
if [ -d .whl ]; then python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1; fi
export PYTHONPATH=$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}  # the package straight from the checkout
CLI='import sys; from mnist_course.cli import main; sys.exit(main(sys.argv[1:]))'  # and its command, on PATH
printf '#!/bin/sh\nexec python3 -c "%s" "$@"\n' "$CLI" > "$WORK/bin/mnist-course" && chmod +x "$WORK/bin/mnist-course"
export PATH=$WORK/bin:$PATH
python3 -c "import mnist_course.train" || { echo "the course does not import here: prepare and carry .whl"; exit 1; }
if [ -d .device/work/results ]; then cp -rn .device/work/results/. "$RES/" || true; fi  # an earlier call's runs

stamp() { echo "== $(date -u +%T) (+$(( $(date +%s) - START )) s) $*"; }
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
limit() { local l=$(( $(left) - 5 )); echo $(( $1 < l ? $1 : (l > 1 ? l : 1) )); }  # S, or less if less is left
fits() {  # SECONDS WHAT: whether WHAT, estimated at SECONDS, can finish in this call
  [ "$(left)" -ge $(( $1 + 10 )) ] && return
  stamp "not started, $(left) s left for $2 (about $1 s): the next call starts there"; return 1; }
pack() {  # results/ (no checkpoints) into $OUT/results.tgz, and the sweeps' logs into logs.tgz
  tar -czf "$WORK/results.tgz" -C "$WORK" --exclude=checkpoints "${RES##*/}" &&
    tar -czf "$WORK/logs.tgz" -C "$WORK" logs && cp "$WORK/results.tgz" "$WORK/logs.tgz" "$OUT/"; }
committed() {  # SWEEP...: the committed run files of each into $WORK beside this call's (a tiny rehearsal: none)
  for s in "$@"; do mkdir -p "$RES/sweeps/$s"
    [ "$TINY" = 1 ] || cp -n results/sweeps/$s/*-seed*.json "$RES/sweeps/$s/" 2>/dev/null || true; done; }

if [ "$TINY" = 1 ]; then
  SWEEP_TINY=--tiny; TRAIN_TINY="--epochs 1 --samples-per-epoch 256 --train-subset 1000 --eval-subset 200"; VIEWS=2
  SLACK=10  # a step's time limit, in estimates: a CPU's tiny runs take longer than a GPU's full ones
else
  SWEEP_TINY=; TRAIN_TINY=; VIEWS=8; SLACK=2; fi

cuda_tests() {  # once per warm machine: the CUDA tests of the fast step and of several runs at once
  if [ -f "$WORK/state/tests.log" ]; then stamp "CUDA tests: ran in an earlier call"; else
    stamp "CUDA tests"  # the cuBLAS workspace fixed: one stream or another gives the same products (the fit_many test)
    CUBLAS_WORKSPACE_CONFIG=:4096:8 timeout $(limit 150) python3 -m pytest -q -rA -p no:cacheprovider -k cuda \
      tests/test_step.py tests/test_gpu_batches.py 2>&1 | tail -n 30 > "$WORK/state/tests.log"; fi
  cp "$WORK/state/tests.log" "$OUT/"; tail -n 1 "$OUT/tests.log"; }

sweep_step() {  # SWEEP SECONDS VARIANT:SEED...: those runs of SWEEP in one process (K at once), if they fit
  local name=$1 est=$2 t0; shift 2
  fits "$est" "$name: $*" || return 1
  stamp "sweep $name: $*"; t0=$(date +%s)
  timeout $(limit $(( SLACK * est ))) mnist-course sweep "$name" $SWEEP_TINY --only "$@" --parallel "${K:-1}" \
    --out "$RES/sweeps/$name" >> "$WORK/logs/$name.log" 2>&1 < /dev/null
  echo "   exit $?, $(( $(date +%s) - t0 )) s"; pack; }

run_plan() {  # stdin: lines 'SWEEP SECONDS VARIANT:SEED', in order; the runs not yet written, K of a seed at once
  local plan todo name est item sweep= seed= total=0 step=()
  plan=$(cat); committed $(cut -d " " -f 1 <<< "$plan" | sort -u)
  todo=$(python3 benchmarks/gpu_batches.py pending --results "$RES" <<< "$plan") || return 1
  while read -r -u 3 name est item; do
    [ -n "$name" ] || continue
    if [ ${#step[@]} -gt 0 ] && { [ ${#step[@]} -ge "${K:-1}" ] || [ "$name/${item##*:}" != "$sweep/$seed" ]; }; then
      sweep_step "$sweep" "$total" "${step[@]}" || return 1; step=(); total=0; fi
    step+=("$item"); sweep=$name; seed=${item##*:}
    total=$(( total + est * (${K:-1} > 1 ? 5 : 8) / 8 ))  # K at once: at least 1.6x one run's pace, as chosen
  done 3<<< "$todo"
  [ ${#step[@]} -eq 0 ] || sweep_step "$sweep" "$total" "${step[@]}"; }

train_run() {  # NAME SEED SECONDS MODEL [OPTION...]: `train --preset fast` into beyond-GPU/NAME-seedSEED, if it fits
  local run="$BEYOND/$1-seed$2" seed=$2 est=$3 model=$4 t0; shift 4
  [ -f "$run/metrics.json" ] && return 0
  fits "$est" "$(basename "$run")" || return 1
  stamp "train $(basename "$run"): --model $model --preset fast${*:+ $*}"; t0=$(date +%s)
  timeout $(limit $(( SLACK * est ))) mnist-course train --model "$model" --preset fast --seed "$seed" "$@" \
    $TRAIN_TINY --resume --out "$run" > "$run.log" 2>&1 < /dev/null
  echo "   exit $?, $(( $(date +%s) - t0 )) s: $(tail -n 1 "$run.log")"; pack; }

evaluate_step() {  # OUT SECONDS RUN... [OPTION...]: `mnist-course evaluate` of the runs into OUT, once, if it fits
  local out=$1 est=$2 t0; shift 2
  [ -f "$out/metrics.json" ] && return 0
  fits "$est" "$(basename "$out")" || return 1
  stamp "evaluate $(basename "$out")"; t0=$(date +%s)
  timeout $(limit $(( SLACK * est ))) mnist-course evaluate "$@" --out "$out" 2>&1 < /dev/null | grep -v "^wrote"
  echo "   exit ${PIPESTATUS[0]}, $(( $(date +%s) - t0 )) s"; pack; }

summaries() {  # SWEEP...: each sweep's table from every run file in $WORK, if time is left (after the batch's runs)
  for s in "$@"; do [ "$(left)" -gt 20 ] && [ -d "$RES/sweeps/$s" ] &&
    timeout $(limit 30) mnist-course sweep "$s" $SWEEP_TINY --no-train --out "$RES/sweeps/$s" 2>&1 | tail -n 12
  done; }

main() {
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
  python3 -m pip list 2>/dev/null | grep -i -E "^(torch|torchvision|torchinfo|filelock|scipy|statsmodels|safetensors) "
  python3 -c "from mnist_course.machine import describe_machine; print(describe_machine())"; } > "$OUT/machine.txt"
cat "$OUT/machine.txt"
GPU=$(python3 -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')")
case $GPU in *H100*) TAG=h100 ;; *H200*) TAG=h200 ;; "") TAG=cpu ;; *) TAG=gpu ;; esac
if [ "$TAG" = cpu ] && [ "$TINY" != 1 ]; then echo "no CUDA GPU here: the full budgets need one (TINY=1: a rehearsal)"
  exit 1; fi
BEYOND=$RES/beyond-$TAG; mkdir -p "$BEYOND"
stamp "batch $BATCH on ${GPU:-this CPU}, ${BUDGET} s"
cuda_tests

case $BATCH in
resnet34-99.45)
  run_plan <<'PLAN'
detective-resnet34 80 (d) SGD at 0.01:0
detective-resnet34 80 (d) SGD at 0.01:1
detective-resnet34 80 (d) SGD at 0.01:2
detective-resnet34 80 (a) as written: SGD at 0.001:1
detective-resnet34 80 (a) as written: SGD at 0.001:2
detective-resnet34 80 (b) SGD, momentum 0.9:0
detective-resnet34-fp32 130 (a) as written: SGD at 0.001:0
detective-resnet34 80 (a) as written: SGD at 0.001:0
PLAN
  summaries detective-resnet34 detective-resnet34-fp32 ;;

targets)
  run_plan <<'PLAN' || { pack; return; }
fast-epochs-resnet34 45 6 epochs:1
fast-epochs-resnet34 55 8 epochs:1
fast-epochs-resnet34 45 6 epochs:2
fast-epochs-resnet34 55 8 epochs:2
PLAN
  local c=$BEYOND/candidate.md  # chosen once: a second call keeps the first call's choice
  if [ ! -f "$c" ]; then  # the committed fast runs and this call's; a tiny rehearsal reads the committed ones only
    committed $(cd results/sweeps && ls -d fast-*-resnet34)
    python3 benchmarks/gpu_batches.py candidate --results "$([ "$TINY" = 1 ] && echo results || echo "$RES")" \
      > "$c" || { cat "$c"; rm -f "$c"; return; }; fi
  cp "$c" "$OUT/"; cat "$c"
  local name opts runs=(); name=$(sed -n 's/^run name: //p' "$c"); opts=$(sed -n 's/^train options: //p' "$c")
  local est=$(( $(sed -n 's/^seconds of training a run: //p' "$c") + 15 )) model=resnet34
  if [ "$TINY" = 1 ]; then model=baseline; name=baseline${name#resnet34}; fi  # see TINY above
  for s in 5 6 7 8 9; do train_run "$name" $s $est $model $opts || break
    [ -f "$BEYOND/$name-seed$s/metrics.json" ] && runs+=("$BEYOND/$name-seed$s"); done
  local e=$BEYOND/$name-s5to9-ensemble  # not "seed": results.seed_groups reads *seed* folders as runs
  if [ ${#runs[@]} -lt 5 ]; then stamp "the ensemble waits for its 5 runs"
  elif ! ls -d "${runs[@]/%//checkpoints}" > /dev/null 2>&1; then stamp "the runs' weights are not on this machine"
  else  # without TTA, then with views at the strength the runs' own validation images choose
    evaluate_step "$e" 30 "${runs[@]}" && evaluate_step "$e-tta$VIEWS-auto" 90 "${runs[@]}" --tta $VIEWS \
      --tta-strength auto; fi
  summaries fast-epochs-resnet34 ;;

ablation-full)
  if [ -n "${PARALLEL:-}" ]; then K=$PARALLEL; else
    local p=$WORK/state/parallel.md  # measured once per warm machine
    if [ "$TINY" = 1 ]; then P="--tiny"; else P="--ks 1 2 4 --images 30000 --repeats 1"; fi
    [ -f "$p" ] || { stamp "parallel: K = 1, 2, 4 runs at once"; timeout $(limit 60) python3 benchmarks/parallel.py $P \
      > "$p" 2>&1; }
    cp "$p" "$OUT/"; cat "$p"
    if grep -q "PASSED .*test_cuda_runs_trained_at_once" "$WORK/state/tests.log"; then
      K=$(python3 benchmarks/parallel.py --choose "$p"); else K=1; stamp "fit_many's CUDA test did not pass here"; fi
  fi; stamp "ablation-full: $K run(s) at once"
  run_plan <<'PLAN'
ablation-full 35 torchvision ResNet34:0
ablation-full 45 + 5x5 stride-1 stem:0
ablation-full 80 + stride-1 max pool:0
ablation-full 85 + projection on every block:0
ablation-full 35 torchvision ResNet34:1
ablation-full 45 + 5x5 stride-1 stem:1
ablation-full 80 + stride-1 max pool:1
ablation-full 85 + projection on every block:1
ablation-full 35 torchvision ResNet34:2
ablation-full 45 + 5x5 stride-1 stem:2
ablation-full 80 + stride-1 max pool:2
ablation-full 85 + projection on every block:2
ablation-full 80 stem 3x3:0
ablation-full 80 stem 7x7:0
ablation-full 80 stem 3x3:1
ablation-full 80 stem 7x7:1
ablation-full 80 stem 3x3:2
ablation-full 80 stem 7x7:2
PLAN
  summaries ablation-full ;;

families)
  declare -A est=([densenet121]=120 [efficientnet_b0]=90 [resnet34]=40)
  for run in ${FAMILY_RUNS:-efficientnet_b0:0 densenet121:1 efficientnet_b0:1 densenet121:2 efficientnet_b0:2}; do
    train_run "${run%:*}" "${run#*:}" "${est[${run%:*}]}" "${run%:*}" || break
  done ;;
esac
pack; stamp "done"; ls -la "$OUT"
}
main 2>&1 | tee -a "$OUT/session.log"
