#!/usr/bin/env bash
# Reproduces the gate figures of benchmarks/README.md ("Performance"). About 40 minutes.
# Run it when the machine is otherwise quiet (no `pgrep -f fixtures/minizoo`): each summary
# records the load average and whether the mini-zoo training job was running.
#   PY215=... PY221=... RUNS=10 benchmarks/gate/run_all.sh [aa|onednn|threads|versions|bundled]...
set -u
cd "$(dirname "$0")/../.."
PY215=${PY215:-/work/venvs/tf215/bin/python}
PY221=${PY221:-/work/venvs/tf221/bin/python}
RUNS=${RUNS:-10}
OUT=${OUT:-benchmarks/gate/results}
mkdir -p "$OUT"
REAL=(--config ci/real-zoo.toml)

repeat() {  # repeat NAME LABEL RUNS GATE-ARGS...
    local name=$1 label=$2 runs=$3
    shift 3
    "$PY221" benchmarks/gate/repeat_gate.py --runs "$runs" --label "$label" \
        --out "$OUT/$name.json" -- "$@" | tee "$OUT/$name.md"
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(aa onednn threads versions bundled)
for step in "${steps[@]}"; do
    case $step in
    aa)       # A/A: the same interpreter twice must raise no alarm
        repeat aa_dm05 "A/A: TF 2.21 vs TF 2.21, real dm05 graph, 2 threads" "$RUNS" \
            "${REAL[@]}" --models real-mnv2-dm05 --threads 2 \
            --baseline "$PY221" --candidate "$PY221" ;;
    onednn)   # a real ~20 % difference: oneDNN off in the candidate
        repeat onednn_dm05 "oneDNN on (A) vs TF_ENABLE_ONEDNN_OPTS=0 (B), TF 2.21, dm05" "$RUNS" \
            "${REAL[@]}" --models real-mnv2-dm05 --threads 2 \
            --baseline "$PY221" --candidate "$PY221" --env-b TF_ENABLE_ONEDNN_OPTS=0 ;;
    threads)  # a large difference: one intra-op thread instead of two
        repeat threads_dm05 "2 intra-op threads (A) vs 1 (B), TF 2.21, dm05" "$RUNS" \
            "${REAL[@]}" --models real-mnv2-dm05 --threads-a 2 --threads-b 1 \
            --baseline "$PY221" --candidate "$PY221" ;;
    versions) # the real question: TF 2.15 (A) vs TF 2.21 (B) on the real models
        repeat versions_real "TF 2.15.1 (A) vs TF 2.21.0 (B), ../shared/real-zoo models" 3 \
            "${REAL[@]}" --models user --threads 2 \
            --baseline "$PY215" --candidate "$PY221" ;;
    bundled)  # and on the bundled mini-zoo
        if [ -f fixtures/minizoo.json ]; then
            repeat versions_bundled "TF 2.15.1 (A) vs TF 2.21.0 (B), bundled mini-zoo" 3 \
                --models bundled --threads 2 --baseline "$PY215" --candidate "$PY221"
            repeat aa_bundled "A/A: TF 2.21 vs TF 2.21, bundled mini-zoo" 3 \
                --models bundled --threads 2 --baseline "$PY221" --candidate "$PY221"
        else
            echo "fixtures/minizoo.json is absent: the bundled mini-zoo is not built" >&2
        fi ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
    esac
done
