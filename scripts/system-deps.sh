#!/usr/bin/env bash
# Installs the system packages the test suite needs, when they are missing (run by `npm test`
# before the tests). As root on Debian it installs them; otherwise it says exactly what to run.
#
# - Mesa's lavapipe (software Vulkan) from bookworm-backports: onnxruntime-node's WebGPU
#   provider runs on it, so the GPU code path is tested without a GPU. Bookworm's own Mesa 22
#   is rejected by Dawn; Mesa 25 from backports works.
# - Debian's chromium: the editor's browser tests drive it with playwright-core.
# - redis-server: the distributed-queue tests start their own Redis on a random port.
set -euo pipefail

missing=()
have_lavapipe() {
  ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || return 1
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo 0)
  # (grep without -q reads all of ldconfig's output: with -q it may exit early, SIGPIPE ldconfig, and pipefail fail the check)
  dpkg --compare-versions "$v" ge 25 && ldconfig -p | grep 'libvulkan.so.1' >/dev/null
}
have_lavapipe || missing+=(lavapipe)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)

[ ${#missing[@]} -eq 0 ] && exit 0

sources=/etc/apt/sources.list.d/debian.sources
commands=(
  "grep -q 'bookworm-backports' $sources || sed -i '0,/^Suites: bookworm bookworm-updates\$/s//Suites: bookworm bookworm-updates bookworm-backports/' $sources"
  "apt-get update"
  "DEBIAN_FRONTEND=noninteractive apt-get install -y libvulkan1"
  "DEBIAN_FRONTEND=noninteractive apt-get install -y -t bookworm-backports mesa-vulkan-drivers"
  "DEBIAN_FRONTEND=noninteractive apt-get install -y chromium redis-server"
)

if [ "$(id -u)" -ne 0 ] || [ ! -f "$sources" ] || ! grep -q 'bookworm' /etc/os-release; then
  echo "The tests need: ${missing[*]} (lavapipe: Mesa's software Vulkan driver, for the WebGPU tests;" >&2
  echo "chromium for the editor tests; redis-server for the distributed-queue tests)." >&2
  echo "On Debian 12 (bookworm), run as root:" >&2
  printf '  %s\n' "${commands[@]}" >&2
  exit 1
fi

echo "Installing system packages for the tests: ${missing[*]}" >&2
for c in "${commands[@]}"; do
  echo "+ $c" >&2
  bash -c "$c" >/tmp/sanagraph-system-deps.log 2>&1 || { cat /tmp/sanagraph-system-deps.log >&2; exit 1; }
done
have_lavapipe || { echo "lavapipe is still missing after installing it" >&2; exit 1; }
command -v chromium >/dev/null && command -v redis-server >/dev/null || { echo "chromium or redis-server is still missing after installing them" >&2; exit 1; }
