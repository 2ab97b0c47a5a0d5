# Shared by the kill tests (sourced): what a run resumes from after a kill.
# committed_checkpoint RUN_DIR sets `before` to the newest committed checkpoint — the one LATEST
# names or, when a kill came after the first checkpoint folder was renamed into place but before
# LATEST was first written, the newest complete folder (the loader then falls back to it with a
# warning about LATEST, and no_latest=1) — or to "none".
committed_checkpoint() {
  local newest
  before=none no_latest=0
  if [ -f "$1/LATEST" ]; then
    before=$(cat "$1/LATEST")
  else
    newest=$( (ls "$1" 2>/dev/null || true) | sed -n 's/^ckpt-\([0-9]*\)$/\1/p' | sort -n | tail -1)
    if [ -n "$newest" ]; then before=ckpt-$newest no_latest=1; fi
  fi
}
