#!/usr/bin/env bash
# The main job on built-in defaults: held-out synthetic ImageNet-VID-layout videos, the official
# SELSA test schedule with the committed tiny SELSA model and its single-frame baseline (trained
# by the commands in models/README.md), the VID evaluation (mAP, slow / medium / fast) of both,
# and an annotated video + PNG frames of one video. Outputs go to out/demo/.
set -euo pipefail
build=${1:-build}
models=${MODELS:-models}
selsa="$build/selsa"
out=out/demo
rm -rf "$out"
mkdir -p "$out"

echo "== 1. held-out synthetic videos (ILSVRC2015 layout; the models were trained on seed 1) -> $out/data"
"$selsa" synth --out "$out/data" --seed 101 --train-videos 0 --val-videos 4 --frames 40:60 \
  --det-images 0 --contact-sheet "$out/contact_sheet.png" | tail -n 4

for model in selsa baseline; do
  if [ "$model" = selsa ]; then cfg=configs/tiny_synth.yaml; w="$models/tiny_selsa.params"
  else cfg=configs/tiny_synth_baseline.yaml; w="$models/tiny_rcnn.params"; fi
  echo
  echo "== 2. $model ($w): official test schedule + VID evaluation -> $out/$model/"
  "$selsa" test --cfg "$cfg" --root "$out/data" --test-pretrained "$w" --out "$out/$model" --quiet \
    > "$out/$model.log"
  tail -n 1 "$out/$model.log"
done

echo
echo "== 3. selsa detect on one video: annotated MP4 + PNG frames + JSON Lines -> $out/detect/"
video="$out/data/Data/VID/val/ILSVRC2015_val_00000000"
"$selsa" detect "$video" -m "$models/tiny_selsa.params" --cfg configs/tiny_synth.yaml \
  --render mp4 -o "$out/detect" --quiet
"$selsa" detect "$video" -m "$models/tiny_selsa.params" --cfg configs/tiny_synth.yaml \
  --render png -o "$out/detect_png" --quiet

echo
echo "== SELSA vs single-frame baseline on the held-out videos (AP@0.5, official evaluation)"
printf "%-10s %8s %8s %8s %8s\n" model mAP slow medium fast
for model in selsa baseline; do
  grep -h "^mAP@0.5" "$out/$model.log" | tail -n 1 | awk -v m="$model" '{printf "%-10s %8s %8s %8s %8s\n", m, $2, $5, $8, $11}'
done
echo
echo "demo outputs: $out/contact_sheet.png (sample frames with ground truth),"
echo "  $out/detect/annotated.mp4 and $out/detect_png/frames/*.png (detections drawn),"
echo "  $out/detect/detections.jsonl, $out/{selsa,baseline}/detections.txt (official format),"
echo "  $out/{selsa,baseline}/eval.json (every number of the evaluation)."
