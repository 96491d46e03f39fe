#!/usr/bin/env bash
# Data-parallel scaling on this machine: the same SimCLR run (simclr-fashion, global batch 256)
# as 1 process x 2 threads and as 2 processes x 1 thread launched by the real torchrun (c10d,
# Gloo over loopback). Prints img/s of each (the mean of the metric rows after the first),
# their ratio, and the share of the 2-rank run spent waiting for gradients after the backward
# passes (the trainer's "communication:" line).
#   bench/bench_distributed.sh [STEPS] [BUILD_DIR]
set -euo pipefail
steps=${1:-60}
build=${2:-build}
cli="$build/app/pretext-cli"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(train --preset simclr-fashion --steps "$steps" --set eval.knn_every=0 --set run.log_every=10
        --set run.tensorboard=false --set run.checkpoint_every=100000 --quiet)

mean_img_s() {  # the img_per_s column of a run's metrics.csv, rows after the first
  python3 - "$1" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/metrics.csv")))[1:]
print(sum(float(r["img_per_s"]) for r in rows) / len(rows))
PY
}

"$cli" "${common[@]}" --out "$out/one" --set run.threads=2 > "$out/one.log"
one=$(mean_img_s "$(ls -d "$out"/one/*/)")
# --redirects 2 --tee 2: Debian 12's torchrun (1.13 on Python 3.11) fails on its default 0.
OMP_NUM_THREADS=1 /usr/bin/python3 -m torch.distributed.run --no_python --redirects 2 --tee 2 --nproc_per_node 2 \
  --master_port $((20000 + RANDOM % 20000)) "$cli" "${common[@]}" --out "$out/two" --set run.threads=1 \
  > "$out/two.log" 2>&1
two=$(mean_img_s "$(ls -d "$out"/two/*/)")
python3 - "$one" "$two" <<'PY'
import sys
one, two = map(float, sys.argv[1:])
print(f"1 process x 2 threads: {one:8.0f} img/s")
print(f"2 processes x 1 thread (torchrun, Gloo): {two:8.0f} img/s")
print(f"ratio 2x1 / 1x2: {two / one:.2f}")
PY
grep -h "communication:" "$out"/two/*/log.txt || true
grep -h "distributed:" "$out"/two/*/log.txt || true
