#!/usr/bin/env bash
# The main job, end to end, on a fresh machine: start Kafka and ClickHouse,
# produce a day of realistic traffic, run the attributor until it has
# credited everything, and print the cross-channel comparison of the models.
#
# Safe to run again: the generator is deterministic and every table is
# deduplicated by event id, so a second run credits the same conversions.
# Override with DEMO_USERS, DEMO_SEED, DEMO_START.
#
# DEMO_LOGGED_OUT_SHARE=0.4 (default 0) starts 40% of the users logged out:
# their logins go to the identities topic, the attributor stitches their
# devices to them, and less revenue goes to "(none)". Change it only on
# fresh services (scripts/services.sh reset): the events it re-keys would
# otherwise sit in the topics twice, under both keys.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
USERS=${DEMO_USERS:-20000}
SEED=${DEMO_SEED:-42}
START=${DEMO_START:-2026-11-27T00:00:00Z}
LOGGED_OUT=${DEMO_LOGGED_OUT_SHARE:-0}

command -v go >/dev/null 2>&1 || { echo "demo.sh: go is not installed (go.mod needs $(awk '/^go /{print $2}' go.mod))" >&2; exit 1; }

step() { printf '\n== %s\n' "$*"; }

step "services: Kafka and ClickHouse"
scripts/services.sh up

step "build"
mkdir -p bin
go build -o bin/attributor ./cmd/attributor

step "produce a day of traffic ($USERS users, seed $SEED) to Kafka"
bin/attributor generate --seed "$SEED" --users "$USERS" --start "$START" --duration 24h \
  --logged-out-share "$LOGGED_OUT" --kafka 127.0.0.1:9092 --create-topics --partitions 4

step "attributor run --until-caught-up"
bin/attributor run --until-caught-up --progress 2s

step "conversions per channel under each model"
bin/attributor report model_comparison

step "revenue per channel: last click against linear and time decay"
bin/attributor report model_comparison \
  --columns channel,last_click_revenue,linear_revenue,time_decay_revenue,linear_revenue_diff

step "channel performance (linear; --model, --by campaign, --columns all for more)"
bin/attributor report channel_performance

cat <<MSG

Done. Query ClickHouse directly, e.g.:
  clickhouse-client -q "SELECT model, channel, round(sum(credit), 2) AS conversions,
                               sum(revenue_micros) / 1000000 AS revenue
                        FROM attribution.credited_conversions
                        GROUP BY model, channel ORDER BY model, revenue DESC"
(revenue_micros is exact; a sum of the float column revenue prints e.g. 116232.4599999999.)
MSG
