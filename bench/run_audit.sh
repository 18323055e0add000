#!/usr/bin/env bash
# a2q audit on a ResNet-18-sized QDQ int8 model (21 layers, 11.7M weights, written by
# bench/make_resnet18_qdq.py): the wall time of the whole command (read, parse, bound every channel) beside
# a peer in the same run, numpy computing the same per-channel sign-split sums from the same file.
#   bench/run_audit.sh [REPEATS]
# Builds the release preset's a2q command; single thread (the audit does not use threads).
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-5}
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target a2q_tool >/dev/null
mkdir -p out/bench
model=out/bench/resnet18-qdq.onnx
[ -f "$model" ] || /usr/bin/python3 bench/make_resnet18_qdq.py "$model"
grep -m1 'model name' /proc/cpuinfo
best=1e9
for _ in $(seq "$repeats"); do
  start=$(date +%s.%N)
  build/release/tools/a2q audit "$model" --acc-bits 32 >/dev/null
  end=$(date +%s.%N)
  best=$(python3 -c "print(min($best, $end - $start))")
done
/usr/bin/python3 - "$model" "$best" "$repeats" <<'PY'
import sys, time
import numpy as np
import onnx
from onnx import numpy_helper
path, a2q_best, repeats = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
def peer():
    m = onnx.load(path)
    inits = {t.name: t for t in m.graph.initializer}
    total = 0
    for n in m.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].data_type == 3:
            w = numpy_helper.to_array(inits[n.input[0]]).astype(np.int64)
            w = w.reshape(w.shape[0], -1)
            pos, neg = np.where(w > 0, w, 0).sum(1), np.where(w < 0, -w, 0).sum(1)
            hi, lo = 255, 0
            _ = (pos * hi - neg * lo, pos * lo - neg * hi)
            total += w.size
    return total
best = 1e9
for _ in range(repeats):
    t = time.perf_counter(); weights = peer(); best = min(best, time.perf_counter() - t)
print(f"{weights} int8 weights: a2q audit (whole command) {a2q_best:.3f} s; "
      f"numpy sign-split sums (load + sums) {best:.3f} s; ratio a2q/numpy {a2q_best / best:.2f}")
PY
