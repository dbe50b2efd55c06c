#!/usr/bin/env bash
# mlci's runner pool for a bare-metal or VM GPU machine: ONE fresh container per job, each
# registered just in time. Run by mlci-runner@.service as root; jobs never run as root.
#
# Each turn of the loop:
#   1. `mlci doctor --require-gpu` in a throwaway container of the runner image: a machine whose
#      GPU setup is broken never asks GitHub for a job;
#   2. asks GitHub for a just-in-time runner config (POST .../actions/runners/generate-jitconfig)
#      with the root-only credential: single use, one job, no registration token on the machine;
#   3. `docker run --rm` of the runner image with only that config (in the environment, not on a
#      command line), MLCI_RUNNER_EPHEMERAL=true and the GPU(s); no host directory is mounted, so
#      the job's $HOME, tool cache and workspace die with the container;
#   4. waits for the container to exit (the runner runs exactly one job, then exits), removes it
#      if Docker has not already, and starts over.
# SIGTERM/SIGINT stop the running container (the runner cancels its job) and end the loop;
# `mlci-runner-pool.sh cleanup` removes every container this pool started (the unit's ExecStopPost).
#
# The credential never leaves this script's memory: read from a root-owned file that only root can
# read (refused otherwise), sent to curl on stdin (never in an argument list or an environment).
#
# Settings (environment; mlci-runner@.service reads them from /etc/mlci-runner/pool.env):
#   GITHUB_URL                https://github.com/OWNER/REPO, or https://github.com/ORG (required)
#   GITHUB_API_URL            default https://api.github.com (GHES: https://HOST/api/v3)
#   MLCI_RUNNER_IMAGE         the runner image built from Dockerfile.gpu-runner (required)
#   MLCI_RUNNER_CREDENTIAL_FILE  file holding a fine-grained PAT (repository "Administration: write", or
#                             organisation "Self-hosted runners: write"); default /etc/mlci-runner/credential
#   MLCI_RUNNER_GPU           all (default), or a GPU index for one unit per GPU (mlci-runner@0 …)
#   MLCI_RUNNER_LABELS        default self-hosted,gpu
#   MLCI_RUNNER_GROUP_ID      runner group id (default 1, "Default")
#   MLCI_RUNNER_NAME_PREFIX   default <hostname>-gpu<MLCI_RUNNER_GPU>
#   MLCI_RUNNER_DOCTOR        the health check run in the image, "" to skip (default mlci doctor --require-gpu)
#   MLCI_RUNNER_RETRY_SECONDS wait after a failure (default 30)
#   MLCI_RUNNER_JOBS          stop after this many jobs (default 0: never)
set -euo pipefail
umask 077

log() { printf 'mlci-runner-pool: %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

GPU="${MLCI_RUNNER_GPU:-all}"
POOL="mlci-runner-${GPU}"
case "$GPU" in
  all | [0-9] | [0-9][0-9]) ;;
  *) die "MLCI_RUNNER_GPU must be 'all' or a GPU index, got '$GPU'" ;;
esac

# Every container this pool started carries this label, so a crash or a stop leaves none behind.
cleanup() {
  local ids
  ids="$(docker ps --all --quiet --filter "label=mlci-runner-pool=$POOL")" || return 0
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086  # one id per word
    docker rm --force $ids >/dev/null || true
  fi
}

if [ "${1:-}" = cleanup ]; then
  cleanup
  exit 0
fi
[ $# -eq 0 ] || die "usage: mlci-runner-pool.sh [cleanup]"

: "${GITHUB_URL:?set GITHUB_URL to https://github.com/OWNER/REPO (or the organisation URL)}"
: "${MLCI_RUNNER_IMAGE:?set MLCI_RUNNER_IMAGE to the runner image built from Dockerfile.gpu-runner}"
API_URL="${GITHUB_API_URL:-https://api.github.com}"
CREDENTIAL_FILE="${MLCI_RUNNER_CREDENTIAL_FILE:-/etc/mlci-runner/credential}"
LABELS="${MLCI_RUNNER_LABELS:-self-hosted,gpu}"
GROUP_ID="${MLCI_RUNNER_GROUP_ID:-1}"
PREFIX="${MLCI_RUNNER_NAME_PREFIX:-$(hostname)-gpu${GPU}}"
DOCTOR="${MLCI_RUNNER_DOCTOR-mlci doctor --require-gpu}"
RETRY="${MLCI_RUNNER_RETRY_SECONDS:-30}"
MAX_JOBS="${MLCI_RUNNER_JOBS:-0}"

if [ "$GPU" = all ]; then
  gpus=all
else
  gpus="device=$GPU"
fi

owner_repo="${GITHUB_URL#*://*/}"
owner_repo="${owner_repo%/}"
case "$owner_repo" in
  */*/*) die "GITHUB_URL must be https://github.com/OWNER/REPO or https://github.com/ORG, got '$GITHUB_URL'" ;;
  */*) endpoint="$API_URL/repos/$owner_repo/actions/runners/generate-jitconfig" ;;
  ?*) endpoint="$API_URL/orgs/$owner_repo/actions/runners/generate-jitconfig" ;;
  *) die "GITHUB_URL must be https://github.com/OWNER/REPO or https://github.com/ORG, got '$GITHUB_URL'" ;;
esac

# The credential: a file of the pool's user (root) that nobody else can read, else the pool does not start.
[ -f "$CREDENTIAL_FILE" ] || die "no credential file $CREDENTIAL_FILE; see docs/runners.md (bare metal)"
read -r perms owner < <(stat -c '%a %u' "$CREDENTIAL_FILE")
[ "$owner" = "$(id -u)" ] || die "$CREDENTIAL_FILE must belong to $(id -un), who runs the pool (chown $(id -un) $CREDENTIAL_FILE)"
case "$perms" in
  400 | 600) ;;
  *) die "$CREDENTIAL_FILE is mode $perms; only root may read it (chmod 600 $CREDENTIAL_FILE)" ;;
esac
IFS= read -r credential <"$CREDENTIAL_FILE" || true
credential="${credential%$'\r'}"
[ -n "$credential" ] || die "$CREDENTIAL_FILE is empty; put the token on its first line"

stopping=0
current=""
on_signal() {
  stopping=1
  log "stopping${current:+: ending container $current (the runner cancels its job)}"
}
trap on_signal TERM INT

# Sleep that a signal interrupts at once.
pause() {
  sleep "$1" &
  wait $! || true
}

# Runs "$@" (a docker run) in the background and polls it, so that a stop reaches the container
# even when the signal came while it was being created; sets `status` to its exit status.
run_and_wait() {
  "$@" &
  local child=$! stop_sent=0
  while kill -0 "$child" 2>/dev/null; do
    if [ "$stopping" = 1 ] && [ "$stop_sent" = 0 ] && [ -n "$current" ] &&
      docker stop --time 30 "$current" >/dev/null 2>&1; then
      stop_sent=1
    fi
    pause 1
  done
  wait "$child" && status=0 || status=$?
}

# The job's container. The JIT config reaches the runner as ACTIONS_RUNNER_INPUT_JITCONFIG (what
# `run.sh --jitconfig` reads, and what ARC uses): in this docker's environment only, named but not
# valued on its command line. Nothing else of the host: no volume, no host environment.
job_container() {
  ACTIONS_RUNNER_INPUT_JITCONFIG="$jit" docker run --rm --name "$current" \
    --label "mlci-runner-pool=$POOL" --gpus "$gpus" --user runner \
    --security-opt no-new-privileges --cap-drop ALL \
    --env ACTIONS_RUNNER_INPUT_JITCONFIG --env MLCI_RUNNER_EPHEMERAL=true \
    --env NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    "$MLCI_RUNNER_IMAGE" /home/runner/run.sh
}

# Prints the encoded JIT config for a runner named $1, or logs why not and fails.
jit_config() {
  local name=$1 body response code message
  body="$(python3 -I -c 'import json, sys
name, labels, group = sys.argv[1:]
print(json.dumps({"name": name, "runner_group_id": int(group), "labels": [l for l in labels.split(",") if l],
                  "work_folder": "_work"}))' "$name" "$LABELS" "$GROUP_ID")" || {
    log "MLCI_RUNNER_GROUP_ID must be a number, got '$GROUP_ID'"
    return 1
  }
  response="$(printf 'Authorization: Bearer %s\n' "$credential" |
    curl --silent --show-error --request POST --header @- \
      --header "Accept: application/vnd.github+json" --header "X-GitHub-Api-Version: 2022-11-28" \
      --header "Content-Type: application/json" --data "$body" \
      --write-out '\n%{http_code}' "$endpoint")" || {
    log "could not reach $endpoint"
    return 1
  }
  code="${response##*$'\n'}"
  response="${response%$'\n'*}"
  if [ "$code" != 201 ]; then
    message="$(printf '%s' "$response" | python3 -I -c 'import json, sys
try:
    print(json.load(sys.stdin).get("message", ""))
except Exception:
    print("")' 2>/dev/null || true)"
    message="${message//"$credential"/***}"
    log "GitHub answered $code to generate-jitconfig ($message); the credential needs repository" \
      "'Administration: write' (organisation: 'Self-hosted runners: write')"
    return 1
  fi
  printf '%s' "$response" | python3 -I -c 'import json, sys; print(json.load(sys.stdin)["encoded_jit_config"])'
}

cleanup
jobs_done=0
while [ "$stopping" = 0 ]; do
  if [ -n "$DOCTOR" ]; then
    # shellcheck disable=SC2086  # DOCTOR is a command line, split on purpose
    run_and_wait docker run --rm --label "mlci-runner-pool=$POOL" --gpus "$gpus" --user runner \
      --security-opt no-new-privileges --cap-drop ALL --network none "$MLCI_RUNNER_IMAGE" $DOCTOR
    [ "$stopping" = 0 ] || break
    if [ "$status" != 0 ]; then
      log "'$DOCTOR' failed in $MLCI_RUNNER_IMAGE: fix this machine before it takes GPU jobs; retrying in ${RETRY}s"
      pause "$RETRY"
      continue
    fi
  fi
  name="$PREFIX-$(date +%s)-$RANDOM"
  if ! jit="$(jit_config "$name")"; then
    pause "$RETRY"
    continue
  fi
  log "runner $name registered just in time; starting its container"
  current="mlci-job-$name"
  [ "$stopping" = 0 ] || break
  run_and_wait job_container
  jit=""
  log "container $current exited with status $status"
  docker rm --force "$current" >/dev/null 2>&1 || true
  current=""
  jobs_done=$((jobs_done + 1))
  if [ "$MAX_JOBS" != 0 ] && [ "$jobs_done" -ge "$MAX_JOBS" ]; then
    break
  fi
done
log "stopped after $jobs_done job(s)"
