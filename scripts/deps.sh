#!/usr/bin/env bash
# Install the Debian 12 packages listed in scripts/debian-packages.txt (needs root or sudo).
# With --bench it also installs the benchmark tools (hyperfine, wrk, nginx-light, time).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t pkgs < <(grep -v '^\s*#' "$here/debian-packages.txt" | grep -v '^\s*$')
if [ "${1:-}" = "--bench" ]; then pkgs+=(hyperfine wrk nginx-light time valgrind); fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ] && [ -z "${CI:-}" ]; then
    exit 0
fi
command -v apt-get >/dev/null || { echo "deps.sh: needs Debian's apt-get" >&2; exit 1; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps.sh: run as root, or install sudo" >&2; exit 1; }
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${pkgs[@]}"
