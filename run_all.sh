#!/usr/bin/env bash
# The whole guide as one command: export -> ATC -> preprocess -> info file -> inference -> accuracy -> performance.
# On an Ascend 310 host (atc and benchmark.<arch> present after `source env.sh`) it drives Huawei's tools; anywhere
# else the onnxruntime stand-in (benchmark_ort.py) takes the benchmark step and writes the very same files.
set -Eeuo pipefail

readonly REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly PROG="run_all.sh"

usage() {
    cat <<EOF
Usage: bash run_all.sh [options]

Runs the ShuffleNetV2+ Ascend 310 guide end to end in the work folder. Stages whose outputs are complete and
newer than their inputs are skipped, so a re-run is cheap; a failing stage stops the run and is named.

Options (each mirrors an environment variable, given in brackets):
  --checkpoint FILE    PyTorch checkpoint [CHECKPOINT]. Default: ${SMALL_CHECKPOINT} in the work folder or
                       beside this script when present, else seeded random weights (accuracy is then chance-level).
  --dataset DIR        folder of validation images [DATASET]. Default: a generated demo set in WORKDIR/demo/val.
  --labels FILE        val_label.txt for the dataset [LABELS]. Default: val_label.txt beside DATASET.
  --batch-sizes "B..." batch sizes to export and run [BATCH_SIZES]. Default: "1 4 8 16 32".
  --workdir DIR        where every output goes [WORKDIR]. Default: the current folder.
  --device-id N        Ascend device id for ATC's benchmark run [DEVICE_ID]. Default: 0.
  -h, --help           show this help and exit.
Also: SOC_VERSION (default Ascend310) for atc, PYTHON (default python3), ASCEND_ROOT for env.sh.

Outputs (the guide's names): shufflenetv2_bs<B>.onnx, shufflenetv2_bs<B>.om, prep_dataset/,
shufflenetv2_prep_bin.info, result/dumpOutput_device<D>/, result/perf_vision_batchsize_<B>_device_<D>.txt,
result_bs<B>.json, perf.png; bookkeeping in .run_all/.
EOF
}

CURRENT_STAGE=""
die() {
    echo "${PROG}: error: ${CURRENT_STAGE:+stage \"${CURRENT_STAGE}\": }$*" >&2
    exit 2
}

readonly SMALL_CHECKPOINT="ShuffleNetV2+.Small.pth.tar"
CHECKPOINT="${CHECKPOINT:-}"
DATASET="${DATASET:-}"
LABELS="${LABELS:-}"
BATCH_SIZES="${BATCH_SIZES:-1 4 8 16 32}"
WORKDIR="${WORKDIR:-.}"
DEVICE_ID="${DEVICE_ID:-0}"
SOC_VERSION="${SOC_VERSION:-Ascend310}"
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
        *) die "unknown option ${option} (see --help)" ;;
    esac
done

# Everything the user named is made absolute before we move into the work folder.
absolute() { case "$1" in /*) echo "$1" ;; *) echo "${PWD}/$1" ;; esac; }

for batch_size in ${BATCH_SIZES}; do
    [[ "${batch_size}" =~ ^[1-9][0-9]*$ ]] || die "--batch-sizes: '${batch_size}' is not a positive integer"
done
[ -n "${BATCH_SIZES// /}" ] || die "--batch-sizes: no batch size given"
[[ "${DEVICE_ID}" =~ ^[0-9]+$ ]] || die "--device-id: '${DEVICE_ID}' is not a non-negative integer"
mkdir -p "${WORKDIR}" || die "--workdir: cannot create ${WORKDIR}"
WORKDIR="$(cd "${WORKDIR}" && pwd)"
[ -z "${CHECKPOINT}" ] || CHECKPOINT="$(absolute "${CHECKPOINT}")"
[ -z "${DATASET}" ] || DATASET="$(absolute "${DATASET}")"
[ -z "${LABELS}" ] || LABELS="$(absolute "${LABELS}")"
cd "${WORKDIR}"

trap 'status=$?; echo "${PROG}: error: stage \"${CURRENT_STAGE}\" failed (exit status ${status}); see the messages above" >&2; exit ${status}' ERR

stage() {
    CURRENT_STAGE="$1"
    echo
    echo "==> [${CURRENT_STAGE}] $2"
}
skip() { echo "    skipped: $*"; }
run() {
    echo "    \$ $*"
    "$@"
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
    mkdir -p .run_all
    if [ ! -f ".run_all/$1" ] || [ "$(< ".run_all/$1")" != "$2" ]; then
        printf '%s\n' "$2" > ".run_all/$1.tmp" && mv ".run_all/$1.tmp" ".run_all/$1"
    fi
}
file_identity() { echo "$1 $(stat -c '%s %Y' "$1")"; }

# ---------------------------------------------------------------------------------------------------------------
stage "environment" "source env.sh"
# shellcheck disable=SC1091
source "${REPO_DIR}/env.sh"
command -v "${PYTHON}" >/dev/null || die "python interpreter '${PYTHON}' not found (set PYTHON)"
ARCH="$(uname -m)"
BENCHMARK_TOOL=""
if [ -x "./benchmark.${ARCH}" ]; then
    BENCHMARK_TOOL="./benchmark.${ARCH}"
elif command -v "benchmark.${ARCH}" >/dev/null; then
    BENCHMARK_TOOL="$(command -v "benchmark.${ARCH}")"
fi
HAVE_ATC=0
command -v atc >/dev/null && HAVE_ATC=1
echo "    work folder: ${WORKDIR}"
echo "    atc: $([ ${HAVE_ATC} = 1 ] && command -v atc || echo 'not found')"
echo "    benchmark tool: ${BENCHMARK_TOOL:-not found (the onnxruntime stand-in benchmark_ort.py runs instead)}"

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
    echo "    weights: seeded random (seed 0): accuracy will be chance-level"
    {
        echo "    ************************************************************************************************"
        echo "    WARNING: no checkpoint (${SMALL_CHECKPOINT} not found, --checkpoint not given): the model runs on"
        echo "    seeded RANDOM weights. Accuracy will be chance-level and MEANINGLESS; only the plumbing is tested."
        echo "    ************************************************************************************************"
    } >&2
else
    [ -f "${CHECKPOINT}" ] || die "checkpoint ${CHECKPOINT}: no such file"
    set_stamp checkpoint "$(file_identity "${CHECKPOINT}")"
    echo "    checkpoint: ${CHECKPOINT}"
fi

# ---------------------------------------------------------------------------------------------------------------
stage "dataset" "choose the validation images and labels"
if [ -z "${DATASET}" ]; then
    DATASET="${WORKDIR}/demo/val"
    if [ ! -d "${DATASET}" ]; then
        run "${PYTHON}" "${REPO_DIR}/make_demo_dataset.py" "${WORKDIR}/demo"
    else
        skip "demo dataset ${DATASET} exists"
    fi
fi
[ -d "${DATASET}" ] || die "dataset folder ${DATASET}: no such folder"
[ -n "${LABELS}" ] || LABELS="$(dirname "${DATASET}")/val_label.txt"
[ -f "${LABELS}" ] || die "label file ${LABELS}: no such file (give --labels)"
set_stamp dataset "${DATASET}"
set_stamp labels "$(file_identity "${LABELS}")"
echo "    images: ${DATASET}"
echo "    labels: ${LABELS}"

# ---------------------------------------------------------------------------------------------------------------
stage "export" "PyTorch -> ONNX, opset 11, one file per batch size (guide 3.1)"
export_source="${CHECKPOINT}"
[ "${RANDOM_WEIGHTS}" = 0 ] || export_source="random"
for batch_size in ${BATCH_SIZES}; do
    onnx_file="shufflenetv2_bs${batch_size}.onnx"
    if is_fresh "${onnx_file}" .run_all/checkpoint; then
        skip "${onnx_file} is up to date"
    else
        run "${PYTHON}" "${REPO_DIR}/shufflenetv2_pth2onnx.py" "${export_source}" "${onnx_file}" "${batch_size}"
    fi
done

# ---------------------------------------------------------------------------------------------------------------
stage "atc" "ONNX -> OM with ATC (guide 3.2)"
if [ "${HAVE_ATC}" = 1 ]; then
    for batch_size in ${BATCH_SIZES}; do
        if is_fresh "shufflenetv2_bs${batch_size}.om" "shufflenetv2_bs${batch_size}.onnx"; then
            skip "shufflenetv2_bs${batch_size}.om is up to date"
        else
            run atc --framework=5 --model="./shufflenetv2_bs${batch_size}.onnx" --input_format=NCHW \
                --input_shape="image:${batch_size},3,224,224" --output="shufflenetv2_bs${batch_size}" \
                --log=debug --soc_version="${SOC_VERSION}"
        fi
    done
else
    skip "atc not found (no CANN toolkit): inference uses the ONNX files"
fi

# ---------------------------------------------------------------------------------------------------------------
stage "preprocess" "images -> prep_dataset/*.bin (guide 4.2)"
if is_fresh .run_all/preprocess.done .run_all/dataset; then
    skip "prep_dataset/ is complete for ${DATASET}"
else
    # Bins of another dataset must not mix with these.
    [ ! -e .run_all/preprocess.done ] || rm -rf prep_dataset
    run "${PYTHON}" "${REPO_DIR}/imagenet_torch_preprocess.py" "${DATASET}" ./prep_dataset
    touch .run_all/preprocess.done
fi

# ---------------------------------------------------------------------------------------------------------------
stage "info" "prep_dataset/ -> shufflenetv2_prep_bin.info (guide 4.3)"
if is_fresh shufflenetv2_prep_bin.info .run_all/preprocess.done; then
    skip "shufflenetv2_prep_bin.info is up to date"
else
    run "${PYTHON}" "${REPO_DIR}/get_info.py" bin ./prep_dataset ./shufflenetv2_prep_bin.info 224 224
fi

# ---------------------------------------------------------------------------------------------------------------
# The tool writes every batch size's outputs into the same result/dumpOutput_device<D>/, so each batch size's
# inference is followed at once by its accuracy, on a dump folder cleared beforehand.
dump_folder="result/dumpOutput_device${DEVICE_ID}"
for batch_size in ${BATCH_SIZES}; do
    stage "inference bs${batch_size}" "offline inference on prep_dataset/ (guide 5.2), then top-1..5 accuracy (guide 6.1)"
    model_file="shufflenetv2_bs${batch_size}.om"
    if [ -n "${BENCHMARK_TOOL}" ] && [ -f "${model_file}" ]; then
        tool=("${BENCHMARK_TOOL}")
    else
        model_file="shufflenetv2_bs${batch_size}.onnx"
        tool=("${PYTHON}" "${REPO_DIR}/benchmark_ort.py")
    fi
    perf_file="result/perf_vision_batchsize_${batch_size}_device_${DEVICE_ID}.txt"
    accuracy_file="result_bs${batch_size}.json"
    if [ -f "${perf_file}" ] && is_fresh "${accuracy_file}" shufflenetv2_prep_bin.info "${model_file}" .run_all/labels; then
        skip "${accuracy_file} and ${perf_file} are up to date"
        continue
    fi
    rm -rf "${dump_folder}" "${accuracy_file}"
    run "${tool[@]}" -model_type=vision -device_id="${DEVICE_ID}" -batch_size="${batch_size}" \
        -om_path="${model_file}" -input_text_path=./shufflenetv2_prep_bin.info \
        -input_width=224 -input_height=224 -output_binary=False -useDvpp=False
    run "${PYTHON}" "${REPO_DIR}/imagenet_acc_eval.py" "${dump_folder}/" "${LABELS}" ./ "${accuracy_file}"
done

# ---------------------------------------------------------------------------------------------------------------
stage "summary" "accuracy against the published figures (guide 6.3) and performance (guide 7)"
accuracy_files=()
for batch_size in ${BATCH_SIZES}; do accuracy_files+=("result_bs${batch_size}.json"); done
compare_options=()
[ "${RANDOM_WEIGHTS}" = 0 ] || compare_options+=(--random-weights)
run "${PYTHON}" "${REPO_DIR}/parse_perf.py" result/ --plot perf.png
# Last, because it fails the run when a real checkpoint misses the published accuracy by more than 1 point.
run "${PYTHON}" "${REPO_DIR}/compare_accuracy.py" "${compare_options[@]}" "${accuracy_files[@]}"
echo
echo "${PROG}: done; outputs in ${WORKDIR}"
