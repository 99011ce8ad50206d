#!/usr/bin/env bash
# The main job on built-in defaults: a synthetic ILSVRC-layout video dataset, the official SELSA
# test schedule over its validation videos, and the VID evaluation (mAP, slow / medium / fast),
# for SELSA and the single-frame baseline. Outputs go to out/demo/.
#
# NOTE: no trained model is shipped yet (training is the next milestone), so the demo runs the
# complete pipeline with freshly initialised (untrained) tiny weights: the detections and the
# mAP (~0) show that every stage runs end to end, not detection quality.
set -euo pipefail
build=${1:-build}
selsa="$build/selsa"
out=out/demo
rm -rf "$out"
mkdir -p "$out"

echo "== 1. synthetic dataset (ILSVRC2015 layout) -> $out/data"
"$selsa" synth --out "$out/data" --size 320x192 --train-videos 0 --val-videos 3 --frames 24:32 \
  --det-images 0 --seed 7 --contact-sheet "$out/contact_sheet.png"

for model in tiny tiny-baseline; do
  echo
  echo "== 2. $model: initial (untrained) weights -> $out/$model.params"
  "$selsa" init-weights --preset "$model" --seed 1 --out "$out/$model.params"
  echo
  echo "== 3. $model: official test schedule + evaluation -> $out/$model/"
  "$selsa" test --root "$out/data" --test-pretrained "$out/$model.params" --preset "$model" \
    --out "$out/$model" --quiet | tail -n 3
done

echo
echo "demo outputs: $out/contact_sheet.png (sample frames with ground-truth boxes),"
echo "  $out/tiny/detections.txt and $out/tiny-baseline/detections.txt (official text format),"
echo "  $out/*/eval.json (every number of the evaluation)."
echo "The weights are untrained: the trained demo model arrives with the training milestone."
