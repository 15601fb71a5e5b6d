#!/usr/bin/env bash
# End-to-end deployment test, for real: build both images, serve the bundled model with
# docker-compose, train a quick version 2 into the shared model volume, check that the running
# API keeps answering from version 1 while version 2 is a candidate (reachable as ?version=2),
# bless it by command and check the API switches to it without a restart, roll back and check
# it switches back, then check the slim image on its own. Talks only to 127.0.0.1; removes its
# containers, network and volume on exit, pass or fail (images stay).
#
# Knobs (environment): COMPOSE (default docker-compose if installed, else "docker compose"),
# MNIST_DIR (../shared/data/mnist), TRAIN_EPOCHS (2), TRAIN_LIMIT (20000), API_PORT and
# GRPC_PORT and SLIM_PORT (default: free ports), DIGIT_PNG and EXPECTED_DIGIT (default: the MNIST 7 from
# service/examples.py), LENET_IMAGE (lenet-serve:latest), SLIM_IMAGE (lenet-serve:slim).
set -euo pipefail
cd "$(dirname "$0")/../.."

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

if [[ -z ${COMPOSE:-} ]]; then
  if command -v docker-compose >/dev/null; then COMPOSE=docker-compose; else COMPOSE="docker compose"; fi
fi
PROJECT=lenet-e2e-$$
read -ra COMPOSE_P <<<"$COMPOSE -p $PROJECT"
MNIST_DIR=$(cd "${MNIST_DIR:-../shared/data/mnist}" && pwd)
export MNIST_DIR
export TRAIN_EPOCHS=${TRAIN_EPOCHS:-2} TRAIN_LIMIT=${TRAIN_LIMIT:-20000}
export LENET_IMAGE=${LENET_IMAGE:-lenet-serve:latest} LENET_POLL_SECONDS=2 LENET_KEEP_VERSIONS=2
export API_HOST=127.0.0.1 API_PORT=${API_PORT:-$(free_port)} GRPC_PORT=${GRPC_PORT:-$(free_port)}
SLIM_IMAGE=${SLIM_IMAGE:-lenet-serve:slim}
SLIM_PORT=${SLIM_PORT:-$(free_port)}
SLIM_CONTAINER=$PROJECT-slim
EXPECTED_DIGIT=${EXPECTED_DIGIT:-7}
WORK=$(mktemp -d)
STARTED=$SECONDS
PASSED=0

compose() { timeout 120 "${COMPOSE_P[@]}" "$@"; }
step() { echo "== [$((SECONDS - STARTED))s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
passed() { PASSED=$((PASSED + 1)); }

teardown() {
  local rc=$?
  trap - EXIT
  if ((rc != 0)); then
    echo "---- logs (exit $rc) ----" >&2
    timeout 60 "${COMPOSE_P[@]}" logs --no-color --tail=60 >&2 || true
    docker logs --tail=30 "$SLIM_CONTAINER" >&2 2>/dev/null || true
  fi
  step "tearing down $PROJECT"
  docker rm -f "$SLIM_CONTAINER" >/dev/null 2>&1 || true
  docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" | xargs -r docker rm -f >/dev/null || true
  timeout 120 "${COMPOSE_P[@]}" --profile train down --volumes --remove-orphans --timeout 10 \
    >/dev/null 2>&1 || true
  rm -rf "$WORK"
  echo "e2e: $PASSED passed, $((rc == 0 ? 0 : 1)) failed"
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a long, noisy command with a deadline, showing its output only when it fails.
quietly() {
  local seconds=$1 log=$WORK/$2.log
  shift 2
  if ! timeout "$seconds" "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    fail "$* (log above; limit ${seconds}s)"
  fi
}

# Polls "$@" once a second until it succeeds or $1 seconds pass.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}

health() { docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null; }
is_healthy() { [[ $(health "$1") == healthy ]]; }

# Prints the JSON answer to one predict request against port $1 (query $2, if given).
predict() {
  curl -sS --fail-with-body --max-time 30 \
    -F "file=@$DIGIT_PNG;type=image/png" "http://127.0.0.1:$1/v1/predict${2:-}"
}

# Checks an answer: $1 the JSON, $2 the version, $3 the backend that must have answered.
check_answer() {
  python3 - "$1" "$EXPECTED_DIGIT" "$2" "$3" <<'PY'
import json, sys
body, digit, version, backend = sys.argv[1:]
answer = json.loads(body)
got = (answer["predictions"][0]["digit"], answer["version"], answer["backend"])
want = (int(digit), version, backend)
print(f"   predicted {got[0]} (p={answer['predictions'][0]['probability']:.3f}),"
      f" version {got[1]}, backend {got[2]}")
sys.exit(0 if got == want else f"wanted digit/version/backend {want}, got {got}")
PY
  passed
}

answers_version() { [[ $(predict "$1" "${3:-}" 2>/dev/null) == *"\"version\":\"$2\""* ]]; }

# Runs python -m "${@:2}" in the train container (it may write the model volume), logged as $1.
training() {
  local log=$1
  shift
  quietly 300 "$log" "${COMPOSE_P[@]}" run --rm -T --entrypoint python train -m "$@"
}

step "building $LENET_IMAGE ($COMPOSE build) and $SLIM_IMAGE (docker build --target slim)"
quietly 1500 build-full "${COMPOSE_P[@]}" build api
quietly 600 build-slim docker build --target slim -t "$SLIM_IMAGE" .

if [[ -z ${DIGIT_PNG:-} ]]; then
  DIGIT_PNG=$WORK/digit.png
  timeout 120 docker run --rm "$SLIM_IMAGE" python -c \
    'import sys; from service.api.examples import EXAMPLE_PNG; sys.stdout.buffer.write(EXAMPLE_PNG)' \
    >"$DIGIT_PNG"
fi

step "compose up: init seeds the volume with version 1, api serves it on 127.0.0.1:$API_PORT"
quietly 300 up "${COMPOSE_P[@]}" up -d api
api=$(compose ps -q api)
[[ -n $api ]] || fail "no api container"
wait_for 240 is_healthy "$api" || fail "api not healthy after 240s (status: $(health "$api"))"
check_answer "$(predict "$API_PORT")" 1 onnx # the fastest loaded, by default
check_answer "$(curl -sS --fail-with-body --max-time 30 -F "file=@$DIGIT_PNG" \
  "http://127.0.0.1:$API_PORT/v1/predict?backend=numpy")" 1 numpy
check_answer "$(curl -sS --fail-with-body --max-time 30 -F "file=@$DIGIT_PNG" \
  "http://127.0.0.1:$API_PORT/v1/predict?backend=tensorflow")" 1 tensorflow

step "the Open Inference Protocol over gRPC on 127.0.0.1:$GRPC_PORT, with Triton's client"
.venv/bin/python - "$GRPC_PORT" "$DIGIT_PNG" "$EXPECTED_DIGIT" <<'PY' || fail "gRPC inference"
import sys
import numpy as np
import tritonclient.grpc as grpcclient
port, png, expected = sys.argv[1], open(sys.argv[2], "rb").read(), int(sys.argv[3])
client = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
assert client.is_server_ready() and client.is_model_ready("lenet")
image = grpcclient.InferInput("image_bytes", [1], "BYTES")
image.set_data_from_numpy(np.array([png], dtype=object))
digit = client.infer("lenet", [image], outputs=[grpcclient.InferRequestedOutput("digit")])
print(f"   gRPC: predicted {digit.as_numpy('digit')[0]}")
assert digit.as_numpy("digit")[0] == expected
PY
passed

step "the api runs as non-root and cannot write the model volume"
uid=$(compose exec -T api id -u | tr -d '\r')
pid1_uid=$(compose exec -T api stat -c %u /proc/1 | tr -d '\r')
echo "   id -u: $uid; owner of PID 1: $pid1_uid"
[[ $uid != 0 && $pid1_uid != 0 ]] || fail "the api runs as root"
passed
if compose exec -T api touch /models/lenet/probe 2>/dev/null; then fail "model volume is writable"; fi
passed

step "the api is locked down: read-only root, /tmp only, no capabilities, no new privileges, limits"
if compose exec -T api touch /probe 2>/dev/null; then fail "the root filesystem is writable"; fi
compose exec -T api touch /tmp/probe || fail "/tmp is not writable"
status=$(compose exec -T api grep -E '^(CapBnd|NoNewPrivs)' /proc/1/status | tr -d '\r' | tr -s '\t\n' ' ')
limits=$(docker inspect -f 'memory={{.HostConfig.Memory}} pids={{.HostConfig.PidsLimit}}' "$api")
echo "   PID 1: $status; $limits"
[[ $status == *"CapBnd: 0000000000000000"* && $status == *"NoNewPrivs: 1"* ]] ||
  fail "the api keeps capabilities or may gain privileges"
[[ $limits != *"memory=0 "* && $limits != *"pids=0" && $limits != *"pids=<nil>" ]] ||
  fail "the api has no memory or pids limit"
passed
before=$(docker inspect -f '{{.State.StartedAt}} restarts={{.RestartCount}}' "$api")

step "train: version 2 from $TRAIN_LIMIT images of $MNIST_DIR, $TRAIN_EPOCHS epoch(s)"
quietly 900 train "${COMPOSE_P[@]}" run --rm -T train
grep -E "test accuracy|wrote|is a candidate|is blessed" "$WORK/train.log" | sed 's/^/   /'
tail -n 1 "$WORK/train.log" | grep -q "^v2 is a candidate, not blessed" ||
  fail "the quick version 2 was not published as a candidate"
passed

step "version 2 is a candidate: ?version=2 reaches it, requests naming none stay on version 1"
wait_for 120 answers_version "$API_PORT" 2 "?version=2" || fail "?version=2 not served within 120s"
check_answer "$(predict "$API_PORT" "?version=2")" 2 onnx
sleep "$LENET_POLL_SECONDS"
check_answer "$(predict "$API_PORT")" 1 onnx

step "bless version 2 by command: the api switches to it (polling every ${LENET_POLL_SECONDS}s)"
training bless training.bless 2
grep -E '^(blessed|revoked|v[0-9])' "$WORK/bless.log" | sed 's/^/   /'
wait_for 30 answers_version "$API_PORT" 2 || fail "version 2 not the default within 30s of blessing"
check_answer "$(predict "$API_PORT")" 2 onnx

step "roll back by command: the running api switches back to version 1"
training rollback training.rollback
grep -E '^(blessed|revoked|v[0-9])' "$WORK/rollback.log" | sed 's/^/   /'
wait_for 30 answers_version "$API_PORT" 1 || fail "version 1 not the default within 30s of rollback"
check_answer "$(predict "$API_PORT")" 1 onnx
after=$(docker inspect -f '{{.State.StartedAt}} restarts={{.RestartCount}}' "$api")
[[ $before == "$after" ]] || fail "the api restarted: $before -> $after"
passed

step "slim image: no TensorFlow (ONNX Runtime and NumPy), on 127.0.0.1:$SLIM_PORT"
docker run -d --name "$SLIM_CONTAINER" -p "127.0.0.1:$SLIM_PORT:8000" "$SLIM_IMAGE" >/dev/null
wait_for 120 is_healthy "$SLIM_CONTAINER" || fail "slim not healthy (status: $(health "$SLIM_CONTAINER"))"
check_answer "$(predict "$SLIM_PORT")" 1 onnx
[[ $(timeout 60 docker exec "$SLIM_CONTAINER" id -u) != 0 ]] || fail "slim runs as root"
passed
if timeout 60 docker exec "$SLIM_CONTAINER" python -c 'import tensorflow' 2>/dev/null; then
  fail "slim image has TensorFlow"
fi
passed

step "slim image: the page and what it loads, and an explanation (the NumPy backward pass)"
page=$(curl -sS --fail-with-body --max-time 30 "http://127.0.0.1:$SLIM_PORT/")
module=$(grep -o '/page/[0-9a-f]*/main\.js' <<<"$page" | head -n 1)
[[ -n $module ]] || fail "the page names no /page/<digest>/main.js"
curl -sS --fail --max-time 30 -o /dev/null "http://127.0.0.1:$SLIM_PORT$module" ||
  fail "the page's $module is not served"
passed
explained=$(curl -sS --fail-with-body --max-time 30 -F "file=@$DIGIT_PNG" \
  "http://127.0.0.1:$SLIM_PORT/v1/explain?layers=output")
python3 - "$explained" "$EXPECTED_DIGIT" <<'PY' || fail "explanation"
import json, sys
answer = json.loads(sys.argv[1])
print(f"   explained {answer['digit']} (predicted {answer['predicted']}), "
      f"gradient {answer['gradient']['shape']}")
assert answer["digit"] == answer["predicted"] == int(sys.argv[2])
assert answer["gradient"]["shape"] == [28, 28]
PY
passed

step "memory in use (/ the limit) and processes, serving (docker stats)"
timeout 60 docker stats --no-stream --format '{{.Name}}  {{.MemUsage}}  pids {{.PIDs}}' "$api" "$SLIM_CONTAINER" |
  sed 's/^/   /'
step "image sizes (docker image inspect, MB = 10^6 bytes)"
for image in "$LENET_IMAGE" "$SLIM_IMAGE"; do
  printf '   %-20s %6d MB\n' "$image" $(($(docker image inspect -f '{{.Size}}' "$image") / 1000000))
done
step "PASS"
