#!/usr/bin/env bash
# The gate's proof (issue 13): false alarms, power, time per decision, on this machine.
#   RUNS=20 benchmarks/gate/prove.sh [aa|slow5|versions]...
# aa       A/A (the same interpreter twice) over the 3 bundled and 2 real models, --threshold
#          1.05: at most 1 run of RUNS may raise any alarm.
# slow5    the candidate made 5 % slower (benchmarks/gate/slow5/sitecustomize.py on its
#          PYTHONPATH), --threshold 1.02: it must FAIL in at least 19 of 20 runs.
# versions TF 2.15 (built from a spec) vs TF 2.21 (this interpreter) vs the newest tf-nightly.
# Every run uses the defaults otherwise (--max-seconds 60, --confidence 0.95): the thresholds
# are the issue's, the budget is the default, nothing was tuned to these figures.
# Under load (issue 20):  LOAD=1 TURNS=1 MODELS=real-mnv2-dm05 RUNS=20 prove.sh aa slow5
# LOAD=1    a second process keeps core 0 busy for the whole proof (a controlled load)
# TURNS=1   the steps take turns run by run (aa 1, slow5 1, aa 2, ...), so an interrupted proof
#           has as many runs of each; results accumulate in $OUT/<step>.json
# CALLS=K   --calls-per-round K (default: the gate's); CALLS=1 is the one-call rounds of before
set -u
cd "$(dirname "$0")/../.."
PY=${PY:-$(command -v python)}
RUNS=${RUNS:-20}
OUT=${OUT:-benchmarks/gate/results}
THREADS=${THREADS:-2}
MODELS=${MODELS:-mini_mnv2_os16,mini_xception_aspp_os8,mini_deeplabv3plus,real-mnv2-dm05,real-deeplabv3-tflite}
mkdir -p "$OUT"
CONFIG=${CONFIG:-ci/real-zoo.toml}
ZOO=(--config "$CONFIG" --models "$MODELS" --threads "$THREADS")
[ -n "${CALLS:-}" ] && ZOO+=(--calls-per-round "$CALLS")
APPEND=()
[ -n "${TURNS:-}" ] && APPEND=(--append)

repeat() {  # repeat NAME LABEL RUNS GATE-ARGS...
    local name=$1 label=$2 runs=$3
    shift 3
    "$PY" benchmarks/gate/repeat_gate.py --runs "$runs" --label "$label" "${APPEND[@]}" \
        --out "$OUT/$name.json" -- "$@" | tee "$OUT/$name.md"
}

if [ -n "${LOAD:-}" ]; then  # one core busy for as long as the proof runs
    "$PY" -c 'import os; os.sched_setaffinity(0, {0})
while True: pass' &
    BUSY=$!
    trap 'kill $BUSY' EXIT
fi

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(aa slow5)
if [ -n "${TURNS:-}" ]; then  # every step once per turn, RUNS turns
    total=$RUNS
    RUNS=1
    turns=()
    for ((i = 0; i < total; i++)); do turns+=("${steps[@]}"); done
    steps=("${turns[@]}")
fi
for step in "${steps[@]}"; do
    case $step in
    aa)
        repeat prove_aa "A/A: $PY twice, $MODELS, --threshold 1.05" "$RUNS" \
            "${ZOO[@]}" --baseline "$PY" --candidate "$PY" --threshold 1.05 ;;
    slow5)
        repeat prove_slow5 "candidate 5 % slower (busy-wait), $MODELS, --threshold 1.02" "$RUNS" \
            "${ZOO[@]}" --baseline "$PY" --candidate "$PY" --threshold 1.02 \
            --env-b "PYTHONPATH=$PWD/benchmarks/gate/slow5${PYTHONPATH:+:$PYTHONPATH}" \
            --env-b DEEPLAB_SLOWDOWN=1.05 ;;
    versions)
        for pair in "tf215_vs_this|tensorflow-cpu==2.15.*|$PY" "this_vs_nightly|$PY|tf-nightly"; do
            IFS='|' read -r tag a b <<< "$pair"
            with=()
            [[ $a == tensorflow-cpu==2.15* ]] && with=(--with-a "numpy<2")
            name=versions_$tag
            repeat "$name" "$a (A) vs $b (B), $MODELS" "${VRUNS:-1}" \
                "${ZOO[@]}" --baseline "$a" "${with[@]}" --candidate "$b" \
                --markdown "$OUT/$name.table.md"
        done ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
    esac
done
