#!/usr/bin/env bash
# The test command (CI runs it through .ci/run): start Kafka and ClickHouse (scripts/services.sh up),
# then go vet and go test against them. Integration tests fail instead of skipping
# when the services are missing (ATTRIBUTOR_REQUIRE_SERVICES=1).
# Then, alone, the fault tests (pipeline/faults), which stop and start the services: they must not
# run while any other test uses them. Whatever happens, both services are up when the script ends.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

export ATTRIBUTOR_TEST_KAFKA=127.0.0.1:9092
export ATTRIBUTOR_TEST_CLICKHOUSE=127.0.0.1:9000
export ATTRIBUTOR_REQUIRE_SERVICES=1

command -v go >/dev/null 2>&1 || { echo "test.sh: FAIL: go is not installed (go.mod needs $(awk '/^go /{print $2}' go.mod))" >&2; exit 1; }

if ! scripts/services.sh up; then
  echo "test.sh: FAIL: could not start Kafka/ClickHouse (scripts/services.sh up)"
  exit 1
fi

# The fault tests may leave a service stopped when they fail or are interrupted.
trap 'scripts/services.sh up >/dev/null 2>&1 || { echo "test.sh: FAIL: could not bring the services back up (scripts/services.sh up)" >&2; exit 1; }' EXIT

failed=()
echo "== go vet ./..."
go vet ./... || failed+=("go vet")
echo "== go test -count=1 -timeout 25m ./..."
# ATTRIBUTOR_FAULT_TESTS unset: pipeline/faults skips here and runs alone below.
env -u ATTRIBUTOR_FAULT_TESTS go test -count=1 -timeout 25m ./... || failed+=("go test")
echo "== fault tests: ATTRIBUTOR_FAULT_TESTS=1 go test -count=1 -p 1 -timeout 20m ./pipeline/faults/"
fault_start=$SECONDS
ATTRIBUTOR_FAULT_TESTS=1 go test -count=1 -p 1 -timeout 20m ./pipeline/faults/ || failed+=("fault tests")
echo "== fault tests: $((SECONDS - fault_start))s"

if [ "${#failed[@]}" -gt 0 ]; then
  echo "test.sh: FAIL: ${failed[*]} (${SECONDS}s)"
  exit 1
fi
echo "test.sh: PASS: go vet, go test and the fault tests ok (${SECONDS}s)"
