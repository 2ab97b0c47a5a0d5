#!/usr/bin/env bash
# Checks that every library layer calls only itself and the layers below it (docs/architecture.md,
# "Layers"): each argument is LIB=BELOW1,BELOW2,... (static libraries); an agir_* symbol that LIB
# uses but neither LIB nor any library BELOW defines is an upward call.
set -euo pipefail
status=0
defined() { nm --defined-only -g "$1" 2>/dev/null | awk '{print $NF}' | grep '^agir_' || true; }
for spec in "$@"; do
  lib=${spec%%=*}
  below=${spec#*=}
  have=$(
    defined "$lib"
    IFS=, read -ra deps <<< "$below"
    for d in "${deps[@]}"; do [ -n "$d" ] && defined "$d"; done
  )
  need=$(nm -u "$lib" | awk '{print $NF}' | grep '^agir_' | sort -u || true)
  for sym in $need; do
    if ! grep -qx "$sym" <<< "$have"; then
      echo "$(basename "$lib"): calls $sym from a layer above it (hint: move the code down or the call up)"
      status=1
    fi
  done
done
[ $status -eq 0 ] && echo "layers: every library calls only itself and the layers below it"
exit $status
