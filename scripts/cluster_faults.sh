#!/usr/bin/env bash
# Fault tests on the local clusters of scripts/cluster.sh, with the attributor in cluster mode
# (`migrate --cluster` / `run --cluster`: replicated tables behind Distributed ones). Too heavy
# for CI on 2 cores, so a documented command rather than part of `go test`:
#
#   scripts/cluster_faults.sh [SCENARIO...]     (default: all four, one after the other)
#
# Scenarios (each a run of scripts/bench/soak with live traffic for FAULTS_DURATION, 2m):
#   broker    Kafka broker kafka2 SIGKILLed mid-run, restarted after 30s
#   replica   ClickHouse replica ch2 (shard 01) SIGKILLed mid-run, restarted after 30s
#   shard     both replicas of shard 02 (ch3, ch4) SIGKILLed: the shard unreachable for 30s
#   instances three attributor instances in one consumer group; the soak's own one is SIGKILLed
#             (and SIGTERMed) and restarted, the other two run throughout
# Every scenario also restarts the soak's attributor with SIGTERM at 20% and 75% and SIGKILL at 40%
# of the run (scripts/bench/soak's schedule); the node fault is at 55%. After the last produce it
# waits for every conversion, exports both topics, replays them and compares every column with
# credited_conversions read through the Distributed tables on ch1: view == replay, nothing lost
# or doubled; exit 1 on any difference.
# Topics (6 partitions, RF 3, min.insync.replicas 2) and a database of their own per scenario,
# dropped on success. Output: .run/faults/<run>/<scenario>/soak.txt.
# Environment: FAULTS_DURATION (2m), FAULTS_RATE (events/s, 1000), FAULTS_OUTAGE (30s).
set -euo pipefail
{
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
log() { printf '[faults] %s\n' "$*"; }
die() { printf '[faults] ERROR: %s\n' "$*" >&2; exit 1; }

SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(broker replica shard instances)
for s in "${SCENARIOS[@]}"; do
  case $s in broker | replica | shard | instances) ;; *) die "unknown scenario '$s' (broker, replica, shard, instances)" ;; esac
done
DURATION=${FAULTS_DURATION:-2m}
RATE=${FAULTS_RATE:-1000}
OUTAGE=${FAULTS_OUTAGE:-30s}
BOOTSTRAP=127.0.0.1:19091,127.0.0.1:19092,127.0.0.1:19093
CH=127.0.0.1:19001
CLUSTER=attributor_cluster
KAFKA_LIBS=${KAFKA_LIBS:-$REPO/.cache/kafka/libs}

scripts/cluster.sh status >/dev/null 2>&1 || die "the clusters are not all up: run scripts/cluster.sh up"
RUN=faults_$(date -u +%Y%m%d_%H%M%S)_$$
BASE=$REPO/.run/faults/$RUN
mkdir -p "$BASE"
log "building attributor and scripts/bench/soak into $BASE"
go build -o "$BASE/attributor" ./cmd/attributor
go build -o "$BASE/soak" ./scripts/bench/soak

EXTRA_PIDS=()
stop_extra() {
  local p
  for p in "${EXTRA_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${EXTRA_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  EXTRA_PIDS=()
}
trap 'stop_extra; scripts/cluster.sh status >/dev/null 2>&1 || scripts/cluster.sh up >/dev/null 2>&1 || true' EXIT

scenario() {
  local name=$1 id=${RUN}_$1 out=$BASE/$1 stop start
  mkdir -p "$out"
  case $name in
    broker) stop="$REPO/scripts/cluster.sh kill kafka2" start="$REPO/scripts/cluster.sh up kafka2" ;;
    replica) stop="$REPO/scripts/cluster.sh kill ch2" start="$REPO/scripts/cluster.sh up ch2" ;;
    shard) stop="$REPO/scripts/cluster.sh kill ch3 ch4" start="$REPO/scripts/cluster.sh up ch3 ch4" ;;
    instances) stop=true start=true ;;
  esac
  local tp=$id.touchpoints cv=$id.conversions dlq=$id.dlq spend=$id.ad_spend
  # Run twice if need be: a broker may not list a topic it has just created (metadata propagation),
  # and topics create is idempotent.
  "$BASE/attributor" topics create --brokers "$BOOTSTRAP" --partitions 6 --touchpoints-topic "$tp" \
    --conversions-topic "$cv" --dlq-topic "$dlq" --spend-topic "$spend" --identities-topic "$id.identities" >"$out/topics.log" 2>&1 ||
    { sleep 3; "$BASE/attributor" topics create --brokers "$BOOTSTRAP" --partitions 6 --touchpoints-topic "$tp" \
      --conversions-topic "$cv" --dlq-topic "$dlq" --spend-topic "$spend" --identities-topic "$id.identities" >>"$out/topics.log" 2>&1; } ||
    { log "$name: topics create: $(cat "$out/topics.log")"; return 1; }
  "$BASE/attributor" migrate --clickhouse "$CH" --database "$id" --cluster "$CLUSTER" >"$out/migrate.log" 2>&1 ||
    { log "$name: migrate: $(cat "$out/migrate.log")"; return 1; }
  # No stitching: the soak compares with a replay that does not stitch (topics create made this
  # run's own identities topic, not the shared one; the runs read one that does not exist).
  local common=(--brokers "$BOOTSTRAP" --clickhouse "$CH" --database "$id" --cluster "$CLUSTER"
    --touchpoints-topic "$tp" --conversions-topic "$cv" --dlq-topic "$dlq" --spend-topic "$spend"
    --identities-topic "$id.noids" --group "$id" --allowed-lateness 5s)
  if [ "$name" = instances ]; then
    local i
    for i in 2 3; do
      "$BASE/attributor" run "${common[@]}" >"$out/attributor$i.log" 2>&1 &
      EXTRA_PIDS+=($!)
    done
  fi
  log "$name: fault '$stop' for $OUTAGE at 55% of $DURATION; traffic $RATE events/s; database $id (cluster $CLUSTER)"
  local t0 rc
  t0=$(date +%s)
  set +e
  "$BASE/soak" --attributor "$BASE/attributor" --brokers "$BOOTSTRAP" --clickhouse "$CH" --database "$id" \
    --touchpoints-topic "$tp" --conversions-topic "$cv" --dlq-topic "$dlq" --group "$id" \
    --metrics-addr "127.0.0.1:$((19400 + $$ % 500))" --work "$out" --duration "$DURATION" --rate "$RATE" \
    --interval 20s --window "$DURATION" --outage "$OUTAGE" --grace 5m \
    --outage-stop "$stop" --outage-start "$start" --cluster "$CLUSTER" -- --spend-topic "$spend" --identities-topic "$id.noids" \
    2>&1 | tee "$out/soak.txt"
  rc=${PIPESTATUS[0]}
  set -e
  stop_extra
  scripts/cluster.sh status >/dev/null 2>&1 || scripts/cluster.sh up >/dev/null 2>&1 || true
  log "$name: $([ "$rc" = 0 ] && echo PASS || echo FAIL) (exit $rc) in $(($(date +%s) - t0))s; output in $out/soak.txt"
  if [ "$rc" = 0 ]; then
    clickhouse-client --port 19001 -q "DROP DATABASE IF EXISTS $id ON CLUSTER $CLUSTER" >/dev/null 2>&1 || true
    for t in "$tp" "$cv" "$dlq" "$spend"; do
      java -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --delete --topic "$t" >/dev/null 2>&1 || true
    done
  fi
  return "$rc"
}

failed=()
for s in "${SCENARIOS[@]}"; do
  scenario "$s" || failed+=("$s")
done
[ ${#failed[@]} = 0 ] || die "failed: ${failed[*]} (topics and databases kept; see $BASE)"
log "all passed: ${SCENARIOS[*]}"
}
