#!/usr/bin/env bash
# Soak test: live traffic at a steady rate into an `attributor run` on the local clusters of
# scripts/cluster.sh, with restarts and a ClickHouse outage in the middle; prints RSS, consumer lag
# and latency over time and checks view == replay at the end (exit 1 on any difference).
#
#   scripts/soak.sh [--unique-campaigns] DURATION      e.g. scripts/soak.sh 30m
#
# Needs `scripts/cluster.sh up` (it never touches the single-node services of scripts/services.sh).
# The attributor reads topics of its own (6 partitions, replication factor 3, min.insync.replicas 2)
# on the 3-broker Kafka cluster, and writes to a plain (single-server) database of its own on the
# ClickHouse node ch1 (127.0.0.1:19001): a cluster node serves as a standalone server here, so that
# its outage is `scripts/cluster.sh down ch1` / `up ch1`, and nothing of the shared services stops.
# Schedule, as fractions of DURATION: SIGTERM + restart at 20%, SIGKILL + restart at 40%, ch1 down
# for SOAK_OUTAGE (60s) at 55%, SIGTERM + restart at 75%. After the last produce it waits for every
# conversion (up to SOAK_GRACE, 5m), stops the attributor, exports both topics with kcat, replays
# them and compares with credited_conversions over every column (scripts/bench/soak does the work).
#
# --unique-campaigns: every touchpoint gets a campaign of its own and the attributor runs with
# --max-users SOAK_MAX_USERS (20000), without restarts or outage (a restart would hide a leak): the
# run fails when the peak RSS of the last third is more than 25% above that of the middle third.
# Its traffic spans 5 generated days instead of one (played in DURATION all the same), so that the
# work per event is stationary after the first third: in a one-day span journeys must fit the day,
# and touchpoints per conversion grow from 2.4 to 5.7 over it (scripts/bench/soak explains).
#
# Environment: SOAK_RATE (events/s, 2000), SOAK_INTERVAL (progress line period, 30s), SOAK_WINDOW
# (rows of the final table, 5m; DURATION/6 when shorter), SOAK_OUTAGE (60s; DURATION/10 when
# shorter), SOAK_GRACE (5m), SOAK_SPAN (time span of the generated traffic: 24h, 120h with
# --unique-campaigns), SOAK_CLICKHOUSE_NODE (ch1: the node written to and stopped; another
# node lets two soaks run at once), SOAK_KEEP=1 keeps the topics and database (always kept on failure),
# SOAK_RUN_FLAGS (more `attributor run` flags, e.g. "--memprofile /tmp/heap.prof": the final SIGTERM
# writes it).
# Output goes to the terminal and to .run/soak/<run>/soak.txt, with the attributor logs beside it.
set -euo pipefail
# The whole script is one block, read before it runs: editing this file during a 30-minute soak
# must not change what the running soak executes next.
{

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

log() { printf '[soak] %s\n' "$*"; }
die() { printf '[soak] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { echo "usage: $0 [--unique-campaigns] DURATION   (e.g. 30m, 3m, 90s)" >&2; exit 2; }

UNIQUE=
if [ "${1:-}" = --unique-campaigns ]; then UNIQUE=1; shift; fi
[ $# = 1 ] || usage
DURATION=$1
secs() { # secs 30m -> 1800
  case $1 in
    *h) echo $((${1%h} * 3600)) ;; *m) echo $((${1%m} * 60)) ;; *s) echo "${1%s}" ;; *) return 1 ;;
  esac
}
DUR_S=$(secs "$DURATION" 2>/dev/null) || usage
case $DUR_S in '' | *[!0-9]* | 0) usage ;; esac

RATE=${SOAK_RATE:-2000}
INTERVAL=${SOAK_INTERVAL:-30s}
WINDOW=${SOAK_WINDOW:-$([ "$DUR_S" -lt 1800 ] && echo "$((DUR_S / 6))s" || echo 5m)}
OUTAGE=${SOAK_OUTAGE:-$([ "$DUR_S" -lt 600 ] && echo "$((DUR_S / 10))s" || echo 60s)}
GRACE=${SOAK_GRACE:-5m}
MAX_USERS=${SOAK_MAX_USERS:-20000}
BOOTSTRAP=127.0.0.1:19091,127.0.0.1:19092,127.0.0.1:19093
NODE=${SOAK_CLICKHOUSE_NODE:-ch1}
case $NODE in ch[1-4]) ;; *) die "SOAK_CLICKHOUSE_NODE: want ch1..ch4, got '$NODE'" ;; esac
CH=127.0.0.1:$((19000 + ${NODE#ch}))

scripts/cluster.sh status >/dev/null 2>&1 || die "the clusters are not all up: run scripts/cluster.sh up (scripts/cluster.sh status says which node)"

RUN_ID=soak_$(date -u +%Y%m%d_%H%M%S)_$$
OUT=$REPO/.run/soak/$RUN_ID
mkdir -p "$OUT"
DB=$RUN_ID TP=$RUN_ID.touchpoints CV=$RUN_ID.conversions DLQ=$RUN_ID.dlq SPEND=$RUN_ID.ad_spend

log "building attributor and scripts/bench/soak into $OUT"
go build -o "$OUT/attributor" ./cmd/attributor
go build -o "$OUT/soak" ./scripts/bench/soak

cleanup() {
  local rc=$?
  if [ "$rc" = 0 ] && [ -z "${SOAK_KEEP:-}" ]; then
    clickhouse-client --host 127.0.0.1 --port "${CH##*:}" -q "DROP DATABASE IF EXISTS $DB" || true
    for t in "$TP" "$CV" "$DLQ" "$SPEND"; do
      java -cp "${KAFKA_LIBS:-$REPO/.cache/kafka/libs}/*" org.apache.kafka.tools.TopicCommand \
        --bootstrap-server "$BOOTSTRAP" --delete --topic "$t" >/dev/null 2>&1 || true
    done
  else
    log "kept database $DB on $CH and topics $RUN_ID.* (drop them with scripts/cluster.sh reset)"
  fi
  # the node back up whatever happened (the outage may have been interrupted)
  scripts/cluster.sh status >/dev/null 2>&1 || scripts/cluster.sh up "$NODE" >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT

log "topics $RUN_ID.* (6 partitions) on $BOOTSTRAP; database $DB on $NODE ($CH)"
"$OUT/attributor" topics create --brokers "$BOOTSTRAP" --partitions 6 --touchpoints-topic "$TP" \
  --conversions-topic "$CV" --dlq-topic "$DLQ" --spend-topic "$SPEND" --identities-topic "$RUN_ID.identities" >"$OUT/topics.log" 2>&1 ||
  die "topics create: $(cat "$OUT/topics.log")"
"$OUT/attributor" migrate --clickhouse "$CH" --database "$DB" >"$OUT/migrate.log" 2>&1 ||
  die "migrate: $(cat "$OUT/migrate.log")"

ARGS=(--attributor "$OUT/attributor" --brokers "$BOOTSTRAP" --clickhouse "$CH" --database "$DB"
  --touchpoints-topic "$TP" --conversions-topic "$CV" --dlq-topic "$DLQ" --group "$RUN_ID"
  --metrics-addr "127.0.0.1:$((19400 + $$ % 500))" --work "$OUT"
  --duration "${DUR_S}s" --rate "$RATE" --interval "$INTERVAL" --window "$WINDOW" --outage "$OUTAGE" --grace "$GRACE"
  --outage-stop "$REPO/scripts/cluster.sh down $NODE" --outage-start "$REPO/scripts/cluster.sh up $NODE")
[ -z "${SOAK_SPAN:-}" ] || ARGS+=(--span "$SOAK_SPAN")
# The soak compares the view with a replay that does not stitch: the run reads an identities
# topic that does not exist (topics create made this run's own, not the shared "identities").
EXTRA=(--spend-topic "$SPEND" --identities-topic "$RUN_ID.noids")
# shellcheck disable=SC2206 # word splitting wanted: extra `attributor run` flags
[ -z "${SOAK_RUN_FLAGS:-}" ] || EXTRA+=($SOAK_RUN_FLAGS)
if [ -n "$UNIQUE" ]; then
  ARGS+=(--unique-campaigns)
  EXTRA+=(--max-users "$MAX_USERS")
fi

log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
start=$(date +%s)
set +e
"$OUT/soak" "${ARGS[@]}" -- "${EXTRA[@]}" 2>&1 | tee "$OUT/soak.txt"
rc=${PIPESTATUS[0]}
set -e
log "took $(($(date +%s) - start))s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg); output in $OUT/soak.txt"
exit "$rc"
}
