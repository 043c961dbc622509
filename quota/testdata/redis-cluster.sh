#!/usr/bin/env bash
# Starts a throwaway 3-master Redis Cluster on 127.0.0.1:7000-7002 for
# quota's cluster test, and prints the seed addresses to export:
#
#   export AIRLOCK_TEST_REDIS_CLUSTER=$(quota/testdata/redis-cluster.sh)
#   go test -race -run Cluster ./quota/
#   quota/testdata/redis-cluster.sh stop
#
# Idempotent: if the cluster is already up (cluster_state:ok) it only
# prints the addresses. Nothing is persisted; state lives in $DIR.
set -euo pipefail

PORTS=(7000 7001 7002)
HOST=127.0.0.1
DIR=${AIRLOCK_REDIS_CLUSTER_DIR:-"${TMPDIR:-/tmp}/airlock-redis-cluster"}
SEEDS=$(printf "$HOST:%s," "${PORTS[@]}"); SEEDS=${SEEDS%,}

up() { redis-cli -h "$HOST" -p "$1" ping 2>/dev/null | grep -q PONG; }
state_ok() {
  for p in "${PORTS[@]}"; do
    redis-cli -h "$HOST" -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

if [ "${1:-}" = stop ]; then
  for p in "${PORTS[@]}"; do
    if up "$p"; then redis-cli -h "$HOST" -p "$p" shutdown nosave >/dev/null 2>&1 || true; fi
  done
  rm -rf "$DIR"
  exit 0
fi

if state_ok; then echo "$SEEDS"; exit 0; fi

for p in "${PORTS[@]}"; do
  if up "$p"; then
    # A stale node (not part of an ok cluster): start it afresh.
    redis-cli -h "$HOST" -p "$p" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 50); do up "$p" || break; sleep 0.1; done
  fi
  mkdir -p "$DIR/$p"
  rm -f "$DIR/$p/nodes.conf"
  redis-server --bind "$HOST" --port "$p" --cluster-enabled yes \
    --cluster-config-file "$DIR/$p/nodes.conf" --cluster-node-timeout 5000 \
    --save '' --appendonly no --daemonize yes --dir "$DIR/$p" --logfile "$DIR/$p/redis.log"
done
for p in "${PORTS[@]}"; do
  for _ in $(seq 50); do up "$p" && break; sleep 0.1; done
  up "$p" || { echo "redis on port $p did not start; see $DIR/$p/redis.log" >&2; exit 1; }
done

redis-cli --cluster create $(printf "$HOST:%s " "${PORTS[@]}") --cluster-replicas 0 --cluster-yes >&2
for _ in $(seq 100); do
  if state_ok; then echo "$SEEDS"; exit 0; fi
  sleep 0.1
done
echo "cluster did not reach cluster_state:ok" >&2
exit 1
