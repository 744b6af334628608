#!/usr/bin/env bash
# Entrypoint of the batch-eks-provider Airflow image (docker/Dockerfile).
#
# Sets the `aws_default` connection for the target chosen with BATCH_EKS_TARGET, then hands over to the
# official image's entrypoint (which runs `airflow <command>`):
#   BATCH_EKS_TARGET=local (default)  the local engine at BATCH_EKS_ENGINE_URL (default http://127.0.0.1:4566);
#                                     waits up to BATCH_EKS_ENGINE_WAIT seconds (default 60) for it to answer.
#   BATCH_EKS_TARGET=aws              real AWS: no endpoint override; credentials come from the usual chain
#                                     (AWS_ACCESS_KEY_ID/..., AWS_PROFILE with ~/.aws mounted, or an instance/pod role).
# An AIRFLOW_CONN_AWS_DEFAULT given by the user always wins.
# AIRFLOW_ADMIN_PASSWORD, when set, becomes the UI's `admin` password (Airflow's simple auth manager).
# AIRFLOW_ENTRYPOINT (default /entrypoint, the official image's) is what runs next; "$@" is passed on.
set -euo pipefail

target="${BATCH_EKS_TARGET:-local}"
region="${AWS_DEFAULT_REGION:-us-east-1}"
engine_url="${BATCH_EKS_ENGINE_URL:-http://127.0.0.1:4566}"
engine_wait="${BATCH_EKS_ENGINE_WAIT:-60}"
next_entrypoint="${AIRFLOW_ENTRYPOINT:-/entrypoint}"

log() { echo "batch-eks entrypoint: $*" >&2; }

engine_answers() {
  python3 - "$1" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1].rstrip("/") + "/_local/health", timeout=2).read()
except Exception:
    sys.exit(1)
PY
}

case "$target" in
  local)
    if [ -z "${AIRFLOW_CONN_AWS_DEFAULT:-}" ]; then
      export AIRFLOW_CONN_AWS_DEFAULT="{\"conn_type\": \"aws\", \"login\": \"${BATCH_EKS_ACCESS_KEY_ID:-local}\", \"password\": \"${BATCH_EKS_SECRET_ACCESS_KEY:-local}\", \"extra\": {\"endpoint_url\": \"${engine_url}\", \"region_name\": \"${region}\"}}"
    fi
    deadline=$(( $(date +%s) + engine_wait ))
    until engine_answers "$engine_url"; do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        log "the local engine at ${engine_url} did not answer within ${engine_wait}s (is the engine service up?)"
        exit 1
      fi
      sleep 1
    done
    log "aws_default -> local engine at ${engine_url}"
    ;;
  aws)
    if [ -z "${AIRFLOW_CONN_AWS_DEFAULT:-}" ]; then
      export AIRFLOW_CONN_AWS_DEFAULT="{\"conn_type\": \"aws\", \"extra\": {\"region_name\": \"${region}\"}}"
    fi
    log "aws_default -> AWS (${region}), credentials from the default chain"
    ;;
  *)
    log "BATCH_EKS_TARGET must be 'local' or 'aws', not '${target}'"
    exit 2
    ;;
esac

if [ -n "${AIRFLOW_ADMIN_PASSWORD:-}" ]; then
  home="${AIRFLOW_HOME:-/opt/airflow}"
  mkdir -p "$home"
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-$home/simple_auth_manager_passwords.json.generated}"
  python3 - "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" <<'PY'
import json, os, sys
with open(sys.argv[1], "w") as f:
    json.dump({"admin": os.environ["AIRFLOW_ADMIN_PASSWORD"]}, f)
PY
fi

if [ -x "$next_entrypoint" ]; then
  exec "$next_entrypoint" "$@"
fi
exec airflow "$@"
