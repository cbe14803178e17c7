#!/usr/bin/env bash
# The whole guide as one command: export -> ATC -> preprocess -> info file -> inference -> accuracy -> comparison
# -> performance -> report.md, on Huawei's tools (benchmark.<arch> or ais_bench) or the CPU stand-in
# (benchmark_ort.py). This script only drives: shufflenet_ascend/planning/ decides what each stage runs and
# checks what it made; every command is printed as it runs, ready to paste. Options: bash run_all.sh --help.
set -Eeuo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly REPO_DIR
readonly PROG="run_all.sh"
PYTHON="${PYTHON:-python3}"
export PYTHON PYTHONPATH="${REPO_DIR}${PYTHONPATH:+:${PYTHONPATH}}"

CURRENT_STAGE=""
die() {
    echo "${PROG}: error: ${CURRENT_STAGE:+stage \"${CURRENT_STAGE}\": }$*" >&2
    exit 2
}
# (PYTHONSAFEPATH: the package of this checkout, not a copy that the work folder may hold.)
planning() { PYTHONSAFEPATH=1 "${PYTHON}" -m shufflenet_ascend.planning "$@"; }

command -v "${PYTHON}" >/dev/null || die "python interpreter '${PYTHON}' not found (set PYTHON)"
# Sets WORKDIR, BATCH_LIST, STAGE_LIST and RUN_ALL_SETTINGS (or RUN_ALL_HELP); a bad option is one line and exit status 2.
settings="$(planning options "$@")" || exit $?
eval "${settings}"
if [ -n "${RUN_ALL_HELP:-}" ]; then printf '%s' "${RUN_ALL_HELP}"; exit 0; fi
export RUN_ALL_SETTINGS
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

# run_stage STAGE [BATCH]: carry out the actions shufflenet_ascend.planning prints for the stage (see its docstring), in order.
run_stage() {
    local plan line lines fields kind device status pids=() devices=() failed=() index
    plan="$(planning start "$@")" || exit $?
    [ -n "${plan}" ] || return 0
    mapfile -t lines <<< "${plan}"
    for line in "${lines[@]}"; do
        IFS=$'\t' read -r -a fields <<< "${line}"
        kind="${fields[0]}"
        case "${kind}" in
            stage) CURRENT_STAGE="${fields[1]}"; echo; echo "==> [${CURRENT_STAGE}] ${fields[2]}" ;;
            say) echo "${fields[1]:-}" ;;
            run) echo "    \$ ${fields[1]}"; eval "${fields[1]}" < /dev/null ;;
            run_in) echo "    in ${fields[1]}/:"; echo "    \$ ${fields[2]}"; (cd "${fields[1]}" && eval "${fields[2]}" < /dev/null) ;;
            tolerate)  # exit status 1 is a missed threshold: said, not fatal
                echo "    \$ ${fields[3]}"
                status=0
                eval "${fields[3]}" < /dev/null || status=$?
                case "${status}" in
                    0) ;;
                    1) echo "    ${fields[1]}" ;;
                    *) die "${fields[2]} (exit status ${status})" ;;
                esac ;;
            optional)  # a diagnostic (msit): its failure is said, not fatal
                echo "    \$ ${fields[2]}"
                status=0
                eval "${fields[2]}" < /dev/null || status=$?
                [ "${status}" = 0 ] || echo "    ${fields[1]} (exit status ${status})" ;;
            device)
                device="${fields[1]}"
                echo "    [device ${device}] \$ ${fields[2]}"
                ( trap - ERR; set +e; eval "${fields[2]}" < /dev/null 2>&1 | sed -u "s/^/    [device ${device}] /" ) &
                pids+=("$!"); devices+=("${device}") ;;
            wait)
                for index in "${!pids[@]}"; do
                    if wait "${pids[${index}]}"; then :; else failed+=("device ${devices[${index}]} (exit status $?)"); fi
                done
                [ "${#failed[@]}" = 0 ] || die "inference failed on ${failed[*]}; see the lines marked [device <D>] above"
                pids=(); devices=() ;;
            check) planning check "${fields[@]:1}" || exit $? ;;
            *) die "shufflenet_ascend.planning asked for '${kind}', which this script does not know" ;;
        esac
    done
}

CURRENT_STAGE="environment"
# shellcheck disable=SC1091
source "${REPO_DIR}/env.sh"
for stage in "${STAGE_LIST[@]}"; do run_stage "${stage}"; done
for batch_size in "${BATCH_LIST[@]}"; do run_stage inference "${batch_size}"; done
run_stage compare
run_stage summary
echo
echo "${PROG}: done; outputs in ${WORKDIR} (read report.md)"
