#!/usr/bin/env bash
# System packages the test suite needs beyond Python: Debian's chromium (headless browser tests of
# the report and of `securitynet serve`) and postgresql (the store's PostgreSQL tests).
# Idempotent and quiet: installs only what is missing; runs apt-get update at most once.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-liberation)
# Debian puts the server binaries under /usr/lib/postgresql/<version>/bin, outside PATH.
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    missing+=(postgresql)
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
    command -v sudo >/dev/null 2>&1 || { echo "install-system-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
else
    sudo=
fi
echo "install-system-deps: installing ${missing[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
