#!/usr/bin/env bash
# End-to-end test of docker-compose.yml's "scale" profile, for real: three API replicas behind
# nginx. Checks that calls through the proxy, HTTP and gRPC, reach every replica (the proxy's
# X-Upstream header); that clients calling all along see no failed call while one replica is
# stopped (SIGTERM: it drains and exits 0) and started again; that the proxy is locked down
# like the api; and that a version the training job publishes into the shared volume is
# served by every replica within LENET_POLL_SECONDS and its loading. Talks only to 127.0.0.1;
# removes its containers, network and volume on exit, pass or fail (images stay).
#
# Knobs (environment), besides lib.sh's (COMPOSE, MNIST_DIR, LENET_IMAGE, DIGIT_PNG,
# EXPECTED_DIGIT): REPLICAS (3), PROXY_PORT and PROXY_GRPC_PORT (default: free ports),
# LENET_POLL_SECONDS (2), LOAD_ALLOWANCE (20: seconds a replica may take to load and warm a
# new version after it sees it).
set -euo pipefail
cd "$(dirname "$0")/../.."

PROJECT=lenet-scale-$$
LOOP_PID='' VERSIONS_PID=''
extra_teardown() {
  for pid in $LOOP_PID $VERSIONS_PID; do kill "$pid" 2>/dev/null || true; done
}
source tests/e2e/lib.sh
REPLICAS=${REPLICAS:-3}
LOAD_ALLOWANCE=${LOAD_ALLOWANCE:-20}
export LENET_POLL_SECONDS=${LENET_POLL_SECONDS:-2}
# The replicas' own ports: free ones Docker picks, on 127.0.0.1; the proxy's are the public ones.
export API_HOST=127.0.0.1 API_PORT='' GRPC_PORT=''
export PROXY_HOST=127.0.0.1 PROXY_PORT=${PROXY_PORT:-$(free_port)}
export PROXY_GRPC_PORT=${PROXY_GRPC_PORT:-$(free_port)}
read -ra SCALED <<<"${COMPOSE_P[*]} --profile scale"

TRAFFIC=(.venv/bin/python tests/e2e/traffic.py)
PROXY=(--http "127.0.0.1:$PROXY_PORT" --grpc "127.0.0.1:$PROXY_GRPC_PORT")
# Calls through the proxy reach at least $1 replicas, of each kind; output in $WORK/spread.log.
spread_over() {
  "${TRAFFIC[@]}" spread "${PROXY[@]}" --expect "$1" --requests 30 >"$WORK/spread.log" 2>&1
}
# Each replica's restarts and whether the kernel killed it for memory.
restarts() {
  for replica in "${replicas[@]}"; do
    docker inspect -f '{{.Name}} restarts={{.RestartCount}} oom-killed={{.State.OOMKilled}}' "$replica"
  done | tr -d /
}
# The host port that replica $1 publishes for its port $2.
host_port() { docker port "$1" "$2" | head -n 1 | sed 's/.*://'; }
replica_name() { docker inspect -f '{{.Name}}' "$1" | tr -d /; }

step "building $LENET_IMAGE and the proxy's image ($COMPOSE --profile scale build)"
quietly 1500 build "${SCALED[@]}" build api proxy
digit_png "$LENET_IMAGE"

step "up with $REPLICAS replicas: nginx on 127.0.0.1:$PROXY_PORT (HTTP), :$PROXY_GRPC_PORT (gRPC)"
quietly 300 up "${SCALED[@]}" up -d --scale "api=$REPLICAS"
mapfile -t replicas < <(compose ps -q api)
proxy=$(timeout 120 "${SCALED[@]}" ps -q proxy)
((${#replicas[@]} == REPLICAS)) || fail "${#replicas[@]} api containers, not $REPLICAS"
[[ -n $proxy ]] || fail "no proxy container"
all_healthy() { for c in "${replicas[@]}" "$proxy"; do is_healthy "$c" || return 1; done; }
wait_for 300 all_healthy || fail "not all healthy after 300s"
echo "   $REPLICAS replicas and the proxy healthy"

step "calls through the proxy reach all $REPLICAS replicas, HTTP and gRPC (X-Upstream)"
wait_for 60 spread_over "$REPLICAS" || { cat "$WORK/spread.log"; fail "calls did not reach every replica"; }
cat "$WORK/spread.log"
passed
check_answer "$(predict "$PROXY_PORT")" 1 onnx

step "the proxy is locked down like the api"
locked_down "$proxy" proxy

victim=${replicas[1]}
step "clients call through the proxy while $(replica_name "$victim") is stopped and started again"
before=$(restarts)
"${TRAFFIC[@]}" loop "${PROXY[@]}" --clients 2 >"$WORK/loop.log" 2>&1 &
LOOP_PID=$!
sleep 5
began=$SECONDS
timeout 60 docker stop --time 35 "$victim" >/dev/null
echo "   stopped in $((SECONDS - began)) s (SIGTERM: not ready for LENET_SHUTDOWN_DELAY_SECONDS, then drained); exit status $(docker inspect -f '{{.State.ExitCode}}' "$victim")"
[[ $(docker inspect -f '{{.State.ExitCode}}' "$victim") == 0 ]] || fail "the replica did not exit cleanly"
passed
sleep 5
timeout 60 docker start "$victim" >/dev/null
began=$SECONDS
wait_for 240 is_healthy "$victim" || fail "the restarted replica is not healthy"
wait_for 60 spread_over "$REPLICAS" || { cat "$WORK/spread.log"; fail "the proxy did not take the replica back"; }
echo "   healthy again and back behind the proxy in $((SECONDS - began)) s"
sleep 5
kill -TERM "$LOOP_PID"
loop_rc=0
wait "$LOOP_PID" || loop_rc=$?
LOOP_PID=
cat "$WORK/loop.log"
docker logs "$proxy" 2>&1 | grep '^upstreams:' | sed 's/^/   proxy: /'
((loop_rc == 0)) || fail "calls failed while a replica stopped and started"
passed
[[ $(restarts) == "$before" ]] || fail "a replica restarted: $before -> $(restarts)"
passed

step "train: version 2 into the shared volume (1 epoch on 2,000 images; --force blesses it)"
# Each replica asked directly, from now on, until it answers from version 2.
addresses=()
for replica in "${replicas[@]}"; do addresses+=("127.0.0.1:$(host_port "$replica" 8000)"); done
"${TRAFFIC[@]}" versions --version 2 "${addresses[@]}" >"$WORK/versions.log" 2>&1 &
VERSIONS_PID=$!
quietly 600 train "${COMPOSE_P[@]}" run --rm -T train --recipe=lecture --epochs=1 --limit=2000 --force
tail -n 1 "$WORK/train.log" | sed 's/^/   /'
tail -n 1 "$WORK/train.log" | grep -q "^v2 is blessed" || fail "version 2 was not published blessed"
# The job renames the version into place last: the model root's modification time is then.
published=$(timeout 60 docker exec "${replicas[0]}" stat -c %.3Y /models/lenet)

step "every replica serves version 2 within LENET_POLL_SECONDS ($LENET_POLL_SECONDS s) + ${LOAD_ALLOWANCE} s to load it"
finished() { ! kill -0 "$1" 2>/dev/null; }
wait_for 60 finished "$VERSIONS_PID" || fail "replicas still without version 2 after 60 s"
versions_rc=0
wait "$VERSIONS_PID" || versions_rc=$?
VERSIONS_PID=
((versions_rc == 0)) || { cat "$WORK/versions.log"; fail "not every replica answers from version 2"; }
while read -r address seen; do
  late=$(awk "BEGIN { print $seen - $published }")
  printf '   %s: version 2 answered %.1f s after it was published\n' "$address" "$late"
  awk "BEGIN { exit !($late <= $LENET_POLL_SECONDS + $LOAD_ALLOWANCE) }" ||
    fail "$address took longer than that"
done <"$WORK/versions.log"
passed
# The quick version reads digits poorly: only its version number is checked.
for _ in $(seq $((3 * REPLICAS))); do
  answers_version "$PROXY_PORT" 2 || fail "an answer through the proxy is not from version 2"
done
echo "   $((3 * REPLICAS)) answers through the proxy, each from version 2"
passed

step "memory in use (/ the limit) and processes (docker stats)"
timeout 60 docker stats --no-stream --format '{{.Name}}  {{.MemUsage}}  pids {{.PIDs}}' \
  "${replicas[@]}" "$proxy" | sed 's/^/   /'
step "PASS"
