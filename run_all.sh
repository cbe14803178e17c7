#!/usr/bin/env bash
# The whole guide as one command: export -> ATC -> preprocess -> info file -> inference -> accuracy -> comparison
# -> performance -> report.md. On an Ascend host it drives Huawei's tools (the seed guide's benchmark.<arch>, or
# today's ais_bench); anywhere else the CPU stand-in (benchmark_ort.py) takes the inference step and writes the very
# same files.
set -Eeuo pipefail

readonly REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly PROG="run_all.sh"
readonly SMALL_CHECKPOINT="ShuffleNetV2+.Small.pth.tar"
readonly BIN_BYTES=602112          # one preprocessed image: 3 x 224 x 224 float32
readonly DUMP_BYTES_PER_IMAGE=16000  # one text output of 1000 scores (%.8e: about 15,000 bytes), rounded up

usage() {
    cat <<EOF
Usage: bash run_all.sh [options]

Runs the ShuffleNetV2+ Ascend guide end to end in the work folder. Stages whose outputs exist and are newer than
their inputs are skipped, so a re-run is cheap; a failing stage stops the run and is named. One run at a time per
work folder (a second one exits at once).

Options (each mirrors an environment variable, given in brackets):
  --checkpoint FILE    PyTorch checkpoint [CHECKPOINT]. Default: ${SMALL_CHECKPOINT} in the work folder or
                       beside this script when present, else seeded random weights (accuracy is then chance-level).
  --dataset DIR        folder holding the validation images themselves [DATASET]. Default: a generated demo set
                       in WORKDIR/demo/val.
  --labels FILE        val_label.txt for the dataset [LABELS]. Default: val_label.txt beside DATASET. A dataset
                       with fewer images than label lines is a subset run: missing images count as misses.
  --batch-sizes "B..." batch sizes to export and run [BATCH_SIZES]. Default: "1 4 8 16 32".
  --workdir DIR        where every output goes [WORKDIR]. Default: the current folder.
  --device-id N        the Ascend device (NPU) that runs inference [DEVICE_ID]. Default: 0.
  --devices "D..."     several devices at once, e.g. "0 1 2 3" [DEVICES]: the images are split into one
                       contiguous shard per device, all devices run concurrently, and the measured card
                       throughput is printed. Overrides --device-id.
  --tool T             inference tool [TOOL]: auto (default), benchmark (Huawei's benchmark.<arch>), ais_bench
                       (python3 -m ais_bench) or stand-in (benchmark_ort.py on the ONNX file, on the CPU).
                       auto: the OM file and benchmark.<arch> -> benchmark; else the OM file and an importable
                       ais_bench -> ais_bench; else the stand-in.
  --soc-version V      ATC's --soc_version [SOC_VERSION]. Default: auto = "Ascend" + the chip name of the first
                       device in 'npu-smi info' (Ascend310, Ascend310P3, ...), Ascend310 without npu-smi.
  --backend B          the stand-in's backend [BACKEND]: onnxruntime (default) or openvino.
  --compare C          output comparison [COMPARE]: none, first (default: the first batch size) or all. On an
                       Ascend host the OM's outputs against the ONNX stand-in's; elsewhere the stand-in's against
                       the PyTorch reference, and the PyTorch fp16 preview against the reference.
  -h, --help           show this help and exit.
Also: PYTHON (default python3), ASCEND_ROOT for env.sh.

Outputs (the guide's names where it has one): shufflenetv2_bs<B>.onnx, shufflenetv2_bs<B>.om, prep_dataset/,
shufflenetv2_prep_bin.info, result/perf_vision_batchsize_<B>_device_<D>.txt, result_bs<B>.json, perf.png, and
report.md. Outputs are kept per batch size: result/dumpOutput_device<D>_bs<B>/ (the old tool's and the
stand-in's result/dumpOutput_device<D>/, renamed after each batch size) or result/bs<B>/ and
result/bs<B>_summary.json (ais_bench). Comparison: result/reference/, result/reference_fp16/, result/onnx_bs<B>/,
compare_*.json. Bookkeeping (stamps, lock) in .run_all/.
EOF
}

CURRENT_STAGE=""
die() {
    echo "${PROG}: error: ${CURRENT_STAGE:+stage \"${CURRENT_STAGE}\": }$*" >&2
    exit 2
}

CHECKPOINT="${CHECKPOINT:-}"
DATASET="${DATASET:-}"
LABELS="${LABELS:-}"
BATCH_SIZES="${BATCH_SIZES:-1 4 8 16 32}"
WORKDIR="${WORKDIR:-.}"
DEVICE_ID="${DEVICE_ID:-0}"
DEVICES="${DEVICES:-}"
TOOL="${TOOL:-auto}"
SOC_VERSION="${SOC_VERSION:-auto}"
BACKEND="${BACKEND:-onnxruntime}"
COMPARE="${COMPARE:-first}"
PYTHON="${PYTHON:-python3}"

while [ $# -gt 0 ]; do
    option="$1"
    case "${option}" in
        -h|--help) usage; exit 0 ;;
        --*=*) value="${option#*=}"; option="${option%%=*}"; shift ;;
        --*) [ $# -ge 2 ] || die "option ${option} needs a value (see --help)"; value="$2"; shift 2 ;;
        *) die "unexpected argument '${option}' (see --help)" ;;
    esac
    case "${option}" in
        --checkpoint) CHECKPOINT="${value}" ;;
        --dataset) DATASET="${value}" ;;
        --labels) LABELS="${value}" ;;
        --batch-sizes) BATCH_SIZES="${value}" ;;
        --workdir) WORKDIR="${value}" ;;
        --device-id) DEVICE_ID="${value}" ;;
        --devices) DEVICES="${value}" ;;
        --tool) TOOL="${value}" ;;
        --soc-version) SOC_VERSION="${value}" ;;
        --backend) BACKEND="${value}" ;;
        --compare) COMPARE="${value}" ;;
        *) die "unknown option ${option} (see --help)" ;;
    esac
done

# Everything the user named is made absolute before we move into the work folder.
absolute() { case "$1" in /*) echo "$1" ;; *) echo "${PWD}/$1" ;; esac; }

# Lists are read into arrays (read -a neither globs nor splits twice): --batch-sizes '*' stays a '*'.
read -r -a BATCH_LIST <<< "${BATCH_SIZES}" || true
[ "${#BATCH_LIST[@]}" -gt 0 ] || die "--batch-sizes: no batch size given"
for batch_size in "${BATCH_LIST[@]}"; do
    [[ "${batch_size}" =~ ^[1-9][0-9]*$ ]] || die "--batch-sizes: '${batch_size}' is not a positive integer"
done
[[ "${DEVICE_ID}" =~ ^[0-9]+$ ]] || die "--device-id: '${DEVICE_ID}' is not a non-negative integer"
if [ -n "${DEVICES// /}" ]; then
    read -r -a DEVICE_LIST <<< "${DEVICES}" || true
    for device in "${DEVICE_LIST[@]}"; do
        [[ "${device}" =~ ^[0-9]+$ ]] || die "--devices: '${device}' is not a non-negative integer"
    done
    [ "$(printf '%s\n' "${DEVICE_LIST[@]}" | sort -u | wc -l)" = "${#DEVICE_LIST[@]}" ] \
        || die "--devices: '${DEVICES}' names a device twice"
else
    DEVICE_LIST=("${DEVICE_ID}")
fi
readonly DEVICE_COUNT="${#DEVICE_LIST[@]}"
case "${TOOL}" in auto|benchmark|ais_bench|stand-in) ;; *)
    die "--tool: '${TOOL}' is not one of auto, benchmark, ais_bench, stand-in" ;; esac
case "${BACKEND}" in onnxruntime|openvino) ;; *)
    die "--backend: '${BACKEND}' is not one of onnxruntime, openvino" ;; esac
case "${COMPARE}" in none|first|all) ;; *)
    die "--compare: '${COMPARE}' is not one of none, first, all" ;; esac
[[ "${SOC_VERSION}" =~ ^[A-Za-z0-9_]+$ ]] || die "--soc-version: '${SOC_VERSION}' is not a chip name such as Ascend310"
mkdir -p "${WORKDIR}" || die "--workdir: cannot create ${WORKDIR}"
WORKDIR="$(cd "${WORKDIR}" && pwd)"
[ -z "${CHECKPOINT}" ] || CHECKPOINT="$(absolute "${CHECKPOINT}")"
[ -z "${DATASET}" ] || DATASET="$(absolute "${DATASET}")"
[ -z "${LABELS}" ] || LABELS="$(absolute "${LABELS}")"
cd "${WORKDIR}"

# (Reported once: not again by each command substitution the failure passes through.)
trap 'status=$?; [ "${BASH_SUBSHELL}" != 0 ] || echo "${PROG}: error: stage \"${CURRENT_STAGE}\" failed (exit status ${status}); see the messages above" >&2; exit ${status}' ERR

# One run per work folder: a second run finds the lock taken and names the process that holds it.
mkdir -p .run_all 2>/dev/null || die "work folder ${WORKDIR}: cannot create .run_all/ in it (not writable?)"
{ exec 9<>.run_all/lock; } 2>/dev/null || die "work folder ${WORKDIR}: cannot open .run_all/lock (not writable?)"
if ! flock -n 9; then
    holder="$(head -n 1 .run_all/lock 2>/dev/null || true)"
    die "work folder ${WORKDIR} is in use by another run of ${PROG} (${holder:-process unknown}); wait for it to end"
fi
printf 'pid %s: %s\n' "$$" "$(tr '\0' ' ' < "/proc/$$/cmdline" 2>/dev/null || echo "${PROG}")" > .run_all/lock

stage() {
    CURRENT_STAGE="$1"
    echo
    echo "==> [${CURRENT_STAGE}] $2"
}
skip() { echo "    skipped: $*"; }
note() { echo "    $*"; }
run() {
    echo "    \$ $*"
    "$@"
}
loud() {
    {
        echo "    ************************************************************************************************"
        local line
        for line in "$@"; do echo "    ${line}"; done
        echo "    ************************************************************************************************"
    } >&2
}

# is_fresh OUTPUT INPUT...: OUTPUT exists and is newer than every INPUT (make's rule).
is_fresh() {
    local output="$1" input
    shift
    [ -e "${output}" ] || return 1
    for input in "$@"; do
        [ "${output}" -nt "${input}" ] || return 1
    done
}

# set_stamp NAME TEXT: .run_all/NAME holds TEXT; rewritten (and so newer) only when TEXT changes, which marks every
# output made from the old value as stale.
set_stamp() {
    if [ ! -f ".run_all/$1" ] || [ "$(< ".run_all/$1")" != "$2" ]; then
        printf '%s\n' "$2" > ".run_all/$1.tmp" && mv ".run_all/$1.tmp" ".run_all/$1"
    fi
}
content_hash() { sha256sum < "$1" | cut -d ' ' -f 1; }
human_bytes() {
    awk -v b="$1" 'BEGIN { if (b >= 1e9) printf "%.1f GB", b / 1e9; else if (b >= 1e6) printf "%.0f MB", b / 1e6;
                          else printf "%.0f kB", b / 1e3 }'
}
count_bins() { { find "$1" -maxdepth 1 -name '*.bin' -type f 2>/dev/null || true; } | wc -l; }

# The images of a folder as the preprocessor takes them, one "name<TAB>size<TAB>mtime" line each, sorted: the
# dataset's identity (an image replaced, added or removed changes it; moving the folder does not).
image_listing() {
    find -L "$1" -maxdepth 1 -type f ! -name '.*' \( -iname '*.jpeg' -o -iname '*.jpg' -o -iname '*.png' \
        -o -iname '*.bmp' -o -iname '*.webp' \) -printf '%f\t%s\t%T@\n' | LC_ALL=C sort
}

# ---------------------------------------------------------------------------------------------------------------
stage "environment" "source env.sh; choose the chip name and the inference tool"
# shellcheck disable=SC1091
source "${REPO_DIR}/env.sh"
command -v "${PYTHON}" >/dev/null || die "python interpreter '${PYTHON}' not found (set PYTHON)"
ARCH="$(uname -m)"
CORES="$(nproc)"
CPU_MODEL="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
CPU_MODEL="${CPU_MODEL:-${ARCH} CPU}"
HAVE_ATC=0
command -v atc >/dev/null && HAVE_ATC=1
BENCHMARK_TOOL=""
if [ -x "./benchmark.${ARCH}" ]; then
    BENCHMARK_TOOL="./benchmark.${ARCH}"
elif command -v "benchmark.${ARCH}" >/dev/null; then
    BENCHMARK_TOOL="$(command -v "benchmark.${ARCH}")"
fi
HAVE_AIS_BENCH=0
"${PYTHON}" -c 'import ais_bench' >/dev/null 2>&1 && HAVE_AIS_BENCH=1

# The chip name: explicit wins; else npu-smi's first device (its first row: "| <id>  <Name>  | <Health> | ...").
if [ "${SOC_VERSION}" = auto ]; then
    if command -v npu-smi >/dev/null; then
        npu_smi_output="$(npu-smi info 2>&1)" || die "npu-smi info failed: ${npu_smi_output%%$'\n'*} (give --soc-version)"
        chip_name="$(awk -F '|' '$2 ~ /^[[:space:]]*[0-9]+[[:space:]]+[0-9A-Za-z]+[[:space:]]*$/ && $3 ~ /[A-Za-z]/ {
            split($2, cell, " "); print cell[2]; exit }' <<< "${npu_smi_output}")"
        [ -n "${chip_name}" ] || die "npu-smi info lists no device (give --soc-version, e.g. Ascend310)"
        SOC_VERSION="Ascend${chip_name}"
        soc_reason="the first device in 'npu-smi info'"
    else
        SOC_VERSION="Ascend310"
        soc_reason="npu-smi not found: the seed guide's chip"
    fi
else
    soc_reason="given"
fi

# OM files are there (or ATC will make them) for every batch size?
missing_om=()
for batch_size in "${BATCH_LIST[@]}"; do
    [ -f "shufflenetv2_bs${batch_size}.om" ] || missing_om+=("shufflenetv2_bs${batch_size}.om")
done
HAVE_OM=0
if [ "${HAVE_ATC}" = 1 ] || [ "${#missing_om[@]}" = 0 ]; then HAVE_OM=1; fi
om_problem="atc not found and ${missing_om[*]:-} missing"
om_how="the OM files are there"
[ "${HAVE_ATC}" = 0 ] || om_how="atc makes the OM files"

case "${TOOL}" in
    auto)
        if [ "${HAVE_OM}" = 1 ] && [ -n "${BENCHMARK_TOOL}" ]; then
            INFER_TOOL=benchmark
            tool_reason="auto: ${om_how} and ${BENCHMARK_TOOL} is there"
        elif [ "${HAVE_OM}" = 1 ] && [ "${HAVE_AIS_BENCH}" = 1 ]; then
            INFER_TOOL=ais_bench
            tool_reason="auto: ${om_how} and the ais_bench package is importable; no benchmark.${ARCH}"
        else
            INFER_TOOL=stand-in
            if [ "${HAVE_OM}" = 1 ]; then
                tool_reason="auto: OM files but no tool able to run them"
                loud "WARNING: ${om_how}, but no tool can run them:" \
                     "neither benchmark.${ARCH} (work folder or PATH) nor the ais_bench package" \
                     "('${PYTHON} -c \"import ais_bench\"' fails). Inference runs on the CPU stand-in: the NPU is NOT used." \
                     "Install ais_bench or copy benchmark.${ARCH} here, or pass --tool stand-in to silence this."
            else
                tool_reason="auto: no OM files (atc not found): benchmark_ort.py runs the ONNX files on the CPU"
            fi
        fi
        ;;
    benchmark)
        [ -n "${BENCHMARK_TOOL}" ] || die "--tool benchmark: benchmark.${ARCH} not found in the work folder ${WORKDIR} or on PATH"
        [ "${HAVE_OM}" = 1 ] || die "--tool benchmark needs the OM files: ${om_problem}"
        INFER_TOOL=benchmark; tool_reason="given (--tool benchmark)" ;;
    ais_bench)
        [ "${HAVE_AIS_BENCH}" = 1 ] || die "--tool ais_bench: '${PYTHON} -c \"import ais_bench\"' fails (ais_bench not installed for ${PYTHON})"
        [ "${HAVE_OM}" = 1 ] || die "--tool ais_bench needs the OM files: ${om_problem}"
        INFER_TOOL=ais_bench; tool_reason="given (--tool ais_bench)" ;;
    stand-in)
        INFER_TOOL=stand-in; tool_reason="given (--tool stand-in)" ;;
esac
case "${INFER_TOOL}" in
    benchmark) TOOL_TEXT="${BENCHMARK_TOOL} (Huawei's benchmark tool, OM on the NPU)" ;;
    ais_bench) TOOL_TEXT="${PYTHON} -m ais_bench (OM on the NPU)" ;;
    stand-in) TOOL_TEXT="benchmark_ort.py (CPU stand-in, ${BACKEND}, ONNX file)" ;;
esac
CPU_LABEL="${CPU_MODEL}, ${CORES} cores, ${BACKEND}"

note "work folder: ${WORKDIR}"
note "atc: $([ "${HAVE_ATC}" = 1 ] && command -v atc || echo 'not found')"
note "soc version: ${SOC_VERSION} (${soc_reason})"
note "benchmark.${ARCH}: ${BENCHMARK_TOOL:-not found}; ais_bench: $([ "${HAVE_AIS_BENCH}" = 1 ] && echo importable || echo 'not importable')"
note "inference tool: ${INFER_TOOL}: ${TOOL_TEXT}; why: ${tool_reason}"
note "devices: ${DEVICE_LIST[*]}$([ "${INFER_TOOL}" = stand-in ] && echo " (names only: the stand-in runs on ${CPU_MODEL}, ${CORES} cores)")"
[ "${BACKEND}" = onnxruntime ] || [ "${INFER_TOOL}" = stand-in ] \
    || note "note: --backend ${BACKEND} only applies to the stand-in; ${INFER_TOOL} runs the OM"

# ---------------------------------------------------------------------------------------------------------------
stage "checkpoint" "choose the weights"
RANDOM_WEIGHTS=0
if [ -z "${CHECKPOINT}" ]; then
    for candidate in "${WORKDIR}/${SMALL_CHECKPOINT}" "${REPO_DIR}/${SMALL_CHECKPOINT}"; do
        if [ -f "${candidate}" ]; then CHECKPOINT="${candidate}"; break; fi
    done
fi
if [ -z "${CHECKPOINT}" ]; then
    RANDOM_WEIGHTS=1
    set_stamp checkpoint "random weights, seed 0"
    note "weights: seeded random (seed 0): accuracy will be chance-level"
    loud "WARNING: no checkpoint (${SMALL_CHECKPOINT} not found, --checkpoint not given): the model runs on" \
         "seeded RANDOM weights. Accuracy will be chance-level and MEANINGLESS; only the plumbing is tested."
else
    [ -f "${CHECKPOINT}" ] || die "checkpoint ${CHECKPOINT}: no such file"
    checkpoint_hash="$(content_hash "${CHECKPOINT}")" || die "checkpoint ${CHECKPOINT}: cannot be read"
    set_stamp checkpoint "sha256 ${checkpoint_hash}"
    note "checkpoint: ${CHECKPOINT} (sha256 ${checkpoint_hash:0:16}...)"
fi

# ---------------------------------------------------------------------------------------------------------------
stage "dataset" "choose the validation images and labels; check the free space"
if [ -z "${DATASET}" ]; then
    DATASET="${WORKDIR}/demo/val"
    if [ ! -d "${DATASET}" ]; then
        run "${PYTHON}" "${REPO_DIR}/make_demo_dataset.py" "${WORKDIR}/demo"
    else
        skip "demo dataset ${DATASET} exists"
    fi
fi
[ -d "${DATASET}" ] || die "dataset folder ${DATASET}: no such folder"
listing="$(image_listing "${DATASET}")" || die "dataset folder ${DATASET}: cannot be listed"
IMAGE_COUNT=0
[ -z "${listing}" ] || IMAGE_COUNT="$(wc -l <<< "${listing}")"
if [ "${IMAGE_COUNT}" = 0 ]; then
    hint="give the folder that holds the images themselves"
    [ ! -d "${DATASET}/val" ] || hint="it has a val/ folder: did you mean --dataset ${DATASET}/val?"
    die "dataset folder ${DATASET} holds no images (.jpeg .jpg .png .bmp .webp); ${hint}"
fi
[ -n "${LABELS}" ] || LABELS="$(dirname "${DATASET}")/val_label.txt"
[ -f "${LABELS}" ] || die "label file ${LABELS}: no such file (give --labels)"
LABEL_COUNT="$(grep -c '[^[:space:]]' "${LABELS}" || true)"
set_stamp dataset "${listing}"
set_stamp labels "sha256 $(content_hash "${LABELS}")"
ALLOW_MISSING=()
note "images: ${DATASET} (${IMAGE_COUNT} images)"
note "labels: ${LABELS} (${LABEL_COUNT} lines)"
if [ "${IMAGE_COUNT}" -lt "${LABEL_COUNT}" ]; then
    ALLOW_MISSING=(--allow-missing)
    note "subset run: ${IMAGE_COUNT} images of ${LABEL_COUNT} labelled; the others count as misses (--allow-missing)"
fi
if [ "${DEVICE_COUNT}" -gt "${IMAGE_COUNT}" ]; then
    die "--devices: ${DEVICE_COUNT} devices for ${IMAGE_COUNT} images: every device needs at least one image"
fi

# Free space: the bins still to make, and one text output per image for each batch size (and compared dump) whose
# outputs are not there yet.
missing_bins=$(( IMAGE_COUNT - $(count_bins prep_dataset) ))
[ "${missing_bins}" -ge 0 ] || missing_bins=0
dumps_to_make=0
for batch_size in "${BATCH_LIST[@]}"; do
    [ -e ".run_all/inference_bs${batch_size}.done" ] || dumps_to_make=$(( dumps_to_make + 1 ))
done
[ "${COMPARE}" = none ] || [ -e .run_all/reference.done ] || [ -e .run_all/onnx_ref.done ] \
    || dumps_to_make=$(( dumps_to_make + 2 ))
bins_needed=$(( missing_bins * BIN_BYTES ))
dumps_needed=$(( IMAGE_COUNT * dumps_to_make * DUMP_BYTES_PER_IMAGE ))
free_bytes="$(df -P -B1 . | awk 'NR == 2 { print $4 }')"
needed_text="$(human_bytes $(( bins_needed + dumps_needed ))) (${missing_bins} bins x 602,112 bytes = $(human_bytes "${bins_needed}"), text outputs for ${dumps_to_make} runs about $(human_bytes "${dumps_needed}"))"
if [ -n "${free_bytes}" ] && [ "${free_bytes}" -lt $(( bins_needed + dumps_needed )) ]; then
    die "not enough free space in ${WORKDIR}: this run needs about ${needed_text}; $(human_bytes "${free_bytes}") free"
fi
note "disk: needs about ${needed_text}; $(human_bytes "${free_bytes:-0}") free"

# ---------------------------------------------------------------------------------------------------------------
stage "export" "PyTorch -> ONNX, opset 11, one file per batch size (guide 3.1)"
export_source="${CHECKPOINT}"
[ "${RANDOM_WEIGHTS}" = 0 ] || export_source="random"
for batch_size in "${BATCH_LIST[@]}"; do
    onnx_file="shufflenetv2_bs${batch_size}.onnx"
    if is_fresh "${onnx_file}" .run_all/checkpoint; then
        skip "${onnx_file} is up to date"
    else
        run "${PYTHON}" "${REPO_DIR}/shufflenetv2_pth2onnx.py" "${export_source}" "${onnx_file}" "${batch_size}"
    fi
done

# ---------------------------------------------------------------------------------------------------------------
stage "atc" "ONNX -> OM with ATC for ${SOC_VERSION} (guide 3.2)"
if [ "${HAVE_ATC}" = 1 ]; then
    set_stamp soc_version "${SOC_VERSION}"
    for batch_size in "${BATCH_LIST[@]}"; do
        if is_fresh "shufflenetv2_bs${batch_size}.om" "shufflenetv2_bs${batch_size}.onnx" .run_all/soc_version; then
            skip "shufflenetv2_bs${batch_size}.om is up to date"
        else
            run atc --framework=5 --model="./shufflenetv2_bs${batch_size}.onnx" --input_format=NCHW \
                --input_shape="image:${batch_size},3,224,224" --output="shufflenetv2_bs${batch_size}" \
                --log=debug --soc_version="${SOC_VERSION}"
        fi
    done
else
    skip "atc not found (no CANN toolkit)$([ "${#missing_om[@]}" = 0 ] && echo ": the OM files present are used as they are")"
fi

# ---------------------------------------------------------------------------------------------------------------
stage "preprocess" "images -> prep_dataset/*.bin (guide 4.2)"
if is_fresh .run_all/preprocess.done .run_all/dataset && [ "$(count_bins prep_dataset)" = "${IMAGE_COUNT}" ]; then
    skip "prep_dataset/ is complete for the ${IMAGE_COUNT} images of ${DATASET}"
else
    rm -f .run_all/preprocess.done
    # The preprocessor's record in prep_dataset/ knows which image each bin came from: it resumes, redoes the
    # bins of changed images, removes those of removed images, and clears bins of another dataset.
    run "${PYTHON}" "${REPO_DIR}/imagenet_torch_preprocess.py" "${DATASET}" ./prep_dataset --if-other-dataset overwrite
    bins_made="$(count_bins prep_dataset)"
    [ "${bins_made}" = "${IMAGE_COUNT}" ] \
        || die "prep_dataset/ holds ${bins_made} bins for ${IMAGE_COUNT} images of ${DATASET}"
    touch .run_all/preprocess.done
fi

# ---------------------------------------------------------------------------------------------------------------
stage "info" "prep_dataset/ -> shufflenetv2_prep_bin.info (guide 4.3)"
INFO=shufflenetv2_prep_bin.info
if is_fresh "${INFO}" .run_all/preprocess.done && [ "$(wc -l < "${INFO}")" = "${IMAGE_COUNT}" ]; then
    skip "${INFO} is up to date"
else
    run "${PYTHON}" "${REPO_DIR}/get_info.py" bin ./prep_dataset "./${INFO}" 224 224
fi
# Several devices: contiguous shards of the info file, one per device, next to it (their sizes differ by at most
# one line).
set_stamp devices "${DEVICE_LIST[*]}"
if [ "${DEVICE_COUNT}" -gt 1 ]; then
    shards_fresh=1
    for device in "${DEVICE_LIST[@]}"; do
        is_fresh "shufflenetv2_prep_bin_device${device}.info" "${INFO}" .run_all/devices || shards_fresh=0
    done
    if [ "${shards_fresh}" = 1 ]; then
        skip "the ${DEVICE_COUNT} shards shufflenetv2_prep_bin_device<D>.info are up to date"
    else
        start=0
        for index in "${!DEVICE_LIST[@]}"; do
            device="${DEVICE_LIST[${index}]}"
            end=$(( IMAGE_COUNT * (index + 1) / DEVICE_COUNT ))
            sed -n "$(( start + 1 )),${end}p" "${INFO}" > "shufflenetv2_prep_bin_device${device}.info.tmp"
            mv "shufflenetv2_prep_bin_device${device}.info.tmp" "shufflenetv2_prep_bin_device${device}.info"
            note "device ${device}: lines $(( start + 1 ))..${end} of ${INFO} -> shufflenetv2_prep_bin_device${device}.info"
            start="${end}"
        done
    fi
fi

# ---------------------------------------------------------------------------------------------------------------
# Where each tool leaves a batch size's outputs.
dump_folder() {  # dump_folder BATCH DEVICE
    if [ "${INFER_TOOL}" = ais_bench ]; then
        if [ "${DEVICE_COUNT}" = 1 ]; then echo "result/bs$1"; else echo "result/bs$1_device$2"; fi
    else
        echo "result/dumpOutput_device$2_bs$1"
    fi
}
perf_file() {  # perf_file BATCH DEVICE
    if [ "${INFER_TOOL}" = ais_bench ]; then
        echo "$(dump_folder "$1" "$2")_summary.json"
    else
        echo "result/perf_vision_batchsize_$1_device_$2.txt"
    fi
}
# inference_command BATCH DEVICE: the tool's command line for one device (into the array COMMAND).
inference_command() {
    local batch_size="$1" device="$2" info="./${INFO}" input="./prep_dataset/" dirname="bs$1"
    if [ "${DEVICE_COUNT}" -gt 1 ]; then
        info="./shufflenetv2_prep_bin_device${device}.info"
        input="./prep_dataset_device${device}/"
        dirname="bs${batch_size}_device${device}"
    fi
    local guide_flags=(-model_type=vision -device_id="${device}" -batch_size="${batch_size}")
    local io_flags=(-input_text_path="${info}" -input_width=224 -input_height=224 -output_binary=False -useDvpp=False)
    case "${INFER_TOOL}" in
        benchmark)
            COMMAND=("${BENCHMARK_TOOL}" "${guide_flags[@]}" -om_path="shufflenetv2_bs${batch_size}.om" "${io_flags[@]}") ;;
        ais_bench)
            COMMAND=("${PYTHON}" -m ais_bench --model "./shufflenetv2_bs${batch_size}.om" --input "${input}"
                     --output ./result/ --output_dirname "${dirname}" --outfmt TXT --batchsize "${batch_size}"
                     --device "${device}") ;;
        stand-in)
            COMMAND=("${PYTHON}" "${REPO_DIR}/benchmark_ort.py" "${guide_flags[@]}" -om_path="shufflenetv2_bs${batch_size}.onnx"
                     "${io_flags[@]}" -backend="${BACKEND}")
            if [ "${DEVICE_COUNT}" -gt 1 ]; then
                # Each process gets its share of the cores, as streams of one thread each (the stand-in's fastest).
                local share=$(( CORES / DEVICE_COUNT ))
                [ "${share}" -ge 1 ] || share=1
                COMMAND+=(-streams="${share}" -threads=1)
            fi ;;
    esac
}

case "${INFER_TOOL}" in
    stand-in) set_stamp inference "stand-in ${BACKEND}"; model_suffix=onnx ;;
    *) set_stamp inference "${INFER_TOOL}"; model_suffix=om ;;
esac
ACCURACY_FILES=()
PERF_FILES=()
for batch_size in "${BATCH_LIST[@]}"; do
    stage "inference bs${batch_size}" "offline inference on prep_dataset/ (guide 5.2), then top-1..5 accuracy (guide 6.1)"
    model_file="shufflenetv2_bs${batch_size}.${model_suffix}"
    done_marker=".run_all/inference_bs${batch_size}.done"
    dumps=()
    perf_files=()
    outputs_present=1
    for device in "${DEVICE_LIST[@]}"; do
        dumps+=("$(dump_folder "${batch_size}" "${device}")/")
        perf_files+=("$(perf_file "${batch_size}" "${device}")")
        [ -d "${dumps[-1]}" ] && [ -f "${perf_files[-1]}" ] || outputs_present=0
    done
    PERF_FILES+=("${perf_files[@]}")
    accuracy_file="result_bs${batch_size}.json"
    ACCURACY_FILES+=("${accuracy_file}")
    [ -f "${model_file}" ] || die "${model_file}: no such file (it should have been made above)"
    if [ "${outputs_present}" = 1 ] && is_fresh "${done_marker}" "${INFO}" "${model_file}" .run_all/inference .run_all/devices; then
        skip "the outputs of ${model_file} on the ${IMAGE_COUNT} images are up to date (${dumps[*]})"
    else
        # A batch size's earlier outputs (dumps and perf files of any tool and device) go first.
        rm -rf "${done_marker}" "${accuracy_file}" result/dumpOutput_device*_bs"${batch_size}" \
            result/bs"${batch_size}" result/bs"${batch_size}"_summary.json result/bs"${batch_size}"_device* \
            result/perf_vision_batchsize_"${batch_size}"_device_*.txt
        for device in "${DEVICE_LIST[@]}"; do rm -rf "result/dumpOutput_device${device}"; done
        mkdir -p result
        started="$(date +%s.%N)"
        if [ "${DEVICE_COUNT}" = 1 ]; then
            inference_command "${batch_size}" "${DEVICE_LIST[0]}"
            run "${COMMAND[@]}"
        else
            if [ "${INFER_TOOL}" = ais_bench ]; then
                # ais_bench reads a folder: each device gets a folder of links to its shard's bins.
                for device in "${DEVICE_LIST[@]}"; do
                    rm -rf "prep_dataset_device${device}"
                    mkdir "prep_dataset_device${device}"
                    while read -r _ bin_path _; do
                        ln -s "../prep_dataset/$(basename "${bin_path}")" "prep_dataset_device${device}/"
                    done < "shufflenetv2_prep_bin_device${device}.info"
                done
            fi
            pids=()
            for device in "${DEVICE_LIST[@]}"; do
                inference_command "${batch_size}" "${device}"
                echo "    [device ${device}] \$ ${COMMAND[*]}"
                ( trap - ERR; "${COMMAND[@]}" 2>&1 | sed -u "s/^/    [device ${device}] /" ) &
                pids+=("$!")
            done
            failed=()
            for index in "${!DEVICE_LIST[@]}"; do
                if wait "${pids[${index}]}"; then :; else failed+=("device ${DEVICE_LIST[${index}]} (exit status $?)"); fi
            done
            [ "${#failed[@]}" = 0 ] || die "inference failed on ${failed[*]}; see the lines marked [device <D>] above"
        fi
        finished="$(date +%s.%N)"
        for device in "${DEVICE_LIST[@]}"; do
            if [ "${INFER_TOOL}" != ais_bench ]; then
                [ -d "result/dumpOutput_device${device}" ] \
                    || die "device ${device}: the tool wrote no result/dumpOutput_device${device}/"
                mv "result/dumpOutput_device${device}" "$(dump_folder "${batch_size}" "${device}")"
            fi
            [ -d "$(dump_folder "${batch_size}" "${device}")" ] \
                || die "device ${device}: no output folder $(dump_folder "${batch_size}" "${device}")/"
            [ -f "$(perf_file "${batch_size}" "${device}")" ] \
                || die "device ${device}: no performance file $(perf_file "${batch_size}" "${device}")"
            # One output per image of the device's share: none may be silently missing from the accuracy.
            expected_outputs="${IMAGE_COUNT}"
            [ "${DEVICE_COUNT}" = 1 ] || expected_outputs="$(wc -l < "shufflenetv2_prep_bin_device${device}.info")"
            outputs_made="$(find "$(dump_folder "${batch_size}" "${device}")" -maxdepth 1 -type f | wc -l)"
            [ "${outputs_made}" = "${expected_outputs}" ] || die "device ${device}: $(dump_folder "${batch_size}" \
                "${device}")/ holds ${outputs_made} outputs for ${expected_outputs} images"
        done
        [ "${INFER_TOOL}" != ais_bench ] || [ "${DEVICE_COUNT}" = 1 ] || rm -rf prep_dataset_device*
        awk -v a="${started}" -v b="${finished}" -v n="${IMAGE_COUNT}" 'BEGIN { printf "%d %.3f\n", n, b - a }' \
            > ".run_all/wall_bs${batch_size}"
        touch "${done_marker}"
    fi
    if is_fresh "${accuracy_file}" "${done_marker}" .run_all/labels; then
        skip "${accuracy_file} is up to date"
    else
        run "${PYTHON}" "${REPO_DIR}/imagenet_acc_eval.py" "${dumps[@]}" "${LABELS}" ./ "${accuracy_file}" \
            "${ALLOW_MISSING[@]}"
    fi
done

# ---------------------------------------------------------------------------------------------------------------
# Comparison of outputs (the precision step): the dumps compared are kept in result/.
COMPARISON_FILES=()
# run_elsewhere FOLDER_OUT COMMAND...: run the stand-in in a scratch folder (so its result/ files do not touch the
# run's own) on the run's info file, and keep its dump as FOLDER_OUT.
run_elsewhere() {
    local target="$1" scratch=.run_all/scratch
    shift
    rm -rf "${scratch}" "${target}"
    mkdir -p "${scratch}"
    ln -s "${WORKDIR}/prep_dataset" "${scratch}/prep_dataset"
    (cd "${scratch}" && run "$@" -model_type=vision -device_id=0 -input_text_path="${WORKDIR}/${INFO}" \
        -input_width=224 -input_height=224 -output_binary=False -useDvpp=False)
    mv "${scratch}/result/dumpOutput_device0" "${target}"
    rm -rf "${scratch}"
}
# compare REFERENCE CANDIDATE JSON MARKER...: compare_outputs.py unless JSON is newer than every marker. A missed
# threshold (exit 1) is reported, not fatal; bad input is.
compare() {
    local reference="$1" candidate="$2" json="$3"
    shift 3
    COMPARISON_FILES+=("${json}")
    if is_fresh "${json}" "$@" .run_all/labels; then
        skip "${json} is up to date"
        return 0
    fi
    local status=0
    rm -f "${json}"
    run "${PYTHON}" "${REPO_DIR}/compare_outputs.py" "${reference}" "${candidate}" --labels "${LABELS}" \
        --json "${json}" || status=$?
    case "${status}" in
        0) ;;
        1) note "NOTE: ${candidate} misses a threshold against ${reference} (see above and ${json})" ;;
        *) die "compare_outputs.py failed on ${reference} and ${candidate} (exit status ${status})" ;;
    esac
}
# candidate_folder BATCH: the run's outputs of BATCH as one folder (several devices: a folder of links to all).
candidate_folder() {
    local batch_size="$1" device
    if [ "${DEVICE_COUNT}" = 1 ]; then
        echo "$(dump_folder "${batch_size}" "${DEVICE_LIST[0]}")/"
        return
    fi
    local merged="result/all_devices_bs${batch_size}"
    if ! is_fresh "${merged}" ".run_all/inference_bs${batch_size}.done"; then
        rm -rf "${merged}"
        mkdir -p "${merged}"
        for device in "${DEVICE_LIST[@]}"; do
            find "$(dump_folder "${batch_size}" "${device}")" -maxdepth 1 -type f -printf '%f\n' | while IFS= read -r name; do
                ln -s "../$(basename "$(dump_folder "${batch_size}" "${device}")")/${name}" "${merged}/${name}"
            done
        done
    fi
    echo "${merged}/"
}

compare_batches=()
case "${COMPARE}" in
    first) compare_batches=("${BATCH_LIST[0]}") ;;
    all) compare_batches=("${BATCH_LIST[@]}") ;;
esac
if [ "${#compare_batches[@]}" -gt 0 ]; then
    if [ "${INFER_TOOL}" = stand-in ]; then
        stage "compare" "the stand-in's outputs against the PyTorch reference, and the fp16 preview (precision)"
        reference_weights="${CHECKPOINT}"
        [ "${RANDOM_WEIGHTS}" = 0 ] || reference_weights=random
        torch_flags=(-om_path="${reference_weights}" -model_size=Small -seed=0 -batch_size=16)
        for variant in torch torch-fp16; do
            folder=result/reference; marker=.run_all/reference.done
            [ "${variant}" = torch ] || { folder=result/reference_fp16; marker=.run_all/reference_fp16.done; }
            if [ -d "${folder}" ] && is_fresh "${marker}" "${INFO}" .run_all/checkpoint; then
                skip "${folder}/ is up to date"
            else
                rm -f "${marker}"
                run_elsewhere "${folder}" "${PYTHON}" "${REPO_DIR}/benchmark_ort.py" -backend="${variant}" "${torch_flags[@]}"
                touch "${marker}"
            fi
        done
        for batch_size in "${compare_batches[@]}"; do
            candidate="$(candidate_folder "${batch_size}")"
            compare result/reference/ "${candidate}" "compare_bs${batch_size}_onnx_vs_torch.json" \
                .run_all/reference.done ".run_all/inference_bs${batch_size}.done"
        done
        compare result/reference/ result/reference_fp16/ compare_fp16_vs_torch.json \
            .run_all/reference.done .run_all/reference_fp16.done
    else
        stage "compare" "the OM's outputs (${INFER_TOOL}) against the ONNX stand-in's on the same inputs (precision)"
        for batch_size in "${compare_batches[@]}"; do
            folder="result/onnx_bs${batch_size}"
            marker=".run_all/onnx_bs${batch_size}.done"
            if [ -d "${folder}" ] && is_fresh "${marker}" "${INFO}" "shufflenetv2_bs${batch_size}.onnx"; then
                skip "${folder}/ is up to date"
            else
                rm -f "${marker}"
                run_elsewhere "${folder}" "${PYTHON}" "${REPO_DIR}/benchmark_ort.py" -backend=onnxruntime \
                    -om_path="${WORKDIR}/shufflenetv2_bs${batch_size}.onnx" -batch_size="${batch_size}"
                touch "${marker}" .run_all/onnx_ref.done
            fi
            candidate="$(candidate_folder "${batch_size}")"
            compare "${folder}/" "${candidate}" "compare_bs${batch_size}_om_vs_onnx.json" \
                "${marker}" ".run_all/inference_bs${batch_size}.done"
        done
    fi
fi

# ---------------------------------------------------------------------------------------------------------------
stage "summary" "performance (guide 7), accuracy against the published figures (guide 6.3), report.md"
perf_options=()
[ "${INFER_TOOL}" != stand-in ] || perf_options=(--chips 1 --label "${CPU_LABEL}")
run "${PYTHON}" "${REPO_DIR}/parse_perf.py" "${PERF_FILES[@]}" --plot perf.png "${perf_options[@]}"

# Several devices: the card's throughput as measured, beside the guide's extrapolation (one chip's rate x 4).
CARD_TEXT=""
if [ "${DEVICE_COUNT}" -gt 1 ]; then
    echo
    echo "    measured card throughput (${DEVICE_COUNT} devices at once: ${DEVICE_LIST[*]}):"
    for batch_size in "${BATCH_LIST[@]}"; do
        files=()
        for device in "${DEVICE_LIST[@]}"; do files+=("$(perf_file "${batch_size}" "${device}")"); done
        rates="$("${PYTHON}" -c '
import sys
sys.path.insert(0, sys.argv[1])
import parse_perf
card = parse_perf.measured_cards(parse_perf.read_perf_files(sys.argv[2:]), chips=4)[0]
print(card.measured_fps, card.extrapolated_fps)
' "${REPO_DIR}" "${files[@]}")" || die "cannot read the performance files ${files[*]}"
        wall_images=0; wall_seconds=0
        [ ! -f ".run_all/wall_bs${batch_size}" ] || read -r wall_images wall_seconds < ".run_all/wall_bs${batch_size}"
        line="$(awk -v b="${batch_size}" -v s="${rates% *}" -v x="${rates#* }" -v n="${wall_images}" \
            -v t="${wall_seconds}" -v k="${DEVICE_COUNT}" 'BEGIN {
            printf "bs%s: %.2f img/s (sum of the %d devices'"'"' Interface rates); %.2f img/s (%d images / %.3f s wall, start-up included); guide'"'"'s extrapolation %.2f img/s (one device'"'"'s mean rate x 4)", b, s, k, (t > 0 ? n / t : 0), n, t, x }')"
        echo "      ${line}"
        CARD_TEXT="${CARD_TEXT:+${CARD_TEXT}; }${line}"
    done
fi

report_options=(--accuracy "${ACCURACY_FILES[@]}" --perf "${PERF_FILES[@]}" --plot perf.png --tool "${TOOL_TEXT}"
                --devices "${DEVICE_LIST[*]}")
[ "${#COMPARISON_FILES[@]}" = 0 ] || report_options+=(--comparison "${COMPARISON_FILES[@]}")
if [ "${INFER_TOOL}" = stand-in ]; then
    report_options+=(--chips 1 --perf-label "${CPU_LABEL}" --backend "${BACKEND}")
else
    report_options+=(--chips 4 --soc-version "${SOC_VERSION}")
fi
[ "${RANDOM_WEIGHTS}" = 0 ] || report_options+=(--random-weights)
[ -z "${CARD_TEXT}" ] || report_options+=(--card-throughput "${CARD_TEXT}")
if [ -f "${REPO_DIR}/write_report.py" ]; then
    run "${PYTHON}" "${REPO_DIR}/write_report.py" report.md "${report_options[@]}"
else
    note "NOTE: write_report.py is not in ${REPO_DIR}: no report.md"
fi

compare_options=()
[ "${RANDOM_WEIGHTS}" = 0 ] || compare_options+=(--random-weights)
# Last, because it fails the run when a real checkpoint misses the published accuracy by more than 1 point.
run "${PYTHON}" "${REPO_DIR}/compare_accuracy.py" "${compare_options[@]}" "${ACCURACY_FILES[@]}"
echo
echo "${PROG}: done; outputs in ${WORKDIR} (read report.md)"
