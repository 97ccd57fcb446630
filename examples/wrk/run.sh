#!/usr/bin/env bash
# Runs create_with_identities.lua against a running examples/server.rs, stops wrk once every
# thread has sent its share, and checks the end state: one customer per person.
#   examples/wrk/run.sh URL [REQUESTS] [PEOPLE] [CONNECTIONS] [THREADS]
set -euo pipefail
url=${1:?usage: run.sh URL [REQUESTS] [PEOPLE] [CONNECTIONS] [THREADS]}
export REQUESTS=${2:-20000} PEOPLE=${3:-5000} THREADS=${5:-2}
connections=${4:-16}
here=$(cd "$(dirname "$0")" && pwd)
export DONE_DIR=$(mktemp -d)
trap 'rm -rf "$DONE_DIR"' EXIT
wrk -t"$THREADS" -c"$connections" -d120s --latency -s "$here/create_with_identities.lua" "$url" &
pid=$!
# Bounded: at most 120 s, as wrk's own -d.
for _ in $(seq 12000); do
  [ "$(ls "$DONE_DIR" | wc -l)" -ge "$THREADS" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.01
done
kill -INT "$pid" 2>/dev/null || true
wait "$pid" || true
count=$(curl -s -H 'x-tenant-id: load' "$url/v1/customers/count")
echo "customers $count (people $PEOPLE)"
[ "$count" = "$PEOPLE" ] || { echo "end state: expected $PEOPLE customers" >&2; exit 1; }
