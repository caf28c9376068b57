#!/usr/bin/env bash
# Launch a dist_sync (parameter server) training job. See docs/distributed.md.
#
#   experiments/dist_train.sh local N_WORKERS [N_SERVERS] [-- COMMAND...]
#       every process on this machine, over 127.0.0.1 (dcn.distributed.launcher)
#   experiments/dist_train.sh ssh HOSTFILE N_WORKERS [N_SERVERS] [-- COMMAND...]
#       MXNet's tools/launch.py: scheduler here, servers and workers by ssh on the
#       hosts of HOSTFILE (one "host" or "host:port" a line); the hosts need this
#       checkout (and venv) at the same path, or set SYNC_DST_DIR to rsync it there
#
# COMMAND defaults to the synthetic toy task. Any train entry point works if it
# takes --kvstore dist_sync (the same command runs as scheduler, server and worker;
# only workers get past "import mxnet"). DRY_RUN=1 prints the command instead.
#
# Examples:
#   experiments/dist_train.sh local 2
#   experiments/dist_train.sh local 2 1 -- .venv/bin/python -m dcn.distributed.toy --output output/toy --epochs 5
#   DRY_RUN=1 experiments/dist_train.sh ssh hosts.txt 4 2 -- .venv/bin/python -m dcn.distributed.toy --output /shared/toy
#
# By hand (no launcher), on each machine, with the scheduler's address and port:
#   export DMLC_PS_ROOT_URI=10.0.0.1 DMLC_PS_ROOT_PORT=9091 DMLC_NUM_SERVER=1 DMLC_NUM_WORKER=2
#   DMLC_ROLE=scheduler COMMAND &    # on 10.0.0.1 only
#   DMLC_ROLE=server    COMMAND &    # once per server
#   DMLC_ROLE=worker    COMMAND      # once per worker (set DMLC_NODE_HOST / DMLC_INTERFACE if the
#                                    # default network interface is not the one the others reach)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }

mode="${1:-}"; shift || true
case "$mode" in
  local) [[ $# -ge 1 ]] || usage; hostfile="" ;;
  ssh)   [[ $# -ge 2 ]] || usage; hostfile="$1"; shift ;;
  *)     usage ;;
esac
workers="$1"; shift
servers=1
if [[ $# -gt 0 && "$1" != "--" ]]; then servers="$1"; shift; fi
[[ "${1:-}" == "--" ]] && shift
if [[ $# -eq 0 ]]; then
  set -- "$PYTHON" -m dcn.distributed.toy --output "$ROOT/output/toy_dist" --kvstore dist_sync
fi

if [[ "$mode" == local ]]; then
  cmd=("$PYTHON" -m dcn.distributed.launcher -n "$workers" -s "$servers" --log-dir "${LOG_DIR:-$ROOT/output/dist_logs}" -- "$@")
else
  launch="$("$PYTHON" -c 'import mxnet, os; print(os.path.join(os.path.dirname(mxnet.__file__), "tools", "launch.py"))' \
            2>/dev/null || echo "<site-packages>/mxnet/tools/launch.py")"
  # launch.py runs "cd <dir>; COMMAND" on each host (dir: SYNC_DST_DIR after an rsync of this
  # checkout, .venv and data included, else this same path, e.g. on a shared file system).
  cmd=("$PYTHON" "$launch" --launcher ssh -H "$hostfile" -n "$workers" -s "$servers")
  [[ -n "${SYNC_DST_DIR:-}" ]] && cmd+=(--sync-dst-dir "$SYNC_DST_DIR")
  cmd+=("$@")
fi

if [[ -n "${DRY_RUN:-}" ]]; then
  printf '%q ' "${cmd[@]}"; echo
else
  cd "$ROOT" && exec "${cmd[@]}"
fi
