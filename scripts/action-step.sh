#!/usr/bin/env bash
# One phase of mlci for action.yml (MLCI_PHASE: admit, verify, pull, run, train, publish or
# publish-bundle). Inputs arrive as environment variables, never interpolated into the script;
# extra-args split on whitespace.
set -euo pipefail
# The private venv (when the install step made one) comes first, so `mlci` is mlci's; pipeline
# stages still run with the project's own Python (mlci takes its venv off their PATH).
if [ -x "$RUNNER_TEMP/mlci-venv/bin/mlci" ]; then export PATH="$RUNNER_TEMP/mlci-venv/bin:$PATH"; fi
if [ "$MLCI_PHASE" = "pull" ]; then
  # `dvc pull` (input dvc-pull): false/empty does nothing, true pulls what the stages need, any
  # other value is a list of targets. DVC reads its credential variables here, and only here.
  case "${MLCI_DVC_PULL:-false}" in
    false | "") exit 0 ;;
    true) exec mlci pull ;;
    *) read -r -a targets <<< "$MLCI_DVC_PULL"; exec mlci pull -- "${targets[@]}" ;;
  esac
fi
if [ "$MLCI_PHASE" = "publish-bundle" ]; then
  # The publish job of the split: a fresh runner, the base repository, the bundle read as data.
  if [ -z "${MLCI_BUNDLE:-}" ]; then
    echo "::error::phase publish needs the bundle input: the directory the training job's artifact was downloaded to"
    exit 2
  fi
  args=(publish --bundle "$MLCI_BUNDLE" --fail-on-regression "$MLCI_FAIL_ON_REGRESSION")
  if [ -n "${MLCI_CONFIG:-}" ]; then args+=(--config "$MLCI_CONFIG"); fi
  if [ -n "${MLCI_COMMENT_ID:-}" ]; then args+=(--comment-id "$MLCI_COMMENT_ID"); fi
  exec mlci "${args[@]}"
fi
if [ "$MLCI_PHASE" = "run" ] || [ "$MLCI_PHASE" = "train" ]; then
  # The PR's code runs in this phase: DVC remote credentials (see mlci/workflows/pull.py) stay out of
  # it, and `exec` below replaces this shell, so /proc/<pid>/environ no longer holds them either.
  for name in $(compgen -e); do
    case "$name" in AWS_* | AZURE_* | GOOGLE_APPLICATION_CREDENTIALS | GDRIVE_CREDENTIALS_DATA) unset "$name" ;; esac
  done
fi
args=(ci --phase "$MLCI_PHASE" --publisher "$MLCI_PUBLISHER" --fail-on-regression "$MLCI_FAIL_ON_REGRESSION")
if [ -n "${MLCI_CONFIG:-}" ]; then args+=(--config "$MLCI_CONFIG"); fi
if [ -n "${MLCI_BASE_REF:-}" ]; then args+=(--base "$MLCI_BASE_REF"); fi
if [ -n "${MLCI_COMMENT_ID:-}" ]; then args+=(--comment-id "$MLCI_COMMENT_ID"); fi
if [ -n "${MLCI_RUNNER_ENVIRONMENT:-}" ]; then args+=(--runner-environment "$MLCI_RUNNER_ENVIRONMENT"); fi
if [ "$MLCI_PHASE" = "verify" ] || [ "$MLCI_PHASE" = "train" ]; then args+=(--admitted-sha "${MLCI_ADMITTED_SHA:-}"); fi
if [ "$MLCI_PHASE" = "admit" ] && [ "${MLCI_SINGLE_JOB:-false}" = "true" ]; then args+=(--single-job); fi
read -r -a extra <<< "${MLCI_EXTRA_ARGS:-}"
exec mlci "${args[@]}" "${extra[@]}"
