#!/usr/bin/env bash
# Register ONE ephemeral GitHub Actions runner (labels self-hosted,gpu), run one job, exit.
#
# mlci-runner.service restarts this script after every job, so each job gets a freshly
# registered runner and nothing one job leaves behind (files, processes) reaches the next
# PR's code. Before registering, `mlci doctor --require-gpu` checks that LightGBM can train
# on the GPU: a machine with a broken driver or OpenCL setup never takes a `gpu` job.
#
# Settings (environment, e.g. from /etc/mlci-runner.env, mode 600):
#   GITHUB_URL       https://github.com/OWNER/REPO or https://github.com/ORG   (required)
#   RUNNER_TOKEN     a registration token (Settings > Actions > Runners > New runner), or
#   GITHUB_PAT       a token allowed to create one: fine-grained "Administration: write" on the
#                    repo, or "Self-hosted runners: write" on the org. Never printed.
#   GITHUB_API_URL   default https://api.github.com (GitHub Enterprise Server: https://HOST/api/v3)
#   RUNNER_DIR       where the actions runner is unpacked (default /opt/actions-runner)
#   RUNNER_LABELS    default self-hosted,gpu
#   RUNNER_NAME      default <hostname>-<unix time>
#   RUNNER_GROUP     runner group (org runners only; default: Default)
#   MLCI_DOCTOR      the doctor command, "" to skip (default: mlci doctor --require-gpu)
set -euo pipefail

: "${GITHUB_URL:?set GITHUB_URL to https://github.com/OWNER/REPO (or the organisation URL)}"
RUNNER_DIR="${RUNNER_DIR:-/opt/actions-runner}"
RUNNER_LABELS="${RUNNER_LABELS:-self-hosted,gpu}"
RUNNER_NAME="${RUNNER_NAME:-$(hostname)-$(date +%s)}"
API_URL="${GITHUB_API_URL:-https://api.github.com}"
MLCI_DOCTOR="${MLCI_DOCTOR-mlci doctor --require-gpu}"

fail() {
  echo "register-runner: $*" >&2
  exit 1
}

# A registration token: given, or requested with GITHUB_PAT. The PAT reaches curl on stdin,
# never on a command line (where `ps` would show it).
registration_token() {
  if [ -n "${RUNNER_TOKEN:-}" ]; then
    printf '%s' "$RUNNER_TOKEN"
    return
  fi
  [ -n "${GITHUB_PAT:-}" ] || fail "set RUNNER_TOKEN (a registration token) or GITHUB_PAT (to request one)"
  local owner_repo endpoint
  owner_repo="${GITHUB_URL#*://*/}"
  owner_repo="${owner_repo%/}"
  case "$owner_repo" in
    */*) endpoint="repos/$owner_repo/actions/runners/registration-token" ;;
    *) endpoint="orgs/$owner_repo/actions/runners/registration-token" ;;
  esac
  printf 'Authorization: Bearer %s\n' "$GITHUB_PAT" |
    curl --fail --silent --show-error --location --request POST \
      --header @- \
      --header "Accept: application/vnd.github+json" \
      --header "X-GitHub-Api-Version: 2022-11-28" \
      "$API_URL/$endpoint" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])' ||
    fail "could not get a registration token from $API_URL/$endpoint; check GITHUB_PAT's permissions"
}

[ -x "$RUNNER_DIR/config.sh" ] ||
  fail "no actions runner in $RUNNER_DIR; unpack one there (https://github.com/actions/runner/releases) or set RUNNER_DIR"

if [ -n "$MLCI_DOCTOR" ]; then
  # shellcheck disable=SC2086  # MLCI_DOCTOR is a command line, split on purpose
  $MLCI_DOCTOR || fail "'$MLCI_DOCTOR' failed: fix this machine (see its output) before it takes GPU jobs"
fi

cd "$RUNNER_DIR"
token="$(registration_token)"
group_args=()
if [ -n "${RUNNER_GROUP:-}" ]; then
  group_args=(--runnergroup "$RUNNER_GROUP")
fi
./config.sh --unattended --ephemeral --replace --disableupdate \
  --url "$GITHUB_URL" --token "$token" \
  --name "$RUNNER_NAME" --labels "$RUNNER_LABELS" --work _work "${group_args[@]}"
unset token RUNNER_TOKEN GITHUB_PAT
exec ./run.sh
