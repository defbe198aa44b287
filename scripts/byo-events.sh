#!/usr/bin/env bash
# "Bring your own events" of README.md, command for command: create the
# topics, produce touchpoints with kcat and conversions with a Go client,
# check that each user's events share a partition number, run the attributor
# until it has credited them, and query the view. Needs Kafka and ClickHouse
# running (scripts/services.sh up), kcat and clickhouse-client.
#
# The names are the defaults of `attributor run`, or the ATTRIBUTOR_*
# variables that it reads too (the tests set them to names of their own).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
BROKERS=${ATTRIBUTOR_BROKERS:-127.0.0.1:9092}
TOUCHPOINTS=${ATTRIBUTOR_TOUCHPOINTS_TOPIC:-touchpoints}
CONVERSIONS=${ATTRIBUTOR_CONVERSIONS_TOPIC:-conversions}
DATABASE=${ATTRIBUTOR_DATABASE:-attribution}
CLICKHOUSE=${ATTRIBUTOR_CLICKHOUSE:-127.0.0.1:9000}

step() { printf '\n== %s\n' "$*"; }

step "build"
mkdir -p bin
go build -o bin/attributor ./cmd/attributor

step "1. create the topics, then check them"
bin/attributor topics create --partitions 4
bin/attributor topics check

step "2. touchpoints with kcat (key TAB value; murmur2 as the Java client partitions)"
kcat -P -b "$BROKERS" -t "$TOUCHPOINTS" -K $'\t' -X partitioner=murmur2_random <<'EOF'
u1	{"event_id":"byo-t1","user_id":"u1","timestamp":"2026-11-27T09:00:00Z","channel":"paid_search","source":"google","medium":"cpc","campaign":"winter"}
u1	{"event_id":"byo-t2","user_id":"u1","timestamp":"2026-11-27T10:00:00Z","channel":"email","source":"newsletter","medium":"email"}
u2	{"event_id":"byo-t3","user_id":"u2","timestamp":"2026-11-27T09:30:00Z","channel":"paid_social","source":"facebook","medium":"paid_social"}
EOF

step "3. conversions with a Go client (key = user_id, murmur2 balancer)"
go run ./examples/produce-go --brokers "$BROKERS" --topic "$CONVERSIONS" <<'EOF'
{"event_id":"byo-c1","user_id":"u1","timestamp":"2026-11-27T11:00:00Z","revenue":100,"currency":"EUR"}
{"event_id":"byo-c2","user_id":"u2","timestamp":"2026-11-27T12:00:00Z","revenue":50,"currency":"EUR"}
EOF

step "4. check: each user's touchpoints and conversions are in the same partition"
partitions() { kcat -C -b "$BROKERS" -t "$1" -e -q -f '%k %p\n' | sort -u; }
partitions "$TOUCHPOINTS" >"${TMPDIR:-/tmp}/byo-tp.$$"
partitions "$CONVERSIONS" >"${TMPDIR:-/tmp}/byo-cv.$$"
if join "${TMPDIR:-/tmp}/byo-tp.$$" "${TMPDIR:-/tmp}/byo-cv.$$" | awk '$2 != $3 { print "user " $1 ": touchpoints in partition " $2 ", conversions in " $3; bad = 1 } END { exit bad }'; then
  echo "same partition for every user"
else
  rm -f "${TMPDIR:-/tmp}/byo-tp.$$" "${TMPDIR:-/tmp}/byo-cv.$$"
  exit 1
fi
rm -f "${TMPDIR:-/tmp}/byo-tp.$$" "${TMPDIR:-/tmp}/byo-cv.$$"

step "5. attribute everything the topics hold, then exit"
bin/attributor run --until-caught-up --progress 0

step "6. query the view"
clickhouse-client --host "${CLICKHOUSE%:*}" --port "${CLICKHOUSE##*:}" --query "
  SELECT model, channel, sum(credit) AS conversions, sum(revenue) AS revenue
  FROM $DATABASE.credited_conversions
  WHERE model IN ('first_click', 'last_click', 'linear')
  GROUP BY model, channel ORDER BY model, channel"
