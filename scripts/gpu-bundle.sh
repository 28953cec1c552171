#!/usr/bin/env bash
# Makes the bundle that scripts/gpu-check.sh unpacks on a GPU machine with no Node.js and no
# network. Run from anywhere on a Linux x64 development machine where `npm install` has been run;
# it writes into the checkout's .dev/ and .gl/ (both ignored by git):
#
#   .dev/node.xz               this machine's node binary, stripped (Node.js >= 20.12)
#   .dev/node_modules.tar.xz   node_modules without dev-only and server/editor-only heavy packages,
#                              with onnxruntime-node's linux-x64 binaries only (no CUDA provider
#                              unless --with-cuda)
#   .dev/diffusers.tar.xz      diffusers' src/diffusers (pure Python), from --diffusers PATH
#   .dev/bundle.json           what it was made from (node, onnxruntime-node, package-lock.json hash)
#   .gl/vulkan-libs.tar.xz     the Vulkan loader and GLVND libraries (Debian amd64) that WebGPU on an
#                              NVIDIA driver needs: libvulkan1 libglvnd0 libegl1 libgl1 libglx0
#                              libopengl0 libgles2
#
# Then it rehearses the check on this machine's CPU with the bundle alone (a copy of the checkout,
# the bundled node and node_modules, a tiny model) and prints the sizes against what one device
# call carries (64 MiB, checkout included).
#
# usage: scripts/gpu-bundle.sh [--diffusers PATH | --no-diffusers] [--gl-debs DIR] [--download-gl]
#                              [--no-gl] [--with-cuda] [--no-verify] [--force] [--max-mib N]
#   --diffusers PATH  a diffusers checkout (working tree, its src/ folder, or a git dir such as a
#                     bare mirror: HEAD is archived)
#   --no-diffusers    leave .dev/diffusers.tar.xz out (the GPU machine must then have diffusers
#                     installed, or be given --diffusers there)
#   --gl-debs DIR     take the Debian packages from DIR; otherwise from /var/cache/apt/archives,
#                     else from this machine's installed files (dpkg -L), else --download-gl
#   --download-gl     allowed to `apt-get download` the packages that are not at hand
#   --no-gl           no Vulkan libraries (the GPU machine has its own)
#   --with-cuda       include onnxruntime-node's CUDA provider libraries if installed (npm run
#                     setup:cuda); they are hundreds of MB, far over one device call
#   --force           rebuild every file (by default node.xz is kept while the node version matches)
#   --max-mib N       warn when bundle + checkout exceed N MiB (default 64)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DIFFUSERS=""; NO_DIFFUSERS=0; GL_DEBS=""; DOWNLOAD_GL=0; NO_GL=0; WITH_CUDA=0; VERIFY=1; FORCE=0; MAX_MIB=64
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --diffusers) DIFFUSERS=${2:?--diffusers needs a path}; shift 2 ;;
    --no-diffusers) NO_DIFFUSERS=1; shift ;;
    --gl-debs) GL_DEBS=${2:?--gl-debs needs a directory}; shift 2 ;;
    --download-gl) DOWNLOAD_GL=1; shift ;;
    --no-gl) NO_GL=1; shift ;;
    --with-cuda) WITH_CUDA=1; shift ;;
    --no-verify) VERIFY=0; shift ;;
    --force) FORCE=1; shift ;;
    --max-mib) MAX_MIB=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
done
if [ -z "$DIFFUSERS" ] && [ $NO_DIFFUSERS = 0 ] && [ ! -f .dev/diffusers.tar.xz ]; then
  echo "give diffusers' source with --diffusers PATH, or --no-diffusers to leave it out" >&2
  exit 64
fi

# where diffusers' source is: a working tree (src/diffusers), its src folder, or a git dir (HEAD)
if [ -n "$DIFFUSERS" ]; then
  D=${DIFFUSERS%/}
  if [ -f "$D/src/diffusers/__init__.py" ]; then DIFFUSERS_KIND=tree
  elif [ -f "$D/diffusers/__init__.py" ]; then DIFFUSERS_KIND=src
  elif git --git-dir="$D" rev-parse --verify -q HEAD >/dev/null 2>&1; then DIFFUSERS_KIND=git; GIT_DIR_D=$D
  elif git --git-dir="$D/.git" rev-parse --verify -q HEAD >/dev/null 2>&1; then DIFFUSERS_KIND=git; GIT_DIR_D=$D/.git
  else
    echo "$D is neither a diffusers checkout (src/diffusers), its src folder, nor a git dir" >&2
    exit 64
  fi
  if [ $DIFFUSERS_KIND = git ] && ! git --git-dir="$GIT_DIR_D" cat-file -e HEAD:src/diffusers/__init__.py 2>/dev/null; then
    echo "$GIT_DIR_D: HEAD has no src/diffusers/__init__.py: is it diffusers?" >&2
    exit 64
  fi
fi

say() { echo "gpu-bundle: $*"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
size() { stat -c %s "$1"; }
XZ=(xz -6 -T1)
mkdir -p .dev .gl
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

[ "$(uname -sm)" = "Linux x86_64" ] || { echo "the GPU machine is Linux x64: make the bundle on Linux x64" >&2; exit 1; }
NODE=$(command -v node) || { echo "no node on PATH" >&2; exit 1; }
NODE_VERSION=$("$NODE" --version)
ORT=node_modules/onnxruntime-node
ORT_BIN=$ORT/bin/napi-v6/linux/x64
[ -f "$ORT_BIN/libonnxruntime.so.1" ] || { echo "$ORT_BIN/libonnxruntime.so.1 is missing: run npm install first" >&2; exit 1; }
ORT_VERSION=$("$NODE" -p "require('./$ORT/package.json').version")
LOCK_SHA=$(sha256sum package-lock.json | cut -c1-16)

# ---- node ------------------------------------------------------------------------------------
old_node=$( [ -f .dev/bundle.json ] && "$NODE" -p "require('./.dev/bundle.json').node" 2>/dev/null || true)
if [ $FORCE = 1 ] || [ ! -f .dev/node.xz ] || [ "$old_node" != "$NODE_VERSION" ]; then
  say "node $NODE_VERSION → .dev/node.xz (stripped, xz; about half a minute)"
  strip -o "$TMP/node" "$(readlink -f "$NODE")" 2>/dev/null || cp "$(readlink -f "$NODE")" "$TMP/node"
  "${XZ[@]}" -c "$TMP/node" > .dev/node.xz.part && mv .dev/node.xz.part .dev/node.xz
  rm -f "$TMP/node"
else
  say "node $NODE_VERSION: .dev/node.xz is current"
fi

# ---- node_modules ----------------------------------------------------------------------------
# Left out: packages the engine thread never loads (it loads zod, tsx + esbuild, onnxruntime-node,
# @huggingface/tokenizers; the rehearsal below fails if one is missing), and the biggest
# dev/editor/server ones. onnxruntime-node keeps its linux-x64 binaries only.
EXCLUDES=(
  "node_modules/.bin"
  "node_modules/onnxruntime-node/bin/napi-v6/darwin" "node_modules/onnxruntime-node/bin/napi-v6/win32"
  "node_modules/onnxruntime-node/bin/napi-v6/linux/arm64"
  "node_modules/typescript" "node_modules/@typescript" "node_modules/@types"
  "node_modules/playwright-core" "node_modules/fast-png"
  "node_modules/vite" "node_modules/rolldown" "node_modules/@rolldown" "node_modules/lightningcss*" "node_modules/postcss"
  "node_modules/@babel" "node_modules/lit" "node_modules/lit-*" "node_modules/@lit" "node_modules/rete*" "node_modules/@retejs"
  "node_modules/better-sqlite3" "node_modules/leveldown" "node_modules/y-leveldb" "node_modules/abstract-leveldown"
  "node_modules/bullmq" "node_modules/ioredis" "node_modules/luxon" "node_modules/msgpackr*" "node_modules/@msgpackr-extract"
  "node_modules/yjs" "node_modules/lib0" "node_modules/y-protocols" "node_modules/y-websocket" "node_modules/@y"
  "node_modules/@lenml"
)
if [ $WITH_CUDA = 0 ]; then
  EXCLUDES+=("$ORT_BIN/libonnxruntime_providers_*" "$ORT_BIN/libcu*" "$ORT_BIN/libnv*")
elif ! ls "$ORT_BIN"/libonnxruntime_providers_cuda.so >/dev/null 2>&1; then
  say "--with-cuda: $ORT_BIN has no CUDA provider (npm run setup:cuda installs it); nothing added"
fi
say "node_modules → .dev/node_modules.tar.xz"
tar -cf - --exclude-vcs "${EXCLUDES[@]/#/--exclude=}" --exclude='*.map' --exclude='*.md' --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' \
  node_modules | "${XZ[@]}" > .dev/node_modules.tar.xz.part
mv .dev/node_modules.tar.xz.part .dev/node_modules.tar.xz

# ---- diffusers --------------------------------------------------------------------------------
if [ -n "$DIFFUSERS" ]; then
  case $DIFFUSERS_KIND in
    tree) say "diffusers from the folder $D/src/diffusers"
          tar -cf - -C "$D" --exclude=__pycache__ src/diffusers | "${XZ[@]}" > .dev/diffusers.tar.xz.part ;;
    src)  say "diffusers from the folder $D/diffusers"
          tar -cf - -C "$D" --exclude=__pycache__ --transform 's,^diffusers,src/diffusers,' diffusers | "${XZ[@]}" > .dev/diffusers.tar.xz.part ;;
    git)  say "diffusers from the git dir $GIT_DIR_D (HEAD $(git --git-dir="$GIT_DIR_D" rev-parse --short HEAD))"
          git --git-dir="$GIT_DIR_D" archive HEAD src/diffusers | "${XZ[@]}" > .dev/diffusers.tar.xz.part ;;
  esac
  mv .dev/diffusers.tar.xz.part .dev/diffusers.tar.xz
elif [ $NO_DIFFUSERS = 1 ]; then
  rm -f .dev/diffusers.tar.xz
  say "diffusers left out (--no-diffusers)"
else
  say "diffusers: keeping .dev/diffusers.tar.xz"
fi

# ---- Vulkan loader + GLVND (for WebGPU on the NVIDIA driver) ------------------------------------
GL_PACKAGES=(libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2)
if [ $NO_GL = 1 ]; then
  rm -f .gl/vulkan-libs.tar.xz
  say "Vulkan libraries left out (--no-gl)"
else
  stage=$TMP/gl; mkdir -p "$stage"
  sources=()
  for p in "${GL_PACKAGES[@]}"; do
    deb=""
    for d in ${GL_DEBS:+"$GL_DEBS"} /var/cache/apt/archives; do
      for f in "$d"/"${p}"_*_amd64.deb; do [ -f "$f" ] && { deb=$f; break 2; }; done
    done
    if [ -n "$deb" ]; then
      dpkg-deb -x "$deb" "$stage"; sources+=("$p: $(basename "$deb")")
    elif [ "$(dpkg-query -W -f='${Status}' "$p:amd64" 2>/dev/null)" = "install ok installed" ]; then
      dpkg -L "$p:amd64" | while read -r f; do
        if [ -f "$f" ] || [ -L "$f" ]; then case "$f" in /usr/lib/*|/lib/*) cp -a --parents "$f" "$stage" ;; esac; fi
      done
      sources+=("$p: installed $(dpkg-query -W -f='${Version}' "$p:amd64")")
    elif [ $DOWNLOAD_GL = 1 ]; then
      o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists="$TMP/lists"); mkdir -p "$TMP/lists/partial"
      [ -f "$TMP/lists/updated" ] || { apt-get "${o[@]}" update >/dev/null && touch "$TMP/lists/updated"; }
      (cd "$TMP" && apt-get "${o[@]}" download "$p" >/dev/null)
      dpkg-deb -x "$TMP"/${p}_*.deb "$stage"; sources+=("$p: downloaded")
    else
      echo "the Debian package $p is not at hand (no .deb in ${GL_DEBS:-/var/cache/apt/archives}, not installed): give --gl-debs DIR or --download-gl" >&2
      exit 1
    fi
  done
  (cd "$stage" && find . \( -type f -o -type l \) \( -path './usr/lib/*' -o -path './lib/*' \) -name '*.so*' | sort > "$TMP/gl-files")
  tar -cf - -C "$stage" -T "$TMP/gl-files" | "${XZ[@]}" > .gl/vulkan-libs.tar.xz
  rm -f .gl/*.deb  # the kit's loose packages: the tarball replaces them
  say "Vulkan libraries → .gl/vulkan-libs.tar.xz ($(wc -l < "$TMP/gl-files") files; ${sources[*]})"
fi

cat > .dev/bundle.json <<EOF
{
  "node": "$NODE_VERSION",
  "onnxruntime_node": "$ORT_VERSION",
  "package_lock_sha256": "$LOCK_SHA",
  "cuda_provider": $([ $WITH_CUDA = 1 ] && ls "$ORT_BIN"/libonnxruntime_providers_cuda.so >/dev/null 2>&1 && echo true || echo false),
  "diffusers": $([ -f .dev/diffusers.tar.xz ] && echo true || echo false),
  "made": "$(date -u +%FT%TZ)"
}
EOF

# ---- rehearsal: the check with the bundle alone, on this machine's CPU, with a tiny model --------
if [ $VERIFY = 1 ]; then
  say "rehearsal: a copy of the checkout + the bundle, bundled node, a tiny model, provider cpu"
  R=$TMP/checkout; mkdir -p "$R"
  git ls-files -co --exclude-standard -z | tar -cf - --null --ignore-failed-read -T - 2>/dev/null | tar -xf - -C "$R"
  ln -s "$ROOT/.dev" "$R/.dev"; ln -s "$ROOT/.gl" "$R/.gl"
  if ! (cd "$R" && bash scripts/gpu-check.sh --node bundle --tiny-model --providers cpu --cpu-runs 2 --cpu-steps 4 --steps 4 --res 256 \
        --out "$TMP/out" --work "$TMP/work" --budget 180 > "$TMP/rehearsal.log" 2>&1); then
    cat "$TMP/rehearsal.log" >&2
    echo "gpu-bundle: the rehearsal failed (above): the bundle is incomplete" >&2
    exit 1
  fi
  sed -n '/^=== report/,/^results:/p' "$TMP/rehearsal.log" | sed '1d; $d; s/^/  /'
  say "rehearsal passed"
fi

# ---- sizes ------------------------------------------------------------------------------------
total=0
for f in .dev/* .gl/*; do
  [ -f "$f" ] || continue
  printf '  %-28s %s\n' "$f" "$(mib "$(size "$f")")"
  total=$((total + $(size "$f")))
done
checkout=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
say "bundle $(mib $total); checkout (tracked + untracked, not ignored) $(mib "$checkout"); together $(mib $((total + checkout))) of the $MAX_MIB MiB one device call carries"
if [ $((total + checkout)) -gt $((MAX_MIB * 1048576)) ]; then
  echo "gpu-bundle: warning: over $MAX_MIB MiB: a device call would not carry it (keep large files out of the checkout, or use --no-gl / --no-diffusers)" >&2
fi
