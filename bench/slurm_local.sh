#!/bin/bash
# A real single-node Slurm on this machine, a 4-cell sweep run as a 4-task job array, checked
# against the same sweep run serially. Benchmark-style (not part of `make test`); needs root and
# Debian's slurm-wlm (installed here when missing).
#
#   bench/slurm_local.sh [WORK=/tmp/tllm-slurm]
#
# Prints the wall time of the serial sweep and of the array job, and whether the two sweep.csv
# files agree on every result column (run_id … val_bpb). Shuts the daemons down at the end.
set -euo pipefail
WORK=${1:-/tmp/tllm-slurm}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TLLM=$ROOT/.build/release/tllm
[ -x "$TLLM" ] || (cd "$ROOT" && swift build -c release --product tllm)

# --- Slurm, munge -------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null; then
  apt-get install -y -q slurm-wlm >/dev/null
fi
mkdir -p /etc/munge /var/log/munge /run/munge /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
[ -s /etc/munge/munge.key ] || mungekey -c -k /etc/munge/munge.key
chown -R munge:munge /etc/munge /var/log/munge /run/munge; chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged
NODE=$(slurmd -C | head -1)
HOST=$(hostname -s)
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=tllm
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
$NODE
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
pkill -x slurmctld || true; pkill -x slurmd || true; sleep 1
slurmctld -c; slurmd
stop() { scancel --user=root 2>/dev/null || true; pkill -x slurmd || true; pkill -x slurmctld || true; }
trap stop EXIT
for _ in $(seq 1 30); do sinfo -h -o %t 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo

# --- the sweep: 4 cells, serially and as an array ----------------------------------------
rm -rf "$WORK"; mkdir -p "$WORK"
cat > "$WORK/grid.json" <<JSON
{"parameters": [100000, 300000], "tokens": [300000, 600000], "context": 128, "batch": 16, "eval_tokens": 16384}
JSON
cd "$ROOT"
t0=$(date +%s.%N)
"$TLLM" sweep --grid "$WORK/grid.json" --out "$WORK/serial" --threads 1 2>/dev/null
t1=$(date +%s.%N)
"$TLLM" sweep --grid "$WORK/grid.json" --plan --out "$WORK/array"
JOB=$(TLLM=$TLLM sbatch --parsable --chdir="$ROOT" --cpus-per-task=1 --mem=2G --array=0-3 \
      --output="$WORK/slurm-%A_%a.out" scripts/slurm/sweep.sbatch "$WORK/array")
t2=$(date +%s.%N)
while squeue -h -j "$JOB" 2>/dev/null | grep -q .; do sleep 2; done
t3=$(date +%s.%N)
"$TLLM" sweep --collect --out "$WORK/array"
cut -d, -f1-14 "$WORK/serial/sweep.csv" > "$WORK/serial.cut"
cut -d, -f1-14 "$WORK/array/sweep.csv" > "$WORK/array.cut"
printf 'CPU: %s\n' "$(lscpu | sed -n 's/^Model name: *//p')"
secs() { awk "BEGIN { printf \"%.1f\", $2 - $1 }"; }
printf 'serial sweep (1 thread, 4 cells one after another): %s s\n' "$(secs "$t0" "$t1")"
printf 'array job (4 tasks of 1 CPU on a 2-CPU node):        %s s (submitted in %s s)\n' "$(secs "$t1" "$t3")" "$(secs "$t1" "$t2")"
if cmp -s "$WORK/serial.cut" "$WORK/array.cut"; then echo "sweep.csv: identical results (run_id … val_bpb)"; else echo "sweep.csv: DIFFERENT"; diff "$WORK/serial.cut" "$WORK/array.cut"; exit 1; fi
