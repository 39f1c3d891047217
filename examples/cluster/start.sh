#!/usr/bin/env bash
# Three etcd members and three Switchboard nodes on this machine, on loopback: the cluster of the README's
# "Cluster" section. Ctrl-C stops them all. Data lives in ./cluster-data (delete it to start afresh).
# Needs etcd (Debian: apt-get install etcd-server) and a built Switchboard (npm run build).
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${DATA:-cluster-data}
mkdir -p "$data"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM

initial=e1=http://127.0.0.1:2380,e2=http://127.0.0.1:12380,e3=http://127.0.0.1:22380
for n in 1 2 3; do
  client=$(( (n - 1) * 10000 + 2379 ))
  peer=$(( client + 1 ))
  etcd --name "e$n" --data-dir "$data/etcd-$n" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$initial" --initial-cluster-state new --initial-cluster-token switchboard-example \
    --log-level warn >"$data/etcd-$n.log" 2>&1 &
  pids+=($!)
done
endpoints=http://127.0.0.1:2379,http://127.0.0.1:12379,http://127.0.0.1:22379
until ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health >/dev/null 2>&1; do sleep 0.2; done

for n in 1 2 3; do
  node dist/cli/main.js serve --store etcd --etcd-endpoints "$endpoints" \
    --node-name "node-$n" --port $(( 8900 + n )) --log-level warn &
  pids+=($!)
done
echo "etcd: $endpoints"
echo "switchboard: http://127.0.0.1:8901, http://127.0.0.1:8902, http://127.0.0.1:8903 (GET /v1/cluster on any)"
wait
