#!/usr/bin/env bash
# submit.sh MEM_MB RUNTIME_MIN THREADS GPUS JOBSCRIPT — start one Snakemake job; print its job id.
#
# This one runs the job on this machine, detached, under `env -i` (nothing from the submitting shell: no PATH
# entry for the suite's venv, no SUITE_* variable; only what the workflow passes itself) and from another working
# directory, with timeout as the runtime limit (this machine enforces no memory limit). Replace the last lines with your
# scheduler's submit command, e.g. for PBS:
#   qsub -l mem=${mem_mb}mb,walltime=...,ncpus=${threads},ngpus=${gpus} "$jobscript"
# (GPUS is 0 unless the track has device: cuda; the job itself refuses to run without a CUDA device.)
set -euo pipefail
mem_mb=$1 runtime_min=$2 threads=$3 gpus=$4 jobscript=$5
logdir=${SUITE_CLUSTER_LOGS:-$PWD/results/logs/cluster}
mkdir -p "$logdir"
log="$logdir/$(basename "$jobscript").log"
cd /
setsid env -i HOME="${HOME:-/tmp}" PATH=/usr/bin:/bin LANG=C.UTF-8 OMP_NUM_THREADS="$threads" \
  bash -c 'echo "job started at $(date +%s.%N) (mem_mb $1, runtime $2 min, gpus $3)"; exec timeout "$(($2 * 60))" bash "$4"' \
  submit "$mem_mb" "$runtime_min" "$gpus" "$jobscript" > "$log" 2>&1 < /dev/null &
echo "$!"
