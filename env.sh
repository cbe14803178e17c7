# shellcheck shell=bash
# Environment of the Ascend CANN toolkit (atc, the benchmark tool's libraries), as the guide's `source env.sh`.
#
#   source env.sh
#
# Newer CANN ships ascend-toolkit/set_env.sh: it is sourced. CANN 5.0.1 (the guide's version) has none: the
# variables it needs are set from ascend-toolkit/latest. Without CANN this changes nothing and says so.
# The install root is /usr/local/Ascend unless ASCEND_ROOT says otherwise. Safe under `set -u`; sourcing it
# twice adds nothing twice.

_shufflenet_env_prepend() {
    # _shufflenet_env_prepend VAR DIR: put DIR in front of the colon list VAR unless it is already there.
    local current="${!1:-}"
    case ":${current}:" in
        *":$2:"*) ;;
        *) export "$1=$2${current:+:${current}}" ;;
    esac
}

_shufflenet_env_setup() {
    local root="${ASCEND_ROOT:-/usr/local/Ascend}"
    local toolkit="${root}/ascend-toolkit"
    if [ -f "${toolkit}/set_env.sh" ]; then
        # Vendor scripts are not written for `set -u`; relax it while they run.
        local had_nounset=0
        case "$-" in *u*) had_nounset=1; set +u ;; esac
        # shellcheck disable=SC1091
        source "${toolkit}/set_env.sh"
        [ "${had_nounset}" = 1 ] && set -u
        echo "env.sh: CANN environment from ${toolkit}/set_env.sh" >&2
    elif [ -d "${toolkit}/latest" ]; then
        local install_path="${toolkit}/latest"
        export install_path
        _shufflenet_env_prepend PATH "${install_path}/atc/ccec_compiler/bin"
        _shufflenet_env_prepend PATH "${install_path}/atc/bin"
        _shufflenet_env_prepend PYTHONPATH "${install_path}/atc/python/site-packages"
        _shufflenet_env_prepend LD_LIBRARY_PATH "${install_path}/acllib/lib64"
        _shufflenet_env_prepend LD_LIBRARY_PATH "${install_path}/atc/lib64"
        export ASCEND_OPP_PATH="${install_path}/opp"
        export ASCEND_AICPU_PATH="${install_path}"
        echo "env.sh: CANN 5.0.1 environment from ${install_path}" >&2
    else
        echo "env.sh: no CANN toolkit under ${root}: environment unchanged (atc and the benchmark tool unavailable)" >&2
    fi
}

_shufflenet_env_setup
unset -f _shufflenet_env_setup _shufflenet_env_prepend
