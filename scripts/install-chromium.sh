#!/usr/bin/env bash
# A headless Chromium for the report page's browser test (`make test` runs this first).
# Installs Debian's `chromium` when it is missing and this runs as root (apt); otherwise says why
# not and leaves the test to skip. Idempotent.
set -euo pipefail
for b in chromium chromium-browser google-chrome; do
  command -v "$b" >/dev/null 2>&1 && exit 0
done
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "$0: no chromium found and cannot install it here (needs root and apt-get); the browser test will skip" >&2
  exit 0
fi
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
command -v chromium >/dev/null
