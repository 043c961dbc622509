#!/usr/bin/env bash
# The whole test suite, on a fresh machine: provisions what the tests need
# (a Redis on loopback, a 3-master Redis Cluster on loopback ports, a real
# Vault server binary built once from the Go module proxy and cached outside
# the checkout), then vets, runs every test with the race detector, and gives
# each fuzz target a short run.
#
#   scripts/test.sh                 # everything
#   FUZZTIME=5m scripts/test.sh     # longer fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

REDIS_ADDR=${AIRLOCK_TEST_REDIS:-127.0.0.1:6379}
FUZZTIME=${FUZZTIME:-10s}

log() { printf '==> %s\n' "$*"; }

ensure_redis() {
  local host=${REDIS_ADDR%:*} port=${REDIS_ADDR##*:}
  if command -v redis-cli >/dev/null && redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG; then
    log "redis already running at $REDIS_ADDR"; return
  fi
  if ! command -v redis-server >/dev/null; then
    log "installing redis-server from Debian's packages"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
  fi
  log "starting redis at $REDIS_ADDR"
  local dir; dir=$(mktemp -d)
  redis-server --daemonize yes --bind "$host" --port "$port" --save "" --appendonly no \
    --dir "$dir" --logfile "$dir/redis.log"
  for _ in $(seq 50); do
    redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG && return
    sleep 0.1
  done
  echo "redis did not start; see $dir/redis.log" >&2; exit 1
}

ensure_redis
export AIRLOCK_TEST_REDIS=$REDIS_ADDR

if [ -x quota/testdata/redis-cluster.sh ] || [ -f quota/testdata/redis-cluster.sh ]; then
  log "redis cluster"
  AIRLOCK_TEST_REDIS_CLUSTER=$(bash quota/testdata/redis-cluster.sh | tail -n 1)
  export AIRLOCK_TEST_REDIS_CLUSTER
fi

log "vault (built once, then cached)"
AIRLOCK_TEST_VAULT_BIN=$(scripts/install-vault.sh | tail -n 1)
export AIRLOCK_TEST_VAULT_BIN
scripts/install-vault-k8s-plugin.sh >/dev/null

log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi

log "go vet"
go vet ./...

log "go test -race"
go test -race -count=1 ./...

log "fuzz ($FUZZTIME each)"
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    log "  $pkg $target"
    if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1); then
      printf '%s\n' "$out" | tail -n 40
      exit 1
    fi
  done
done

log "all tests passed"
