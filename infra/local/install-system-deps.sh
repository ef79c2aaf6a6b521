#!/usr/bin/env bash
# Installs the system packages the local stack needs, when they are missing:
# Java 17+ and Maven (Kafka from Maven Central), PostgreSQL server binaries,
# psql and kcat (non-Python clients the tests use). Root: apt-get; otherwise it
# says exactly what to install and fails.
set -euo pipefail

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
# Headless Chromium for the dashboard's browser tests (Playwright drives it; no download).
if [ "${TATAWWU_BROWSER_TESTS:-1}" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing system packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]}" >&2
  echo "(or point TATAWWU_KAFKA_BOOTSTRAP / TATAWWU_DATABASE_URL at existing servers)" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# The postgresql package starts Debian's own cluster on 5432; ours runs apart on 55432.
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
