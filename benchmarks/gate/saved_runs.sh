#!/usr/bin/env bash
# The latency benchmark through pytest-benchmark, once per TensorFlow environment, saved with
# --benchmark-autosave; then `pytest-deeplab compare` lays the saved runs out as model x version.
#   MODELS=user CONFIG=ci/real-zoo.toml benchmarks/gate/saved_runs.sh
set -u
cd "$(dirname "$0")/../.."
REPO=$PWD
STORAGE=${STORAGE:-$REPO/benchmarks/gate/results/saved}
MODELS=${MODELS:-user}
CONFIG=${CONFIG:-ci/real-zoo.toml}
THREADS=${THREADS:-2}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for venv in ${VENVS:-/work/venvs/tf215 /work/venvs/tf221}; do
    # an empty folder: only the built-in suite is collected (mIOU first, so it lands in extra_info)
    (cd "$WORK" && "$venv/bin/python" -m pytest -p no:cacheprovider -q \
        --deeplab-config "$REPO/$CONFIG" --deeplab-models "$MODELS" --deeplab-threads "$THREADS" \
        -m "deeplab_miou or deeplab_latency" \
        --benchmark-autosave --benchmark-storage "file://$STORAGE" \
        --junitxml "$STORAGE/junit-$(basename "$venv").xml")
done
"${PY:-/work/venvs/tf221/bin/python}" -m pytest_deeplab.cli.main compare "$STORAGE" --markdown
