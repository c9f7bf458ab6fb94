#!/usr/bin/env bash
# Stop what scripts/slurm/start.sh started (by pid file), cancelling jobs first. --purge also deletes state, DB and logs.
set -uo pipefail
BASE=${SLURM_CI_DIR:-/tmp/local-slurm}
stop() {  # "pidfile:comm"... : SIGTERM them together, wait up to 15 s, then SIGKILL
  local pids=() pid x
  for x in "$@"; do pid=$(cat "${x%%:*}" 2>/dev/null) || continue
    [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = "${x#*:}" ] && kill "$pid" && pids+=("$pid"); done
  for pid in "${pids[@]}"; do
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true; done
}
if scontrol ping 2>/dev/null | grep -q UP; then      # leave no job processes behind
  scancel --user=root 2>/dev/null
  for _ in $(seq 40); do [ -z "$(squeue -h)" ] && break; sleep 0.25; done
fi
stop "$BASE/run/slurmd.pid:slurmd" "$BASE/run/slurmctld.pid:slurmctld"
stop "$BASE/run/slurmdbd.pid:slurmdbd" "$BASE/mysql/mariadb.pid:mariadbd" "$BASE/run/munged.pid:munged"
[ "${1:-}" = --purge ] && rm -rf "$BASE"
exit 0
