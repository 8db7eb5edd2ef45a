#!/usr/bin/env bash
# Install the Debian packages the pipeline and its tests need, if missing:
#   wsclean (imaging), postgresql (second database backend), chromium + chromium-driver (UI tests).
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail
need=()
command -v wsclean >/dev/null 2>&1 || need+=(wsclean)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
