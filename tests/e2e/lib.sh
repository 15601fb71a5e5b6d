# shellcheck shell=bash
# Shared by the end-to-end scripts (compose.sh, compose-scale.sh): sourced, not run. Each script
# sets PROJECT and, where it needs one, its own cleanup in extra_teardown before sourcing.
# Knobs (environment): COMPOSE (default docker-compose if installed, else "docker compose"),
# MNIST_DIR (../shared/data/mnist), LENET_IMAGE (lenet-serve:latest), DIGIT_PNG and
# EXPECTED_DIGIT (default: the MNIST 7 from service/api/examples.py, written out by the image).

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

if [[ -z ${COMPOSE:-} ]]; then
  if command -v docker-compose >/dev/null; then COMPOSE=docker-compose; else COMPOSE="docker compose"; fi
fi
read -ra COMPOSE_P <<<"$COMPOSE -p $PROJECT"
MNIST_DIR=$(cd "${MNIST_DIR:-../shared/data/mnist}" && pwd)
export MNIST_DIR
export LENET_IMAGE=${LENET_IMAGE:-lenet-serve:latest}
EXPECTED_DIGIT=${EXPECTED_DIGIT:-7}
WORK=$(mktemp -d)
STARTED=$SECONDS
PASSED=0

compose() { timeout 120 "${COMPOSE_P[@]}" "$@"; }
step() { echo "== [$((SECONDS - STARTED))s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
passed() { PASSED=$((PASSED + 1)); }
declare -F extra_teardown >/dev/null || extra_teardown() { :; }

teardown() {
  local rc=$?
  trap - EXIT
  if ((rc != 0)); then
    echo "---- logs (exit $rc) ----" >&2
    timeout 60 "${COMPOSE_P[@]}" logs --no-color --tail=60 >&2 || true
  fi
  step "tearing down $PROJECT"
  extra_teardown "$rc"
  docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" | xargs -r docker rm -f >/dev/null || true
  timeout 120 "${COMPOSE_P[@]}" --profile train --profile scale down --volumes --remove-orphans \
    --timeout 10 >/dev/null 2>&1 || true
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

# Checks that container $1 (called $2) runs as non-root with a read-only root filesystem where
# only /tmp is writable, no capabilities, no privileges to gain, and memory and pids limits.
locked_down() {
  local container=$1 name=$2 uid pid1_uid status limits
  uid=$(timeout 60 docker exec "$container" id -u)
  pid1_uid=$(timeout 60 docker exec "$container" stat -c %u /proc/1)
  echo "   $name: id -u: $uid; owner of PID 1: $pid1_uid"
  [[ $uid != 0 && $pid1_uid != 0 ]] || fail "$name runs as root"
  passed
  if timeout 60 docker exec "$container" touch /probe 2>/dev/null; then
    fail "$name's root filesystem is writable"
  fi
  timeout 60 docker exec "$container" touch /tmp/probe || fail "$name's /tmp is not writable"
  status=$(timeout 60 docker exec "$container" grep -E '^(CapBnd|NoNewPrivs)' /proc/1/status | tr -s '\t\n' ' ')
  limits=$(docker inspect -f 'memory={{.HostConfig.Memory}} pids={{.HostConfig.PidsLimit}}' "$container")
  echo "   $name: PID 1: $status; $limits"
  [[ $status == *"CapBnd: 0000000000000000"* && $status == *"NoNewPrivs: 1"* ]] ||
    fail "$name keeps capabilities or may gain privileges"
  [[ $limits != *"memory=0 "* && $limits != *"pids=0" && $limits != *"pids=<nil>" ]] ||
    fail "$name has no memory or pids limit"
  passed
}

health() { docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null; }
is_healthy() { [[ $(health "$1") == healthy ]]; }

# Writes the example digit's PNG to $DIGIT_PNG, unless the caller named one.
digit_png() {
  [[ -n ${DIGIT_PNG:-} ]] && return
  DIGIT_PNG=$WORK/digit.png
  timeout 120 docker run --rm "$1" python -c \
    'import sys; from service.api.examples import EXAMPLE_PNG; sys.stdout.buffer.write(EXAMPLE_PNG)' \
    >"$DIGIT_PNG"
}

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
