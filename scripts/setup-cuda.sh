#!/usr/bin/env bash
# `npm run setup:cuda`: installs onnxruntime-node's CUDA 12 build with onnxruntime-node's own
# installer, then runs `sanagraph doctor` to show what the CUDA provider still needs.
#
# The npm package leaves the CUDA provider out (too large for the registry). The installer
# downloads Microsoft.ML.OnnxRuntime.Gpu.Linux of the same version from api.nuget.org and copies
# libonnxruntime_providers_{shared,cuda,tensorrt}.so beside libonnxruntime.so.1; nothing else in
# node_modules changes, and a download that fails changes nothing.
#
# How the installer is told (onnxruntime-node 1.30's script/install-utils.js):
# - This repository's .npmrc says onnxruntime-node-install=skip (so that `npm install` needs only
#   the npm registry), which npm hands to scripts as npm_config_onnxruntime_node_install;
#   ONNXRUNTIME_NODE_INSTALL=cuda12 takes precedence over it.
# - Its parser drops a named value like cuda12 and goes on as if none were given. With none, it
#   installs what its platform lacks (on Linux x64: the CUDA 12 build), unless it believes it runs
#   in its own source tree: when npm_package_json lies in npm_config_local_prefix, which is so for
#   any `npm run` script. Both variables are removed for it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -s) $(uname -m)" != "Linux x86_64" ]; then
  echo "error: onnxruntime-node has a CUDA build for Linux x64 only (this is $(uname -s) $(uname -m))" >&2
  exit 1
fi
if ! pkg=$(node -p "path.dirname(require.resolve('onnxruntime-node/package.json'))" 2>/dev/null); then
  echo "error: onnxruntime-node is not installed here: run npm install first" >&2
  exit 1
fi
version=$(node -p "require('onnxruntime-node/package.json').version")

cat <<EOF
Installing onnxruntime-node $version's CUDA 12 build (Microsoft.ML.OnnxRuntime.Gpu.Linux $version, from api.nuget.org).
The CUDA provider then needs, where the dynamic loader finds them (LD_LIBRARY_PATH or ldconfig):
  - CUDA 12.x: libcudart.so.12, libcublas.so.12, libcublasLt.so.12, libcufft.so.11, libcurand.so.10
  - cuDNN 9.x for CUDA 12: libcudnn.so.9
  - an NVIDIA GPU and a driver recent enough for CUDA 12 (libcuda.so.1)

EOF

log=$(mktemp -t onnxruntime-node-install.XXXXXX.log)
status=0
# The installer has no timeout of its own: a download that stalls ends here after 30 minutes.
env -u npm_config_local_prefix -u npm_package_json \
  ONNXRUNTIME_NODE_INSTALL=cuda12 npm_config_onnxruntime_node_install=cuda12 \
  timeout 1800 node "$pkg/script/install.js" >"$log" 2>&1 || status=$?
bin="$pkg/bin/napi-v6/linux/x64"
if [ "$status" -eq 0 ] && [ ! -f "$bin/libonnxruntime_providers_cuda.so" ]; then
  echo "error: onnxruntime-node's installer finished but installed nothing: $bin/libonnxruntime_providers_cuda.so is missing" >&2
  echo "  The installer's output: $log" >&2
  exit 1
fi

if [ "$status" -ne 0 ]; then
  # The installer reports failures as an unhandled rejection: its stack trace stays in the log.
  if [ "$status" -eq 124 ]; then
    why="the download did not finish within 30 minutes"
  else
    why=$(grep -m1 -E '^[A-Za-z]*Error( \[[A-Z_]+\])?: ' "$log" || tail -n 1 "$log")
    why=${why#Error: }
  fi
  cat >&2 <<EOF
error: could not install onnxruntime-node's CUDA 12 build: ${why:-the installer exited with status $status}
  The files come from api.nuget.org, not the npm registry: this machine has to reach it (behind a
  proxy, set GLOBAL_AGENT_HTTPS_PROXY, which the installer reads).
  The installer's output: $log
EOF
  exit 1
fi
grep -E '^(Downloading|Extracting) ' "$log" || true
rm -f "$log"
echo
echo "Installed. What each device needs now (sanagraph doctor):"
echo
exec node bin/sanagraph.js doctor
