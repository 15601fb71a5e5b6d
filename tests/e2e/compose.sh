#!/usr/bin/env bash
# End-to-end deployment test, for real: build both images, serve the bundled model with
# docker-compose, train a quick version 2 into the shared model volume, check that the running
# API keeps answering from version 1 while version 2 is a candidate (reachable as ?version=2),
# bless it by command and check the API switches to it without a restart, roll back and check
# it switches back, then check the slim image on its own. Talks only to 127.0.0.1; removes its
# containers, network and volume on exit, pass or fail (images stay).
#
# Knobs (environment), besides lib.sh's (COMPOSE, MNIST_DIR, LENET_IMAGE, DIGIT_PNG,
# EXPECTED_DIGIT): TRAIN_EPOCHS (2), TRAIN_LIMIT (20000), API_PORT and GRPC_PORT and SLIM_PORT
# (default: free ports), SLIM_IMAGE (lenet-serve:slim).
set -euo pipefail
cd "$(dirname "$0")/../.."

PROJECT=lenet-e2e-$$
SLIM_CONTAINER=$PROJECT-slim
extra_teardown() {
  (($1 == 0)) || docker logs --tail=30 "$SLIM_CONTAINER" >&2 2>/dev/null || true
  docker rm -f "$SLIM_CONTAINER" >/dev/null 2>&1 || true
}
source tests/e2e/lib.sh
export TRAIN_EPOCHS=${TRAIN_EPOCHS:-2} TRAIN_LIMIT=${TRAIN_LIMIT:-20000}
export LENET_POLL_SECONDS=2 LENET_KEEP_VERSIONS=2
export API_HOST=127.0.0.1 API_PORT=${API_PORT:-$(free_port)} GRPC_PORT=${GRPC_PORT:-$(free_port)}
SLIM_IMAGE=${SLIM_IMAGE:-lenet-serve:slim}
SLIM_PORT=${SLIM_PORT:-$(free_port)}

# Runs python -m "${@:2}" in the train container (it may write the model volume), logged as $1.
training() {
  local log=$1
  shift
  quietly 300 "$log" "${COMPOSE_P[@]}" run --rm -T --entrypoint python train -m "$@"
}

step "building $LENET_IMAGE ($COMPOSE build) and $SLIM_IMAGE (docker build --target slim)"
quietly 1500 build-full "${COMPOSE_P[@]}" build api
quietly 600 build-slim docker build --target slim -t "$SLIM_IMAGE" .

digit_png "$SLIM_IMAGE"

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

step "the api is locked down: non-root, read-only root, /tmp only, no capabilities, limits"
locked_down "$api" api
if compose exec -T api touch /models/lenet/probe 2>/dev/null; then fail "model volume is writable"; fi
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
module=$(grep -o 'src="page/[0-9a-f]*/main\.js"' <<<"$page" | head -n 1 | cut -d'"' -f2)
[[ -n $module ]] || fail "the page names no page/<digest>/main.js (relative to it)"
curl -sS --fail --max-time 30 -o /dev/null "http://127.0.0.1:$SLIM_PORT/$module" ||
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
