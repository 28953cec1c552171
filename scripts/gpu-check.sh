#!/usr/bin/env bash
# The GPU check: diffusers against sanagraph on one NVIDIA GPU, for the same random-weight
# Sana-1600M-shaped model at 1024², in one table. Run from anywhere in the checkout on the GPU
# machine (Linux, NVIDIA driver, Python with PyTorch); Node.js, node_modules, diffusers and the
# Vulkan loader come from the bundle in .dev/ and .gl/ (scripts/gpu-bundle.sh) when the machine
# has none. Whole run: under 8 minutes (--budget). Reference: docs/gpu.md.
#
#   1. env      GPU, driver, versions → OUT/env.txt
#   2. setup    node (system or .dev/node.xz), node_modules (.dev/node_modules.tar.xz), Vulkan
#               loader (.gl/), NVIDIA Vulkan ICD, diffusers' source (.dev/diffusers.tar.xz)
#   3. torch    scripts/gpu-check/sana_torch.py: builds the models with diffusers, times them
#               (bf16, eager, CUDA events), exports them to ONNX (fp16, optimum's layout)
#   4. engine   scripts/gpu-check/engine-bench.ts per provider (cuda, webgpu; cpu with --cpu):
#               the text-to-image workflow through the engine thread, 20 steps CFG 4.5
#   5. report   scripts/gpu-check/report.py: the table → stdout, OUT/results.md, OUT/results.jsonl
#
# usage: scripts/gpu-check.sh [options]
#   --out DIR          results (default $OUT, else ./gpu-check-out)
#   --work DIR         scratch: the exported model (~3.5 GB), unpacked tools (default /tmp/sanagraph-gpu-check)
#   --budget S         seconds for the whole check (default 450)
#   --providers LIST   comma-separated, in order (default cuda,webgpu)
#   --cpu              add cpu (slow at 1600M: --cpu-steps steps, --cpu-runs runs, per image extrapolated)
#   --cpu-steps N      (default 2)   --cpu-runs N (default 2)
#   --runs N           workflow runs per provider; the first is cold (default 3)
#   --steps N          (default 20)  --res N (default 1024)  --size 1600M|600M|tiny (default 1600M)
#   --dtypes LIST      diffusers timing dtypes (default bf16; bf16,fp16 adds the ONNX export's dtype)
#   --python PY        the Python with torch (default $PYTHON, else python3)
#   --diffusers PATH   diffusers' source (checkout or its src/), instead of the bundle's or the installed one
#   --model DIR        an existing optimum-layout export: no export (diffusers is still timed, unless --skip-torch)
#   --tiny-model       make a small model with tools/make-tiny-models.ts instead (implies --skip-torch): a rehearsal
#   --reuse            keep an export already in --work from an earlier run (same size and res)
#   --skip-torch       no diffusers timing
#   --python-repair    repair the decoder's negative Transpose perms in Python (default: left to the engine)
#   --node auto|system|bundle   which node (default auto: a system node >= 20.12, else the bundle's)
#   --clean            delete --work at the end
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1

OUT_DIR=${OUT:-$ROOT/gpu-check-out}
WORK=/tmp/sanagraph-gpu-check
BUDGET=450
PROVIDERS=cuda,webgpu
WITH_CPU=0; CPU_STEPS=2; CPU_RUNS=2
RUNS=3; STEPS=20; RES=1024; SIZE=1600M; DTYPES=bf16
PY=${PYTHON:-python3}
DIFFUSERS=""; MODEL=""; TINY=0; REUSE=0; SKIP_TORCH=0; PY_REPAIR=0; NODE_FROM=auto; CLEAN=0

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
need() { [ -n "${2:-}" ] || { echo "$1 needs a value (see --help)" >&2; exit 64; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) need "$1" "${2:-}"; OUT_DIR=$2; shift 2 ;;
    --work) need "$1" "${2:-}"; WORK=$2; shift 2 ;;
    --budget) need "$1" "${2:-}"; BUDGET=$2; shift 2 ;;
    --providers) need "$1" "${2:-}"; PROVIDERS=$2; shift 2 ;;
    --cpu) WITH_CPU=1; shift ;;
    --cpu-steps) need "$1" "${2:-}"; CPU_STEPS=$2; shift 2 ;;
    --cpu-runs) need "$1" "${2:-}"; CPU_RUNS=$2; shift 2 ;;
    --runs) need "$1" "${2:-}"; RUNS=$2; shift 2 ;;
    --steps) need "$1" "${2:-}"; STEPS=$2; shift 2 ;;
    --res) need "$1" "${2:-}"; RES=$2; shift 2 ;;
    --size) need "$1" "${2:-}"; SIZE=$2; shift 2 ;;
    --dtypes) need "$1" "${2:-}"; DTYPES=$2; shift 2 ;;
    --python) need "$1" "${2:-}"; PY=$2; shift 2 ;;
    --diffusers) need "$1" "${2:-}"; DIFFUSERS=$2; shift 2 ;;
    --model) need "$1" "${2:-}"; MODEL=$2; shift 2 ;;
    --tiny-model) TINY=1; SKIP_TORCH=1; shift ;;
    --reuse) REUSE=1; shift ;;
    --skip-torch) SKIP_TORCH=1; shift ;;
    --python-repair) PY_REPAIR=1; shift ;;
    --node) need "$1" "${2:-}"; NODE_FROM=$2; shift 2 ;;
    --clean) CLEAN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
done
[ $WITH_CPU = 1 ] && case ",$PROVIDERS," in *,cpu,*) ;; *) PROVIDERS=$PROVIDERS,cpu ;; esac
IFS=, read -r -a PROVIDER_LIST <<< "$PROVIDERS"
mkdir -p "$OUT_DIR/logs" "$WORK" || exit 1
OUT_DIR=$(cd "$OUT_DIR" && pwd); WORK=$(cd "$WORK" && pwd)
export OUT=$OUT_DIR

T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( BUDGET - $(elapsed) )); }
stage() { echo "=== $* (t+$(elapsed)s, $(left)s left)" | tee -a "$OUT_DIR/stages.log"; }
note() { echo "    $*" | tee -a "$OUT_DIR/stages.log"; }
envline() { echo "$1=$2" >> "$OUT_DIR/env.txt"; }
jsonstr() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr '\n\t' '  '; }
engine_event() { echo "{\"kind\":\"engine\",\"provider\":\"$1\",\"event\":\"$2\",\"reason\":\"$(jsonstr "$3")\"}" >> "$OUT_DIR/engine.jsonl"; }
# what the Python and Node stages print, one short line per JSON record
summarize() { grep -E '^\{' "$1" | grep -vE '"event": ?"(start|note)"' | cut -c1-${2:-260} | sed 's/^/    /'; }

# earlier results in OUT go; nothing else there is touched
rm -f "$OUT_DIR"/{torch,engine,results}.jsonl "$OUT_DIR"/{results.md,env.txt,doctor.txt,stages.log} "$OUT_DIR"/logs/*.log

# ---- 1. env ----------------------------------------------------------------------------------
stage env
envline date "$(date -u +%FT%TZ)"
envline host "$(hostname 2>/dev/null || echo unknown)"
if git -C "$ROOT" rev-parse --short HEAD >/dev/null 2>&1; then
  envline commit "$(git -C "$ROOT" rev-parse --short HEAD)$( [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -1)" ] && echo +changes)"
fi
envline size "$SIZE"; envline res "$RES"; envline steps "$STEPS"
if [ $TINY = 1 ]; then envline model "a tiny model with Sana's input/output shapes (tools/make-tiny-models.ts)"
elif [ -n "$MODEL" ]; then envline model "the export in $MODEL"
else envline model "Sana-$SIZE-shaped random weights, fp16 ONNX"; fi
if command -v nvidia-smi >/dev/null 2>&1; then
  IFS=, read -r gpu driver mem < <(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
  envline gpu "$(echo "$gpu" | xargs)"; envline driver "$(echo "$driver" | xargs)"; envline gpu_memory "$(echo "$mem" | xargs)"
  note "GPU: $(echo "$gpu" | xargs), driver $(echo "$driver" | xargs), $(echo "$mem" | xargs)"
else
  note "no nvidia-smi: is this a machine with an NVIDIA GPU?"
fi
free_mb=$(df -Pm "$WORK" | awk 'NR == 2 { print $4 }')
[ "${free_mb:-0}" -lt 5000 ] && [ $TINY = 0 ] && [ -z "$MODEL" ] && note "warning: ${free_mb} MB free in $WORK; the 1600M export needs about 4000"

# ---- 2. setup: node, node_modules, Vulkan, diffusers ------------------------------------------
stage setup
NODE=""
node_ok() { "$1" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 12) ? 0 : 1)' 2>/dev/null; }
if [ "$NODE_FROM" != bundle ] && command -v node >/dev/null 2>&1 && node_ok "$(command -v node)"; then
  NODE=$(command -v node)
elif [ "$NODE_FROM" != system ] && [ -f .dev/node.xz ]; then
  mkdir -p "$WORK/bin"
  if xz -dc .dev/node.xz > "$WORK/bin/node.part" && chmod +x "$WORK/bin/node.part" && mv "$WORK/bin/node.part" "$WORK/bin/node" && node_ok "$WORK/bin/node"; then
    NODE=$WORK/bin/node
  else
    note "the bundle's node (.dev/node.xz) does not run here"
  fi
fi
if [ -n "$NODE" ]; then
  PATH=$(dirname "$NODE"):$PATH; export PATH
  note "node $("$NODE" --version) ($NODE)"
  envline node "$("$NODE" --version)"
else
  note "no Node.js >= 20.12 (none on PATH, no usable .dev/node.xz): sanagraph cannot run; make the bundle with scripts/gpu-bundle.sh"
fi

# node_modules: the checkout's own when complete; else the bundle's (re-extracted when the bundle changed)
ORT_LIB=node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
if [ -f .dev/node_modules.tar.xz ]; then
  complete=0; [ -f node_modules/tsx/package.json ] && [ -f "$ORT_LIB" ] && complete=1
  if [ -f node_modules/.gpu-bundle.json ] && ! cmp -s node_modules/.gpu-bundle.json .dev/bundle.json; then
    rm -rf node_modules; complete=0   # unpacked from an earlier bundle
  fi
  if [ $complete = 0 ]; then
    [ -d node_modules ] && note "node_modules is incomplete (no tsx or no onnxruntime-node linux-x64 binary): the bundle's is unpacked over it"
    if tar -xJf .dev/node_modules.tar.xz -C "$ROOT"; then
      { [ -d node_modules ] && [ ! -f node_modules/.gpu-bundle.json ] && [ -f .dev/bundle.json ] && cp .dev/bundle.json node_modules/.gpu-bundle.json; } || true
      note "node_modules unpacked from .dev/node_modules.tar.xz"
    else
      note "could not unpack .dev/node_modules.tar.xz"
    fi
  fi
fi
if [ -f .dev/bundle.json ] && [ -f package-lock.json ]; then
  lock=$(sha256sum package-lock.json | cut -c1-16)
  grep -q "\"$lock\"" .dev/bundle.json || note "warning: the bundle was made from another package-lock.json: if a dependency changed, remake it (scripts/gpu-bundle.sh)"
fi
if [ -n "$NODE" ]; then
  if ORT_VERSION=$("$NODE" -p "require('onnxruntime-node/package.json').version" 2>/dev/null); then
    envline onnxruntime_node "$ORT_VERSION"; note "onnxruntime-node $ORT_VERSION"
  else
    note "onnxruntime-node is not installed (no node_modules, no .dev/node_modules.tar.xz): sanagraph cannot run"; NODE=""
  fi
fi

# Vulkan (WebGPU): the bundle's loader/GLVND libraries for the sonames this system lacks, and the NVIDIA ICD
have_lib() { { ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null; } | grep -F " $1 " > /dev/null; }
if compgen -G '.gl/*.tar.xz' > /dev/null || compgen -G '.gl/*.deb' > /dev/null; then
  GL=$WORK/gl; rm -rf "$GL"; mkdir -p "$GL/root" "$GL/lib"
  for f in .gl/*.tar.xz; do [ -f "$f" ] && tar -xJf "$f" -C "$GL/root"; done
  for f in .gl/*.deb; do [ -f "$f" ] && { dpkg-deb -x "$f" "$GL/root" 2>/dev/null || dpkg -x "$f" "$GL/root" 2>/dev/null || note "cannot unpack $f (no dpkg)"; }; done
  added=()
  while read -r lib; do
    name=$(basename "$lib")
    case "$name" in *.so.[0-9]*) ;; *) continue ;; esac
    [[ "$name" =~ ^[^.]+\.so\.[0-9]+$ ]] || continue   # sonames only (libvulkan.so.1, not libvulkan.so.1.3.239)
    have_lib "$name" && continue
    ln -sf "$(readlink -f "$lib")" "$GL/lib/$name"; added+=("$name")
  done < <(find "$GL/root" \( -type f -o -type l \) -name '*.so.*')
  if [ ${#added[@]} -gt 0 ]; then
    export LD_LIBRARY_PATH=$GL/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    note "Vulkan/GLVND libraries from .gl/: ${added[*]}"
  else
    note "Vulkan/GLVND libraries: the system has them all"
  fi
fi
[ -d /usr/local/nvidia/lib64 ] && case ":${LD_LIBRARY_PATH:-}:" in *:/usr/local/nvidia/lib64:*) ;; *) export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/usr/local/nvidia/lib64 ;; esac
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  for d in /usr/local/nvidia/share/vulkan/icd.d /etc/vulkan/icd.d /usr/share/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
    if [ -f "$d/nvidia_icd.json" ]; then export VK_DRIVER_FILES=$d/nvidia_icd.json VK_ICD_FILENAMES=$d/nvidia_icd.json; break; fi
  done
fi
if [ -n "${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-}}" ]; then
  note "Vulkan ICD: ${VK_DRIVER_FILES:-$VK_ICD_FILENAMES}"; envline vulkan_icd "${VK_DRIVER_FILES:-$VK_ICD_FILENAMES}"
else
  icds=$(for f in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json; do [ -f "$f" ] && printf '%s ' "${f##*/}"; done)
  note "no NVIDIA Vulkan ICD (nvidia_icd.json) found: WebGPU gets ${icds:-no driver}"; envline vulkan_icd "${icds:-none}"
fi

# what `sanagraph doctor` says about the providers here (why cuda or webgpu cannot load, if so)
if [ -n "$NODE" ] && [ -f bin/sanagraph.js ]; then
  timeout -k 5 100 "$NODE" bin/sanagraph.js doctor --timeout 30 > "$OUT_DIR/doctor.txt" 2>&1
  grep -E '^(cpu|webgpu|cuda) ' "$OUT_DIR/doctor.txt" | cut -c1-200 | sed 's/^/    doctor: /'
fi

# ---- 3. torch: diffusers timings + ONNX export --------------------------------------------------
N_PROVIDERS=${#PROVIDER_LIST[@]}
if [ $TINY = 1 ]; then
  MODEL_DIR=$WORK/tiny-model
elif [ -n "$MODEL" ]; then
  MODEL_DIR=$(cd "$MODEL" 2>/dev/null && pwd) || { echo "--model $MODEL: no such folder" >&2; exit 64; }
else
  MODEL_DIR=$WORK/model-$SIZE-$RES
fi
EXPORT=1
if [ $TINY = 1 ] || [ -n "$MODEL" ]; then EXPORT=0; fi
if [ $EXPORT = 1 ] && [ $REUSE = 1 ] && [ -f "$MODEL_DIR/gpu-check-export.json" ]; then
  if [ $PY_REPAIR = 1 ] && ! grep -q '"python_repair": true' "$MODEL_DIR/gpu-check-export.json"; then
    note "--reuse: the export was not repaired in Python, --python-repair asks for it: exporting again"
  else
    EXPORT=0; note "--reuse: using the export in $MODEL_DIR"
  fi
fi
# diffusers' source, when the Python stage runs: --diffusers, else the bundle's, else the installed one
if [ $SKIP_TORCH = 0 ] || [ $EXPORT = 1 ]; then
  if [ -n "$DIFFUSERS" ]; then
    src=${DIFFUSERS%/}; [ -d "$src/src/diffusers" ] && src=$src/src
    export DIFFUSERS_SRC=$src
  elif [ -f .dev/diffusers.tar.xz ]; then
    rm -rf "$WORK/diffusers"; mkdir -p "$WORK/diffusers"
    tar -xJf .dev/diffusers.tar.xz -C "$WORK/diffusers" && export DIFFUSERS_SRC=$WORK/diffusers/src
  fi
  note "diffusers: ${DIFFUSERS_SRC:-the installed package, if any}"
fi
if [ $TINY = 1 ]; then
  stage "tiny model (tools/make-tiny-models.ts, Sana's real input/output shapes where supported)"
  rm -rf "$MODEL_DIR"
  if [ -n "$NODE" ]; then
    "$NODE" --import tsx -e "import('./tools/make-tiny-models.ts').then((m) => m.makeTinyModels(process.argv[1], { layout: 'optimum', shapes: 'real', fp16: true }))" \
      "$MODEL_DIR" > "$OUT_DIR/logs/tiny-model.log" 2>&1 || note "could not make the tiny model (logs/tiny-model.log)"
  fi
fi
if [ $SKIP_TORCH = 0 ] || [ $EXPORT = 1 ]; then
  stage "torch: diffusers$([ $SKIP_TORCH = 0 ] && echo " timings ($DTYPES)")$([ $EXPORT = 1 ] && echo " + ONNX export") (Sana-$SIZE, ${RES}²)"
  # what the engine stages need at least: ~40 s per GPU provider, ~60 s for cpu, 15 s for the report
  reserve=$(( 15 + 40 * N_PROVIDERS + 20 * WITH_CPU ))
  tmo=$(( $(left) - reserve ))
  if [ $tmo -lt 30 ]; then
    note "skipped: $(left)s left, the engine stages need ${reserve}s (raise --budget)"
  else
    args=("$MODEL_DIR" --size "$SIZE" --res "$RES" --dtypes "$DTYPES" --steps "$STEPS" --jsonl "$OUT_DIR/torch.jsonl")
    [ $SKIP_TORCH = 1 ] && args+=(--no-timing)
    [ $EXPORT = 0 ] && args+=(--no-export)
    [ $PY_REPAIR = 1 ] && args+=(--python-repair)
    PYTHONUNBUFFERED=1 timeout -k 10 "$tmo" "$PY" scripts/gpu-check/sana_torch.py "${args[@]}" > "$OUT_DIR/logs/torch.log" 2>&1
    rc=$?
    if [ $rc = 124 ] || [ $rc = 137 ]; then
      echo "{\"kind\":\"torch\",\"stage\":\"error\",\"what\":\"timeout\",\"message\":\"the Python stage ran out of its ${tmo}s (logs/torch.log)\"}" >> "$OUT_DIR/torch.jsonl"
    elif [ $rc = 127 ]; then
      echo "{\"kind\":\"torch\",\"stage\":\"error\",\"what\":\"python\",\"message\":\"no Python: $(jsonstr "$PY") not found (--python PY)\"}" >> "$OUT_DIR/torch.jsonl"
    elif [ $rc != 0 ] && ! grep -q '"stage": "error"' "$OUT_DIR/torch.jsonl" 2>/dev/null; then
      echo "{\"kind\":\"torch\",\"stage\":\"error\",\"what\":\"python\",\"message\":\"sana_torch.py failed (exit $rc): $(jsonstr "$(tail -n 1 "$OUT_DIR/logs/torch.log")")\"}" >> "$OUT_DIR/torch.jsonl"
    fi
    summarize "$OUT_DIR/logs/torch.log"
    if [ $rc != 0 ]; then
      note "exit $rc; the last other lines of logs/torch.log:"; grep -v '^{' "$OUT_DIR/logs/torch.log" | tail -n 4 | cut -c1-300 | sed 's/^/      /'
    fi
    [ -d "$MODEL_DIR" ] && note "model: $(du -sh "$MODEL_DIR" 2>/dev/null | cut -f1) in $MODEL_DIR"
  fi
fi

# ---- 4. engine: the workflow on each provider --------------------------------------------------
have_model=0
[ -f "$MODEL_DIR/transformer/model.onnx" ] && [ -f "$MODEL_DIR/vae_decoder/model.onnx" ] && have_model=1
i=0
for p in "${PROVIDER_LIST[@]}"; do
  i=$((i + 1))
  if [ -z "$NODE" ]; then engine_event "$p" skipped "no Node.js or no node_modules (see the setup stage)"; continue; fi
  if [ $have_model = 0 ]; then engine_event "$p" skipped "no exported model in $MODEL_DIR (see the torch stage)"; continue; fi
  runs=$RUNS; steps=$STEPS
  [ "$p" = cpu ] && { runs=$CPU_RUNS; steps=$CPU_STEPS; }
  # an even share of what is left (a provider that fails fast leaves its share to the next); when
  # shares would be too short, the providers first in the list get the time
  tmo=$(( ($(left) - 15) / (N_PROVIDERS - i + 1) ))
  [ $tmo -lt 20 ] && tmo=$(( $(left) - 15 ))
  if [ $tmo -lt 20 ]; then
    stage "engine $p: skipped, $(left)s left"; engine_event "$p" skipped "time budget: $(left)s left"; continue
  fi
  stage "engine $p: $runs runs × $steps steps, CFG 4.5, ${RES}² (up to ${tmo}s)"
  deadline=$(( ($(date +%s) + tmo - 5) * 1000 ))
  timeout -k 5 "$tmo" "$NODE" --import tsx scripts/gpu-check/engine-bench.ts --model "$MODEL_DIR" --device "$p" \
    --runs "$runs" --steps "$steps" --res "$RES" --jsonl "$OUT_DIR/engine.jsonl" --deadline "$deadline" \
    > "$OUT_DIR/logs/engine-$p.log" 2>&1
  rc=$?
  if [ $rc = 124 ] || [ $rc = 137 ]; then engine_event "$p" timeout "ran out of its ${tmo}s"; note "ran out of its ${tmo}s"; fi
  summarize "$OUT_DIR/logs/engine-$p.log" 300
  repaired=$(grep -m1 -oE 'repaired [0-9]+ Transpose.*' "$OUT_DIR/logs/engine-$p.log" | sed "s| in $MODEL_DIR/| in |")
  [ -n "$repaired" ] && { engine_event "$p" repaired "$repaired"; note "engine: $repaired"; }
  if [ $rc != 0 ] && [ $rc != 2 ] && [ $rc != 124 ] && [ $rc != 137 ]; then
    note "exit $rc; the last other lines of logs/engine-$p.log:"; grep -v '^{' "$OUT_DIR/logs/engine-$p.log" | tail -n 4 | cut -c1-300 | sed 's/^/      /'
  fi
done

# ---- 5. report ------------------------------------------------------------------------------
stage report
REPORT_PY=$PY; command -v "$REPORT_PY" > /dev/null 2>&1 || REPORT_PY=python3
if command -v "$REPORT_PY" > /dev/null 2>&1; then
  "$REPORT_PY" scripts/gpu-check/report.py "$OUT_DIR" --providers "$PROVIDERS" --steps "$STEPS" | tee "$OUT_DIR/logs/report.log"
  echo "results: $OUT_DIR/results.md, $OUT_DIR/results.jsonl; logs: $OUT_DIR/logs/"
else
  note "no Python for the table: the raw results are in $OUT_DIR/torch.jsonl and engine.jsonl"
fi
stage "done"
[ $CLEAN = 1 ] && rm -rf "$WORK"
# exit 0 when sanagraph ran on at least one provider
grep '"engine": "sanagraph"' "$OUT_DIR/results.jsonl" 2>/dev/null | grep -q '"status": "ok'
