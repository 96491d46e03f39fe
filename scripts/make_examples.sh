#!/usr/bin/env bash
# Remakes the ready-trained examples in resources/examples/ from Pretext's own presets:
# trains each preset (the full schedule, on 2 cores about 5-25 minutes each), packs the run
# (pretext-cli pack: the model in half precision), evaluates the packed model and the same
# encoder untrained (kNN and linear probe; the colour example is probed on Fashion-MNIST), and
# writes example.json (title, what to look at, the panel that shows it).
#   scripts/make_examples.sh [NAME...]              all, or the named examples
#   scripts/make_examples.sh --from DIR [NAME...]   pack finished runs already in DIR/NAME/*
# Needs a built pretext-cli (scripts/build.sh pretext-cli).
set -euo pipefail
cd "$(dirname "$0")/.."
cli=./build/app/pretext-cli
[[ -x $cli ]] || { echo "make_examples: build pretext-cli first (scripts/build.sh pretext-cli)" >&2; exit 1; }
from=""
if [[ "${1:-}" == "--from" ]]; then from=$2; shift 2; fi

# name | title | panel | what to look at
examples=(
  "simclr-fashion|SimCLR on Fashion-MNIST|Neighbours|Contrastive features: a query's nearest neighbours share its class, and the embedding separates the classes without ever seeing a label."
  "rotation-fashion|Rotation (RotNet) on Fashion-MNIST|Method views|A pretext task: the model says which way each image was turned, and its features carry the class along."
  "mae-fashion|Masked autoencoder on Fashion-MNIST|Method views|A ViT fills in the 75% of patches it never saw; move the mask-ratio slider and watch the guesses change."
  "colorization-photos|Colorization on photographs|Method views|Colours predicted from lightness alone on 32-px crops of wallpapers; probed on Fashion-MNIST."
  "vae-fashion|Variational autoencoder on Fashion-MNIST|Method views|Reconstructions from the posterior mean, and new samples from the prior."
  "supervised-fashion|Supervised ceiling on Fashion-MNIST|Evaluation|The same ConvNet trained on the labels: the accuracy self-supervised methods are measured against."
)
wanted=("$@")
out=resources/examples
mkdir -p "$out"
for row in "${examples[@]}"; do
  IFS='|' read -r name title panel summary <<< "$row"
  if [[ ${#wanted[@]} -gt 0 && ! " ${wanted[*]} " == *" $name "* ]]; then continue; fi
  echo "== $name"
  if [[ -n $from ]]; then
    run=$(ls -d "$from/$name"/*/ 2>/dev/null | tail -1)
    [[ -n $run ]] || { echo "make_examples: no run in $from/$name" >&2; exit 1; }
    run=${run%/}
  else
    mkdir -p "build/example-runs/$name"
    "$cli" train --preset "$name" --out "build/example-runs/$name" --quiet
    run=$(ls -d "build/example-runs/$name"/*/ | tail -1)
    run=${run%/}
  fi
  rm -rf "${out:?}/$name"
  "$cli" pack "$run" --out "$out/$name"
  probe=()
  [[ $name == *-photos ]] && probe=(--data fashion-mnist)
  "$cli" eval "$out/$name" "${probe[@]}"
  "$cli" eval "$out/$name" --random-init "${probe[@]}"
  python3 - "$out/$name/example.json" "$title" "$panel" "$summary" <<'PY'
import json, sys
path, title, panel, summary = sys.argv[1:]
json.dump({"title": title, "panel": panel, "summary": summary}, open(path, "w"), indent=2)
open(path, "a").write("\n")
PY
  rm -f "$out/$name/log.txt.tmp"
done
du -sh "$out"
