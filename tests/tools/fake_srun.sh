#!/usr/bin/env bash
# A stand-in for slurm's `srun` on one machine: starts --ntasks copies of
# the command with the environment srun gives each task (SLURM_PROCID,
# SLURM_NTASKS, SLURM_LOCALID, SLURM_NODELIST) and fails if any fails.
# Options it does not need (-p, --gres, ...) are accepted and ignored.
set -u
NTASKS=1
while [ $# -gt 0 ]; do
    case "$1" in
        --ntasks=*) NTASKS="${1#--ntasks=}"; shift ;;
        -n|--ntasks) NTASKS="$2"; shift 2 ;;
        -p|--partition|-J|--job-name) shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
export SLURM_NTASKS="$NTASKS" SLURM_NODELIST=localhost
export MASTER_ADDR="${MASTER_ADDR:-127.0.0.1}"
pids=()
for ((rank = 0; rank < NTASKS; rank++)); do
    SLURM_PROCID=$rank SLURM_LOCALID=$rank "$@" &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done
exit $status
