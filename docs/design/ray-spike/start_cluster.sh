#!/usr/bin/env bash
# Start a loopback Ray head, time it, measure the RSS of Ray's processes. Usage: start_cluster.sh VENV
set -euo pipefail
V=${1:-/work/wt/rayspike/.venv-ray}/bin
export RAY_USAGE_STATS_ENABLED=0
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
GCS=$(free_port); DASH=$(free_port)
t0=$(date +%s.%N)
$V/ray start --head --node-ip-address=127.0.0.1 --num-cpus=2 --port=$GCS \
  --dashboard-host=127.0.0.1 --dashboard-port=$DASH --disable-usage-stats \
  --object-store-memory=200000000 --include-dashboard=true >/tmp/ray-start.log 2>&1
t1=$(date +%s.%N)
echo "$DASH" > /tmp/ray-dash-port; echo "$GCS" > /tmp/ray-gcs-port
echo "ray start: $(python3 -c "print(round($t1-$t0,2))") s; GCS port $GCS; dashboard (job API) http://127.0.0.1:$DASH"
# wait until the job API answers
until curl -sf http://127.0.0.1:$DASH/api/version >/dev/null; do sleep 0.2; done
t2=$(date +%s.%N)
echo "job API ready: $(python3 -c "print(round($t2-$t0,2))") s after start; version: $(curl -s http://127.0.0.1:$DASH/api/version)"

ps -eo pid,rss,comm,args --sort=-rss | grep -E 'ray|gcs_server|raylet|dashboard|default_worker' | grep -v grep | awk '{s+=$2; printf "%7d kB %s\n",$2,substr($0,index($0,$4),110)} END {printf "TOTAL %d MB\n", s/1024}'
