#!/usr/bin/env bash
# Benchmarks of the attributor on the real Kafka and ClickHouse (scripts/services.sh up), all in
# one run so that ratios between them hold. Prints a summary table with each target as PASS or
# MISS; raw results, logs and CPU profiles go to .run/bench/<run>/ (gitignored).
#
#   scripts/bench.sh [all|throughput|repartition|latency|memory|engine|queries|cluster]      (default all)
#
#   throughput  BENCH_EVENTS (2000000) generated events in Kafka; `attributor run --until-caught-up`
#               (fresh group and database each time) interleaved with a bare kafka-go drain of the
#               same topics, BENCH_RUNS (3) times each; a bare clickhouse-go insert of as many
#               compact rows (conversion versions) as the first run wrote. Before the counted runs, one
#               attributor run under --cpuprofile, not counted (the warm-up).
#   repartition BENCH_REPARTITION_EVENTS (1000000) generated events keyed and partitioned with murmur2
#               (4 partitions: the direct path, nothing forwarded), and the same messages copied
#               one partition past their home (every event forwarded through <group>.repartition);
#               `attributor run --until-caught-up` over each, alternately, BENCH_RUNS times. Also, in
#               the same rounds: "stitched", as many events of logged-out traffic (generate
#               --logged-out-share 0.4, murmur2-keyed by each event's own key, identity events in a
#               third topic: identity stitching on); and, with BENCH_REPARTITION_BEFORE=<commit>,
#               "before", the direct path run by that commit's attributor (built from it), so that
#               the direct path's rate is compared with the code before identity stitching.
#   latency     BENCH_LATENCY_RATE (20000) events/s of live traffic for BENCH_LATENCY_SECONDS (60)
#               while `attributor run` (allowed lateness BENCH_LATENCY_LATENESS, 5s) consumes;
#               produce-to-visible time of every conversion minus the allowed lateness. Run twice,
#               side by side: on the machine as it is, then while a CPU burner keeps one core busy
#               (a `sha256sum /dev/zero` started for that run alone); BENCH_LATENCY_BUSY=0 skips the
#               busy run, BENCH_LATENCY_BUSY=only runs it alone. Per run also latency-NAME-timeline.tsv
#               (per second: each process's CPU, ClickHouse's inserts, merges and CPU wait, the
#               producer's and poller's delays, the latency of the conversions produced in it) and
#               the tool's own profile; BENCH_LATENCY_GODEBUG (e.g. gctrace=1) goes to the attributor;
#               BENCH_LATENCY_BURNERS (1) burners in the busy run (2: a ClickHouse starved of CPU).
#   memory      BENCH_MEMORY_USERS (1000000) users x 5 touchpoints held by `attributor run`: RSS
#               per held touchpoint at catch-up, then the live heap and RSS after the idle
#               process's periodic GC (waits up to BENCH_MEMORY_IDLE_GC, 150s; 0: skip), the CPU
#               time and rate of the ingest, and a heap profile taken with the state held. Then
#               the same again under `--memory-limit` = BENCH_MEMORY_BUDGET_PER_TP (100) bytes x
#               touchpoints + the first run's empty-state RSS. Then BenchmarkShardState (100k
#               users, or BENCH_MEMORY_USERS when exported) with a heap profile of the full shard.
#   engine      go test -bench ./attribution (BENCH_COUNT, 5, runs each) and `attributor replay`
#               over BENCH_REPLAY_EVENTS (1000000) generated events, BENCH_RUNS times.
#   queries     (not in `all`) for each N of BENCH_QUERIES_STEPS ("1000000 10000000"): a fresh
#               database filled with N generated conversions written through the attributor's sink
#               (BENCH_QUERIES_REATTRIBUTED, 0.10, of them credited again after late touchpoints),
#               the first rollup of every day (pipeline/rollup), the disk per credited conversion
#               (system.parts), then the analyst queries over the public views and tables (the
#               aggregates, the lookup of one conversion by id as analysts run it, the aggregates with
#               a day read live, the same through the unfolded rows), BENCH_QUERIES_RUNS (3) times each:
#               time, and read_rows/read_bytes from system.query_log (see scripts/bench/queries).
#   cluster     (not in `all`; needs `scripts/cluster.sh up`) BENCH_CLUSTER_EVENTS (1000000) events in
#               topics of 6 partitions, replication factor 3, on the 3-broker Kafka cluster; 1, 2 and
#               3 `attributor run --until-caught-up` instances in one group (started together, timed
#               until the last exits) writing to a plain database on one ClickHouse node of the cluster
#               (BENCH_CLUSTER_CLICKHOUSE, default ch3 127.0.0.1:19003, so that a soak's outage of ch1
#               does not hit it), in the order 1, 2, 3 repeated BENCH_CLUSTER_RUNS (2) times; every run
#               must credit the same rows as the first. The single-node services are neither needed
#               nor touched.
#
# The code measured is the working tree; BENCH_REF=<commit> measures that commit instead (built from
# `git archive` into the run directory), so that figures name the code they came from;
# with BENCH_REF_TOOLS=tree only the attributor is that commit's, the benchmark programs the tree's.
# Everything the run creates is named after it (bench_<date>_<time>_<pid>) and deleted at the end,
# also on failure or Ctrl-C; BENCH_KEEP=1 keeps the topics and databases for a look.
# The services are shared (the fault tests of pipeline/faults stop and restart them): a measurement
# waits until both answer, and one during which a service went down or restarted is discarded and
# repeated (up to 3 attempts).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

WHAT=${1:-all}
case "$WHAT" in
  all|throughput|repartition|latency|memory|engine|queries|cluster) ;;
  *) echo "usage: $0 [all|throughput|repartition|latency|memory|engine|queries|cluster]" >&2; exit 2 ;;
esac

EVENTS=${BENCH_EVENTS:-2000000}
RUNS=${BENCH_RUNS:-3}
RATE=${BENCH_LATENCY_RATE:-20000}
LAT_SECONDS=${BENCH_LATENCY_SECONDS:-60}
LATENESS=${BENCH_LATENCY_LATENESS:-5s}
MEM_USERS=${BENCH_MEMORY_USERS:-1000000}
MEM_IDLE_GC=${BENCH_MEMORY_IDLE_GC:-150s}
MEM_BUDGET=${BENCH_MEMORY_BUDGET_PER_TP:-100}
case "$MEM_BUDGET" in
  '' | *[!0-9]* | 0) echo "bench.sh: BENCH_MEMORY_BUDGET_PER_TP: want a positive integer of bytes, got '$MEM_BUDGET'" >&2; exit 2 ;;
esac
COUNT=${BENCH_COUNT:-5}
REPLAY_EVENTS=${BENCH_REPLAY_EVENTS:-1000000}
REPART_EVENTS=${BENCH_REPARTITION_EVENTS:-1000000}
LAT_BUSY=${BENCH_LATENCY_BUSY:-1}
LAT_BURNERS=${BENCH_LATENCY_BURNERS:-1}
case "$LAT_BURNERS" in
  '' | *[!0-9]* | 0) echo "bench.sh: BENCH_LATENCY_BURNERS: want a positive integer, got '$LAT_BURNERS'" >&2; exit 2 ;;
esac
case "$LAT_BUSY" in
  0 | 1 | only) ;;
  *) echo "bench.sh: BENCH_LATENCY_BUSY: want 0, 1 or only, got '$LAT_BUSY'" >&2; exit 2 ;;
esac
Q_STEPS=${BENCH_QUERIES_STEPS:-1000000 10000000}
Q_RUNS=${BENCH_QUERIES_RUNS:-3}
Q_REATTRIBUTED=${BENCH_QUERIES_REATTRIBUTED:-0.10}
for n in $Q_STEPS; do
  case "$n" in '' | *[!0-9]* | 0) echo "bench.sh: BENCH_QUERIES_STEPS: want positive integers, got '$Q_STEPS'" >&2; exit 2 ;; esac
done
CLUSTER_EVENTS=${BENCH_CLUSTER_EVENTS:-1000000}
CLUSTER_RUNS=${BENCH_CLUSTER_RUNS:-2}
CLUSTER_KAFKA=127.0.0.1:19091,127.0.0.1:19092,127.0.0.1:19093
CLUSTER_CH=${BENCH_CLUSTER_CLICKHOUSE:-127.0.0.1:19003}
KAFKA=127.0.0.1:9092
CH=127.0.0.1:9000

RUN_ID=bench_$(date -u +%Y%m%d_%H%M%S)_$$
OUT=$REPO/.run/bench/$RUN_ID
BIN=$OUT/bin
RESULTS=$OUT/results.tsv

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# record SECTION SUBJECT < "metric<TAB>value" lines: append them to the results.
record() { awk -v s="$1" -v j="$2" -F'\t' 'NF == 2 { print s "\t" j "\t" $1 "\t" $2 }' >>"$RESULTS"; }
fact() { printf 'facts\t%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
now_ns() { date +%s%N; }
ch() { clickhouse-client --host 127.0.0.1 --port 9000 -q "$1"; }

# quiesce: wait (up to 30s) for ClickHouse's background merges of this run's tables, so that one
# run's merges do not land on the next run.
quiesce() {
  local i
  for i in $(seq 60); do
    [ "$(ch "SELECT count() FROM system.merges WHERE startsWith(database, '$RUN_ID')")" = 0 ] && return 0
    sleep 0.5
  done
  log "merges still running after 30s; going on"
}

# svc_state: the pids of the services that scripts/services.sh started; a restart changes them.
# svc_state: the pids of the services this checkout started; empty for services started elsewhere
# (docker compose, another checkout), whose restarts it then cannot see.
svc_state() { { cat .run/kafka/kafka.pid .run/clickhouse/clickhouse.pid 2>/dev/null || true; } | tr '\n' ' '; }
svc_up() { scripts/services.sh status >/dev/null 2>&1; }

# wait_services: wait (up to 10 min) until both services answer; never starts them (a fault test
# may have stopped them on purpose).
wait_services() {
  local i
  svc_up && return 0
  log "waiting for Kafka and ClickHouse to answer again (someone stopped them)"
  for i in $(seq 600); do
    sleep 1
    svc_up && { log "services answer again after ${i}s"; sleep 5; return 0; }
  done
  die "services did not come back within 10 minutes"
}

# attempt NAME CMD...: run a measurement once the services answer; when it fails or a service
# restarted meanwhile, and the services were disturbed, repeat it (3 attempts in all).
attempt() {
  local name=$1 n before rc
  shift
  for n in 1 2 3; do
    wait_services
    before=$(svc_state)
    rc=0
    "$@" || rc=$?
    if [ "$(svc_state)" = "$before" ] && svc_up; then
      [ "$rc" = 0 ] && return 0
      die "$name failed (exit $rc)"
    fi
    log "$name: a service went down or restarted during the measurement; discarding it (attempt $n)"
    fact disturbed "$name" "attempt $n"
  done
  die "$name: disturbed 3 times"
}

top_profile() { # top_profile PROFILE OUTFILE [BINARY, default the attributor]
  local bin=${3:-$BIN/attributor}
  {
    echo "== flat"
    go tool pprof -top -nodecount=35 "$bin" "$1" 2>/dev/null
    echo
    echo "== cumulative"
    go tool pprof -top -cum -nodecount=45 "$bin" "$1" 2>/dev/null
  } >"$2"
}

cleanup() {
  local rc=$?
  trap - EXIT
  busy_core_stop
  if [ "$WHAT" = cluster ] && [ -x "$BIN/cleanup" ]; then
    [ -n "${BENCH_KEEP:-}" ] ||
      "$BIN/cleanup" --brokers "${CLUSTER_KAFKA%%,*}" --clickhouse "$CLUSTER_CH" --prefix "$RUN_ID" >"$OUT/cleanup.log" 2>&1 ||
      log "cleanup failed: see $OUT/cleanup.log"
  elif [ -x "$BIN/cleanup" ]; then
    svc_up || wait_services
    if [ -n "${BENCH_KEEP:-}" ]; then
      log "BENCH_KEEP: leaving topics and databases named $RUN_ID*"
    else
      "$BIN/cleanup" --brokers "$KAFKA" --clickhouse "$CH" --prefix "$RUN_ID" >"$OUT/cleanup.log" 2>&1 ||
        log "cleanup failed: see $OUT/cleanup.log"
    fi
  fi
  rm -rf "$OUT/replay-data" "$OUT/src"
  [ "$rc" = 0 ] || log "failed (exit $rc); logs in $OUT"
  exit "$rc"
}

# ------------------------------------------------------------------ throughput

# CPU accounting: where the 2 cores go during a measurement. cpu_ticks PID: user+system clock
# ticks the process has used (0 when it is not there); children_cpu: user+system seconds of this
# shell's finished children (bash's `times`).
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && awk '{ print $14 + $15 }' "/proc/$1/stat" || echo 0; }
svc_pids() { # the pids of ClickHouse and Kafka, however they were started
  CH_PID=$(pgrep -o -f 'clickhouse[- ]server' || true)
  KAFKA_PID=$(pgrep -o -f 'kafka\.Kafka' || true)
}
children_cpu() { # sets CHILDREN_CPU (not in a $(...) subshell, whose `times` would be its own)
  times >"$OUT/times.txt"
  CHILDREN_CPU=$(awk 'NR == 2 { gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }' "$OUT/times.txt")
}
# cpu_begin / cpu_end N: per-second CPU of ClickHouse and Kafka (and of the children this shell
# ran, the measured program) over the measurement, as metric lines for N events or rows.
cpu_begin() { svc_pids; CPU0_CH=$(cpu_ticks "$CH_PID"); CPU0_KAFKA=$(cpu_ticks "$KAFKA_PID"); children_cpu; CPU0_SELF=$CHILDREN_CPU; }
cpu_end() {
  local n=$1 ch kafka self
  children_cpu; self=$CHILDREN_CPU; ch=$(cpu_ticks "$CH_PID"); kafka=$(cpu_ticks "$KAFKA_PID")
  awk -v n="$n" -v t="$CLK_TCK" -v ch0="$CPU0_CH" -v ch1="$ch" -v k0="$CPU0_KAFKA" -v k1="$kafka" \
    -v s0="$CPU0_SELF" -v s1="$self" 'BEGIN {
      printf "cpu_s_self\t%.2f\ncpu_s_clickhouse\t%.2f\ncpu_s_kafka\t%.2f\n", s1 - s0, (ch1 - ch0) / t, (k1 - k0) / t
      printf "cpu_us_per_item_self\t%.2f\ncpu_us_per_item_clickhouse\t%.2f\ncpu_us_per_item_kafka\t%.2f\n", \
        (s1 - s0) * 1e6 / n, (ch1 - ch0) / t * 1e6 / n, (k1 - k0) / t * 1e6 / n }'
}

# attributor_run I [ARGS]: one `attributor run --until-caught-up` on a fresh group and database
# (named in LAST_DB), timed from process start to exit (everything credited, written and committed).
# Its metrics go to $OUT/attributor-I.tsv.
ATTEMPTS=0
attributor_run() {
  local i=$1 db t0 t1 secs credited compact acked
  # A discarded attempt just before this one leaves its database: drop it, lest its merges run
  # under this one.
  ch "DROP DATABASE IF EXISTS ${RUN_ID}_t${i}_$ATTEMPTS" || true
  ATTEMPTS=$((ATTEMPTS + 1))
  db=${RUN_ID}_t${i}_$ATTEMPTS
  LAST_DB=$db
  cpu_begin
  t0=$(now_ns)
  "$BIN/attributor" run --until-caught-up --brokers "$KAFKA" --clickhouse "$CH" \
    --touchpoints-topic "$RUN_ID.tp" --conversions-topic "$RUN_ID.cv" \
    --dlq-topic "$RUN_ID.dlq" --spend-topic "$RUN_ID.spend" --identities-topic "$RUN_ID.noids" \
    --group "$db" --database "$db" --progress 5s "${@:2}" 2>"$OUT/attributor-$i.log" || return 1
  t1=$(now_ns)
  cpu_end "$GENERATED" >"$OUT/attributor-$i.cpu.tsv"
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  # attributed_conversions is compact (schema 2): a row per conversion version, holding its
  # credited rows as the entries of credit_fractions.
  read -r credited compact < <(ch "SELECT sum(length(credit_fractions)), count() FROM $db.attributed_conversions")
  acked=$(sed -n 's/.* \([0-9]*\) credited rows.*/\1/p' "$OUT/attributor-$i.log" | tail -1)
  awk -v n="$GENERATED" -v s="$secs" -v c="$credited" -v a="$acked" -v k="$compact" 'BEGIN {
    printf "events\t%d\nseconds\t%s\nevents_per_s\t%.0f\ncredited_rows\t%d\ncredited_rows_acked\t%s\ncredited_per_event\t%.4f\n", n, s, n / s, c, a, c / n
    printf "compact_rows\t%d\n", k }' \
    >"$OUT/attributor-$i.tsv"
  cat "$OUT/attributor-$i.cpu.tsv" >>"$OUT/attributor-$i.tsv"
}

drain_run() { "$BIN/ceilings" drain --brokers "$KAFKA" --topics "$RUN_ID.tp,$RUN_ID.cv" >"$OUT/drain-$1.tsv"; }

insert_run() {
  cpu_begin
  "$BIN/ceilings" insert --clickhouse "$CH" --from-db "$FIRST_DB" --to-db "${RUN_ID}_ins$1" \
    --rows "$2" --batch 50000 >"$OUT/insert-$1.tsv" || { ch "DROP DATABASE IF EXISTS ${RUN_ID}_ins$1"; return 1; }
  cpu_end "$2" >>"$OUT/insert-$1.tsv"
}

bench_throughput() {
  local i compact db RUN_DBS=()
  log "throughput: generating $EVENTS events (seed 1) into $RUN_ID.tp / $RUN_ID.cv"
  wait_services
  "$BIN/attributor" generate --seed 1 --events "$EVENTS" --kafka "$KAFKA" \
    --touchpoints-topic "$RUN_ID.tp" --conversions-topic "$RUN_ID.cv" --partitions 4 --create-topics \
    2>"$OUT/generate.log" || die "generate: see $OUT/generate.log"
  GENERATED=$(sed -n 's/^wrote \([0-9]*\) events.*/\1/p' "$OUT/generate.log")
  [ -n "$GENERATED" ] || die "generate: no summary in $OUT/generate.log"
  # The profiled run comes first and is not counted: the run after a benchmark's DROP DATABASE (an
  # earlier invocation's, or another benchmark's) costs ClickHouse more (see below), and the first
  # fetches of fresh topics warm the broker; its database, too, is kept until the runs are over.
  quiesce
  log "throughput: one attributor run under --cpuprofile first (not counted)"
  attempt "attributor run under --cpuprofile" attributor_run prof --cpuprofile "$OUT/throughput.cpu.prof"
  RUN_DBS+=("$LAST_DB")
  for i in $(seq "$RUNS"); do
    quiesce
    fact load "throughput-attributor-$i" "$(loadavg)"
    attempt "attributor run $i" attributor_run "$i"
    record throughput attributor <"$OUT/attributor-$i.tsv"
    log "throughput: attributor run $i: $(awk -F'\t' '$1 == "events_per_s" { print $2 }' "$OUT/attributor-$i.tsv") events/s"
    # Each run's database is kept until the runs are over: a run started after a DROP DATABASE of
    # a run's tables cost ClickHouse 18.16 a third more CPU per event (3.4-4.7 us against 2.7-3.0
    # for runs after none, five runs of each, docs/BENCHMARKS.md "The benchmark's own drops"),
    # though ClickHouse was idle between them: a cost of the benchmark, not of the attributor.
    RUN_DBS+=("$LAST_DB")
    [ "$i" != 1 ] || FIRST_DB=$LAST_DB
    quiesce
    fact load "throughput-drain-$i" "$(loadavg)"
    attempt "drain $i" drain_run "$i"
    record throughput drain <"$OUT/drain-$i.tsv"
    log "throughput: bare drain $i: $(awk -F'\t' '$1 == "events_per_s" { print $2 }' "$OUT/drain-$i.tsv") events/s"
  done
  for db in "${RUN_DBS[@]}"; do [ "$db" = "$FIRST_DB" ] || ch "DROP DATABASE IF EXISTS $db"; done
  # The bare insert writes as many compact rows (conversion versions) as the first run did.
  compact=$(awk -F'\t' '$1 == "compact_rows" { print $2; exit }' "$OUT/attributor-1.tsv")
  for i in $(seq "$RUNS"); do
    quiesce
    fact load "throughput-insert-$i" "$(loadavg)"
    attempt "insert $i" insert_run "$i" "$compact"
    record throughput insert <"$OUT/insert-$i.tsv"
    ch "DROP DATABASE IF EXISTS ${RUN_ID}_ins$i"
    log "throughput: bare insert $i: $(awk -F'\t' '$1 == "rows_per_s" { print $2 }' "$OUT/insert-$i.tsv") compact rows/s"
  done
  ch "DROP DATABASE IF EXISTS $FIRST_DB"
  top_profile "$OUT/throughput.cpu.prof" "$OUT/throughput.pprof.txt"
}

# ------------------------------------------------------------------ repartition

# repart_run PATH I TP CV: one `attributor run --until-caught-up` over topics TP and CV on a fresh
# group and database, timed from process start to exit; metrics to $OUT/repart-PATH-I.tsv.
repart_run() {
  local path=$1 i=$2 db t0 t1 secs fwd
  ch "DROP DATABASE IF EXISTS ${RUN_ID}_r${path}${i}_$ATTEMPTS" || true
  ATTEMPTS=$((ATTEMPTS + 1))
  db=${RUN_ID}_r${path}${i}_$ATTEMPTS
  cpu_begin
  t0=$(now_ns)
  local bin=$BIN/attributor ids=(--identities-topic "${5:-$RUN_ID.noids}") n=$REPART_GENERATED
  [ "$path" != stitched ] || n=$REPART_STITCHED
  if [ "$path" = before ]; then
    bin=$OUT/before/attributor ids=() # that commit may not know the flag (nor stitch)
  fi
  "$bin" run --until-caught-up --brokers "$KAFKA" --clickhouse "$CH" \
    --touchpoints-topic "$3" --conversions-topic "$4" --dlq-topic "$RUN_ID.dlq" --spend-topic "$RUN_ID.spend" "${ids[@]}" \
    --group "$db" --database "$db" --progress 5s 2>"$OUT/repart-$path-$i.log" || return 1
  t1=$(now_ns)
  cpu_end "$n" >"$OUT/repart-$path-$i.cpu.tsv"
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  fwd=$(sed -n 's/^attributor: forwarded \([0-9]*\) events.*/\1/p' "$OUT/repart-$path-$i.log" | tail -1)
  awk -v n="$n" -v s="$secs" -v f="${fwd:-0}" 'BEGIN {
    printf "events\t%d\nseconds\t%s\nevents_per_s\t%.0f\nforwarded\t%d\n", n, s, n / s, f }' >"$OUT/repart-$path-$i.tsv"
  cat "$OUT/repart-$path-$i.cpu.tsv" >>"$OUT/repart-$path-$i.tsv"
  ch "DROP DATABASE IF EXISTS $db"
}

bench_repartition() {
  local i path
  log "repartition: generating $REPART_EVENTS events (seed 2) into $RUN_ID.rtp / $RUN_ID.rcv, copied misplaced into $RUN_ID.ftp / $RUN_ID.fcv"
  wait_services
  "$BIN/attributor" generate --seed 2 --events "$REPART_EVENTS" --kafka "$KAFKA" \
    --touchpoints-topic "$RUN_ID.rtp" --conversions-topic "$RUN_ID.rcv" --partitions 4 --create-topics \
    2>"$OUT/repart-generate.log" || die "generate: see $OUT/repart-generate.log"
  REPART_GENERATED=$(sed -n 's/^wrote \([0-9]*\) events.*/\1/p' "$OUT/repart-generate.log")
  [ -n "$REPART_GENERATED" ] || die "generate: no summary in $OUT/repart-generate.log"
  "$BIN/misplace" --brokers "$KAFKA" --from "$RUN_ID.rtp,$RUN_ID.rcv" --to "$RUN_ID.ftp,$RUN_ID.fcv" \
    >"$OUT/repart-misplace.tsv" 2>&1 || die "misplace: see $OUT/repart-misplace.tsv"
  # Logged-out traffic of about as many events, for the stitched runs.
  "$BIN/attributor" generate --seed 2 --events "$REPART_EVENTS" --logged-out-share 0.4 --kafka "$KAFKA" \
    --touchpoints-topic "$RUN_ID.stp" --conversions-topic "$RUN_ID.scv" --identities-topic "$RUN_ID.sid" --partitions 4 --create-topics \
    2>"$OUT/repart-generate-stitched.log" || die "generate: see $OUT/repart-generate-stitched.log"
  REPART_STITCHED=$(sed -n 's/^wrote \([0-9]*\) events.*/\1/p' "$OUT/repart-generate-stitched.log")
  [ -n "$REPART_STITCHED" ] || die "generate: no summary in $OUT/repart-generate-stitched.log"
  local paths="direct forwarded stitched"
  if [ -n "${BENCH_REPARTITION_BEFORE:-}" ]; then
    local before
    before=$(git rev-parse --verify "$BENCH_REPARTITION_BEFORE^{commit}") || die "BENCH_REPARTITION_BEFORE: no commit $BENCH_REPARTITION_BEFORE"
    mkdir -p "$OUT/before/src"
    git archive "$before" | tar -x -C "$OUT/before/src"
    (cd "$OUT/before/src" && go build -o "$OUT/before/attributor" ./cmd/attributor) || die "building $BENCH_REPARTITION_BEFORE"
    fact machine repartition_before "$(git rev-parse --short "$before")"
    paths="before direct forwarded stitched"
  fi
  for i in $(seq "$RUNS"); do
    for path in $paths; do
      quiesce
      fact load "repartition-$path-$i" "$(loadavg)"
      case $path in
        before|direct) attempt "repartition $path $i" repart_run "$path" "$i" "$RUN_ID.rtp" "$RUN_ID.rcv" ;;
        forwarded) attempt "repartition $path $i" repart_run "$path" "$i" "$RUN_ID.ftp" "$RUN_ID.fcv" ;;
        stitched) attempt "repartition $path $i" repart_run "$path" "$i" "$RUN_ID.stp" "$RUN_ID.scv" "$RUN_ID.sid" ;;
      esac
      record repartition "$path" <"$OUT/repart-$path-$i.tsv"
      log "repartition: $path run $i: $(awk -F'\t' '$1 == "events_per_s" { print $2 }' "$OUT/repart-$path-$i.tsv") events/s, $(awk -F'\t' '$1 == "forwarded" { print $2 }' "$OUT/repart-$path-$i.tsv") forwarded"
    done
  done
}

# ------------------------------------------------------------------ latency

LAT_ATTEMPT=0
# latency_run NAME: one latency measurement; results in $OUT/latency-NAME.tsv.
latency_run() {
  local name=$1 db=${RUN_ID}_lat$LAT_ATTEMPT t=$RUN_ID.lat$LAT_ATTEMPT
  LAT_ATTEMPT=$((LAT_ATTEMPT + 1))
  local extra=() # what the tool of an older commit (BENCH_REF without BENCH_REF_TOOLS=tree) lacks
  if "$BIN/latency" -h 2>&1 | grep -q -- '-timeline'; then
    extra=(--timeline "$OUT/latency-$name-timeline.tsv" --cpuprofile "$OUT/latency-$name-tool.cpu.prof")
  fi
  "$BIN/latency" --brokers "$KAFKA" --clickhouse "$CH" --database "$db" "${extra[@]}" \
    --touchpoints-topic "$t.tp" --conversions-topic "$t.cv" \
    --rate "$RATE" --seconds "$LAT_SECONDS" --lateness "$LATENESS" --poll 50ms \
    --log "$OUT/latency-$name-attributor.log" --lost "$OUT/latency-$name-lost.tsv" --windows "$OUT/latency-$name-windows.tsv" -- \
    ${BENCH_LATENCY_GODEBUG:+env "GODEBUG=$BENCH_LATENCY_GODEBUG"} "$BIN/attributor" run --brokers "$KAFKA" --clickhouse "$CH" \
    --touchpoints-topic "$t.tp" --conversions-topic "$t.cv" \
    --dlq-topic "$t.dlq" --spend-topic "$t.spend" --identities-topic "$t.noids" --group "$db" --database "$db" \
    --allowed-lateness "$LATENESS" --log-level info --progress 5s --cpuprofile "$OUT/latency-$name.cpu.prof" \
    >"$OUT/latency-$name.tsv"
  local rc=$?
  [ "$name" != busy ] || burner_done
  ch "DROP DATABASE IF EXISTS $db" || true
  return $rc
}

# busy_core_start / busy_core_stop: another job keeping one core busy, a CPU burner that does not
# touch the disk (sha256 of /dev/zero), for the busy latency run; BENCH_LATENCY_BURNERS of them.
BURNER_PID=
busy_core_start() {
  local i
  for i in $(seq "$LAT_BURNERS"); do
    sha256sum /dev/zero &
    BURNER_PID="$BURNER_PID $!"
  done
  log "latency: CPU burner(s) started (pid$BURNER_PID)"
}
busy_core_stop() {
  [ -n "$BURNER_PID" ] || return 0
  local p
  for p in $BURNER_PID; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  log "latency: CPU burner(s) stopped"
  BURNER_PID=
}
burner_ticks() {
  local p t=0
  for p in $BURNER_PID; do t=$((t + $(cpu_ticks "$p"))); done
  echo "$t"
}

# latency_busy_run: latency_run busy with the burner running; latency_run stops it (burner_done)
# as soon as the measurement ends, and the cleanup on any other exit.
latency_busy_run() {
  busy_core_start
  BURNER_CPU0=$(burner_ticks)
  BURNER_T0=$(now_ns)
  latency_run busy
}

# burner_done: stop the burner and append the CPU it got, and its share of a core over the
# measurement, to $OUT/latency-busy.tsv: 1 on a machine with a core to spare, less when the
# machine was already oversubscribed (the burner then only joined the queue); with
# BENCH_LATENCY_BURNERS above 1, the burners' together (up to their number).
burner_done() {
  local b1 t1
  b1=$(burner_ticks)
  t1=$(now_ns)
  busy_core_stop
  awk -v a="$BURNER_CPU0" -v b="$b1" -v t="$CLK_TCK" -v w0="$BURNER_T0" -v w1="$t1" 'BEGIN {
    printf "burner_cpu_s\t%.1f\nburner_core_share\t%.2f\n", (b - a) / t, (b - a) / t / ((w1 - w0) / 1e9) }' >>"$OUT/latency-busy.tsv"
  printf 'burners\t%s\n' "$LAT_BURNERS" >>"$OUT/latency-busy.tsv"
}

bench_latency() {
  local name
  if [ "$LAT_BUSY" != only ]; then
    quiesce
    fact load latency-quiet "$(loadavg)"
    log "latency: ${RATE} events/s for ${LAT_SECONDS}s, allowed lateness $LATENESS"
    attempt latency latency_run quiet
    record latency live <"$OUT/latency-quiet.tsv"
  fi
  if [ "$LAT_BUSY" != 0 ]; then
    quiesce
    fact load latency-busy "$(loadavg)"
    log "latency: again while a CPU burner keeps one core busy"
    attempt "latency, one core busy" latency_busy_run
    record latency busy <"$OUT/latency-busy.tsv"
  fi
  for name in quiet busy; do
    [ -f "$OUT/latency-$name.tsv" ] || continue
    top_profile "$OUT/latency-$name.cpu.prof" "$OUT/latency-$name.pprof.txt"
    [ ! -f "$OUT/latency-$name-tool.cpu.prof" ] || top_profile "$OUT/latency-$name-tool.cpu.prof" "$OUT/latency-$name-tool.pprof.txt" "$BIN/latency"
    log "latency ($name): p99 $(awk -F'\t' '$1 == "p99_ms" { print $2 }' "$OUT/latency-$name.tsv") ms beyond the allowed lateness"
  done
}

# ------------------------------------------------------------------ queries

# queries_run N: one queries measurement of N conversions on a fresh database; results in
# $OUT/queries-N.tsv, progress in $OUT/queries-N.log.
Q_ATTEMPT=0
queries_run() {
  local n=$1 db=${RUN_ID}_q$1_$Q_ATTEMPT rc=0
  Q_ATTEMPT=$((Q_ATTEMPT + 1))
  "$BIN/queries" --clickhouse "$CH" --database "$db" --conversions "$n" --runs "$Q_RUNS" \
    --reattributed "$Q_REATTRIBUTED" >"$OUT/queries-$n.tsv" 2>"$OUT/queries-$n.log" || rc=$?
  ch "DROP DATABASE IF EXISTS $db" || true
  [ "$rc" = 0 ] || { tail -3 "$OUT/queries-$n.log" >&2; return "$rc"; }
}

bench_queries() {
  local n
  for n in $Q_STEPS; do
    quiesce
    fact load "queries-$n" "$(loadavg)"
    log "queries: $n conversions through the sink, a rollup, then 14 queries x $Q_RUNS runs (progress: $OUT/queries-$n.log)"
    attempt "queries $n" queries_run "$n"
    record queries "n=$n" <"$OUT/queries-$n.tsv"
    fact load "queries-$n-end" "$(loadavg)"
    log "queries: $n conversions: fill $(tsv_value fill_seconds "$OUT/queries-$n.tsv") s, $(tsv_value disk_bytes_per_conversion "$OUT/queries-$n.tsv") B on disk per conversion"
  done
}

# ------------------------------------------------------------------ memory

free_port() {
  local p
  for p in $(seq 19400 19499); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  die "no free port in 19400-19499"
}

# memory_run SUFFIX [ATTRIBUTOR RUN ARGS...]: the memory program on fresh topics; results in
# $OUT/memory$SUFFIX.tsv, the attributor's log in $OUT/memory$SUFFIX-attributor.log and its heap
# profile, taken when the program stops it (state still held), in $OUT/memory$SUFFIX.heap.prof.
MEM_ATTEMPT=0
memory_run() {
  local name=$1 db=${RUN_ID}_mem$MEM_ATTEMPT t=$RUN_ID.mem$MEM_ATTEMPT port
  shift
  MEM_ATTEMPT=$((MEM_ATTEMPT + 1))
  port=$(free_port)
  "$BIN/memory" --brokers "$KAFKA" --touchpoints-topic "$t.tp" --conversions-topic "$t.cv" \
    --users "$MEM_USERS" --per-user 5 --metrics "http://127.0.0.1:$port/metrics" --idle-gc "$MEM_IDLE_GC" \
    --log "$OUT/memory$name-attributor.log" -- \
    env GODEBUG=gctrace=1 "$BIN/attributor" run --brokers "$KAFKA" --clickhouse "$CH" \
    --touchpoints-topic "$t.tp" --conversions-topic "$t.cv" \
    --dlq-topic "$t.dlq" --spend-topic "$t.spend" --identities-topic "$t.noids" --group "$db" --database "$db" \
    --lookback 720h --metrics-addr "127.0.0.1:$port" --log-level info --progress 10s \
    --memprofile "$OUT/memory$name.heap.prof" "$@" \
    >"$OUT/memory$name.tsv"
  local rc=$?
  ch "DROP DATABASE IF EXISTS $db" || true
  [ "$rc" != 0 ] || go tool pprof -sample_index=inuse_space -top -nodecount=25 \
    "$BIN/attributor" "$OUT/memory$name.heap.prof" >"$OUT/memory$name.heap.txt" 2>/dev/null || true
  return $rc
}

tsv_value() { awk -F'\t' -v m="$1" '$1 == m { print $2 }' "$2"; }

bench_memory() {
  local tps baseline limit
  quiesce
  fact load memory "$(loadavg)"
  log "memory: $MEM_USERS users x 5 touchpoints held by attributor run (default GC)"
  attempt memory memory_run ""
  record memory rss <"$OUT/memory.tsv"
  log "memory: $(tsv_value bytes_per_tp "$OUT/memory.tsv") resident bytes per held touchpoint"

  # The budget is the target itself: (RSS - empty-state RSS) / touchpoints <= MEM_BUDGET, so the
  # limit is MEM_BUDGET x touchpoints + the empty-state RSS that the first run measured. (The
  # runtime's limit counts Go's memory, not the binary's resident text, which that RSS includes:
  # the budget is a few MiB generous, and the measured RSS shows any overshoot.)
  tps=$((MEM_USERS * 5))
  baseline=$(tsv_value baseline_rss_kb "$OUT/memory.tsv")
  [ -n "$baseline" ] || die "memory: no baseline_rss_kb in $OUT/memory.tsv"
  limit=$((MEM_BUDGET * tps + baseline * 1024))
  quiesce
  fact load memory-budget "$(loadavg)"
  log "memory: again under --memory-limit $limit ($MEM_BUDGET B x $tps touchpoints + the empty-state RSS, $baseline kB)"
  attempt "memory with budget" memory_run -budget --memory-limit "$limit"
  printf 'budget_bytes_per_tp\t%s\nbudget_base_kb\t%s\n' "$MEM_BUDGET" "$baseline" | record memory budget
  record memory budget <"$OUT/memory-budget.tsv"
  log "memory: $(tsv_value bytes_per_tp "$OUT/memory-budget.tsv") resident bytes per held touchpoint under the budget"

  quiesce
  log "memory: BenchmarkShardState (-count 3) and a heap profile of the full shard"
  (cd "$SRC" && BENCH_HEAP_PROFILE=$OUT/shard.heap.prof go test -run '^$' -bench '^BenchmarkShardState$' -count 3 \
    -o "$BIN/pipeline.test" ./pipeline/sessionize) >"$OUT/shardstate-gobench.txt" || die "BenchmarkShardState: see $OUT/shardstate-gobench.txt"
  gobench_record memory <"$OUT/shardstate-gobench.txt"
  go tool pprof -sample_index=inuse_space -top -nodecount=25 -ignore 'benchTouchpoints' \
    "$BIN/pipeline.test" "$OUT/shard.heap.prof" >"$OUT/shard.heap.txt" 2>/dev/null
}

# ------------------------------------------------------------------ engine

# gobench_record SECTION < go test -bench output: one line per benchmark, unit and run.
gobench_record() {
  awk -v s="$1" '/^Benchmark/ { name = $1; sub(/-[0-9]+$/, "", name)
    for (i = 3; i < NF; i += 2) printf "%s\t%s\t%s\t%s\n", s, name, $(i + 1), $i }' >>"$RESULTS"
}

bench_engine() {
  local i t0 t1 n
  quiesce
  fact load engine "$(loadavg)"
  log "engine: go test -bench . -benchmem -count $COUNT ./attribution"
  (cd "$SRC" && go test -run '^$' -bench . -benchmem -count "$COUNT" ./attribution) >"$OUT/engine-gobench.txt" ||
    die "engine benchmarks: see $OUT/engine-gobench.txt"
  gobench_record engine <"$OUT/engine-gobench.txt"
  log "engine: attributor replay over $REPLAY_EVENTS generated events, $RUNS runs"
  "$BIN/attributor" generate --seed 1 --events "$REPLAY_EVENTS" --out "$OUT/replay-data" 2>"$OUT/replay-generate.log"
  n=$(cat "$OUT/replay-data/touchpoints.ndjson" "$OUT/replay-data/conversions.ndjson" | wc -l)
  for i in $(seq "$RUNS"); do
    t0=$(now_ns)
    "$BIN/attributor" replay --touchpoints "$OUT/replay-data/touchpoints.ndjson" \
      --conversions "$OUT/replay-data/conversions.ndjson" >/dev/null 2>"$OUT/replay-$i.log" ||
      die "replay: see $OUT/replay-$i.log"
    t1=$(now_ns)
    awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { s = (b - a) / 1e9
      printf "events\t%d\nseconds\t%.3f\nevents_per_s\t%.0f\n", n, s, n / s }' | record engine replay
  done
  rm -rf "$OUT/replay-data"
}

# ------------------------------------------------------------------ cluster

chc() { clickhouse-client --host "${CLUSTER_CH%:*}" --port "${CLUSTER_CH##*:}" -q "$1"; }

# cluster_instance DB LOG: one `attributor run --until-caught-up` of the group DB. When it caught
# up but its last rows did not become durable within its 25 s drain timeout (which happens on a
# machine loaded far beyond its cores), it exits 1 with its offsets uncommitted: it is started
# again (it resumes from the committed offsets), up to 3 times, and the time counts.
cluster_instance() {
  local db=$1 logf=$2 try
  for try in 1 2 3 4; do
    "$BIN/attributor" run --until-caught-up --brokers "$CLUSTER_KAFKA" --clickhouse "$CLUSTER_CH" \
      --touchpoints-topic "$RUN_ID.ctp" --conversions-topic "$RUN_ID.ccv" \
      --dlq-topic "$RUN_ID.cdlq" --spend-topic "$RUN_ID.cspend" --identities-topic "$RUN_ID.cids" \
      --group "$db" --database "$db" --progress 5s --log-level info 2>>"$logf" && return 0
    tail -1 "$logf" | grep -q 'within the drain timeout' || return 1
  done
  return 1
}

# cluster_run N I: N attributor instances in one group, started together on fresh group and
# database, timed from the first start to the last exit.
cluster_run() {
  local n=$1 i=$2 db=${RUN_ID}_c$1_$2 k t0 t1 secs credited rc=0 pids=()
  chc "DROP DATABASE IF EXISTS $db"
  "$BIN/attributor" migrate --clickhouse "$CLUSTER_CH" --database "$db" >"$OUT/cluster-$n-$i-migrate.log" 2>&1 ||
    die "migrate: see $OUT/cluster-$n-$i-migrate.log"
  t0=$(now_ns)
  for k in $(seq "$n"); do
    cluster_instance "$db" "$OUT/cluster-$n-$i-$k.log" &
    pids+=($!)
  done
  for k in "${pids[@]}"; do wait "$k" || rc=$?; done
  t1=$(now_ns)
  [ "$rc" = 0 ] || die "cluster: an instance of the $n-instance run $i failed (exit $rc): see $OUT/cluster-$n-$i-*.log"
  CLUSTER_RESTARTS=$(cat "$OUT"/cluster-$n-$i-*.log | grep -c 'within the drain timeout' || true)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  credited=$(chc "SELECT count() FROM $db.credited_conversions")
  CLUSTER_SUM=$(chc "SELECT sum(revenue_micros), count() FROM $db.credited_conversions" | tr '\t' ' ')
  awk -v n="$GENERATED" -v s="$secs" -v c="$credited" 'BEGIN {
    printf "events\t%d\nseconds\t%s\nevents_per_s\t%.0f\ncredited_rows\t%d\n", n, s, n / s, c }' >"$OUT/cluster-$n-$i.tsv"
  printf 'drain_timeout_restarts\t%d\n' "$CLUSTER_RESTARTS" >>"$OUT/cluster-$n-$i.tsv"
  chc "DROP DATABASE IF EXISTS $db"
}

bench_cluster() {
  local n i first=
  scripts/cluster.sh status >"$OUT/cluster-status.log" 2>&1 ||
    die "the clusters are not all up (see $OUT/cluster-status.log): run scripts/cluster.sh up"
  log "cluster: $CLUSTER_EVENTS events into $RUN_ID.ctp / $RUN_ID.ccv (6 partitions, RF 3) on $CLUSTER_KAFKA"
  "$BIN/attributor" topics create --brokers "$CLUSTER_KAFKA" --partitions 6 --replication-factor 3 \
    --touchpoints-topic "$RUN_ID.ctp" --conversions-topic "$RUN_ID.ccv" --dlq-topic "$RUN_ID.cdlq" \
    --spend-topic "$RUN_ID.cspend" --identities-topic "$RUN_ID.cids" >"$OUT/cluster-topics.log" 2>&1 || die "topics create: see $OUT/cluster-topics.log"
  "$BIN/attributor" generate --seed 1 --events "$CLUSTER_EVENTS" --kafka "${CLUSTER_KAFKA%%,*}" \
    --touchpoints-topic "$RUN_ID.ctp" --conversions-topic "$RUN_ID.ccv" --partitions 6 \
    2>"$OUT/cluster-generate.log" || die "generate: see $OUT/cluster-generate.log"
  GENERATED=$(sed -n 's/^wrote \([0-9]*\) events.*/\1/p' "$OUT/cluster-generate.log")
  [ -n "$GENERATED" ] || die "generate: no summary in $OUT/cluster-generate.log"
  fact machine clickhouse "$(chc 'SELECT version()')"
  for i in $(seq "$CLUSTER_RUNS"); do
    for n in 1 2 3; do
      fact load "cluster-$n-$i" "$(loadavg)"
      cluster_run "$n" "$i"
      record cluster "instances-$n" <"$OUT/cluster-$n-$i.tsv"
      [ -n "$first" ] || first=$CLUSTER_SUM
      [ "$CLUSTER_SUM" = "$first" ] ||
        die "cluster: $n instances, run $i credited (revenue, rows) $CLUSTER_SUM, the first run $first"
      log "cluster: $n instance(s), run $i: $(awk -F'\t' '$1 == "events_per_s" { print $2 }' "$OUT/cluster-$n-$i.tsv") events/s"
    done
  done
}

# ------------------------------------------------------------------ main

command -v go >/dev/null 2>&1 || { echo "bench.sh: go is not installed" >&2; exit 1; }
mkdir -p "$BIN"
trap cleanup EXIT
trap 'exit 130' INT TERM

# A running fault test (pipeline/faults) stops and starts the services itself: starting them under
# it would break it, so wait for it to bring them back instead.
if ! svc_up && pgrep -f 'faults\.test' >/dev/null; then
  log "a fault test of pipeline/faults is running with the services down: waiting, not starting them"
  wait_services
fi
if [ "$WHAT" != cluster ]; then
  scripts/services.sh up >"$OUT/services.log" 2>&1 || { cat "$OUT/services.log" >&2; die "services did not start"; }
fi
SRC=$REPO
REF=
if [ -n "${BENCH_REF:-}" ]; then
  REF=$(git rev-parse --verify "$BENCH_REF^{commit}") || die "BENCH_REF: no commit $BENCH_REF"
  SRC=$OUT/src
  mkdir -p "$SRC"
  git archive "$REF" | tar -x -C "$SRC"
fi
log "building $( [ -n "$REF" ] && git rev-parse --short "$REF" || echo 'the working tree') into $BIN"
# BENCH_REF_TOOLS=tree: only the attributor comes from BENCH_REF, the measuring programs
# (latency's producer and poller, ...) from the working tree, so that two commits' attributors are
# measured by the same tools.
TOOLS_SRC=$SRC
[ "${BENCH_REF_TOOLS:-}" != tree ] || TOOLS_SRC=$REPO
(cd "$SRC" && go build -o "$BIN/attributor" ./cmd/attributor && cd "$TOOLS_SRC" &&
  for p in ceilings latency memory queries cleanup report misplace; do go build -o "$BIN/$p" "./scripts/bench/$p"; done)

fact machine nproc "$(nproc)"
fact machine cpu "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
fact machine go "$(go version | awk '{ print $3 }')"
fact machine kafka "$(ls "${KAFKA_LIBS:-.cache/kafka/libs}" 2>/dev/null | sed -n 's/^kafka-clients-\(.*\)\.jar$/\1/p' | head -1)"
[ "$WHAT" = cluster ] || fact machine clickhouse "$(ch 'SELECT version()')"
if [ -n "$REF" ]; then
  fact machine commit "$(git rev-parse --short "$REF")$( [ "$TOOLS_SRC" = "$SRC" ] || echo " (benchmark programs: the working tree at $(git rev-parse --short HEAD))")"
else
  fact machine commit "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs' 2>/dev/null || echo ' + uncommitted changes')"
fi
fact machine command "scripts/bench.sh $WHAT (BENCH_EVENTS=$EVENTS BENCH_RUNS=$RUNS BENCH_LATENCY_RATE=$RATE BENCH_LATENCY_SECONDS=$LAT_SECONDS BENCH_MEMORY_USERS=$MEM_USERS BENCH_MEMORY_IDLE_GC=$MEM_IDLE_GC BENCH_MEMORY_BUDGET_PER_TP=$MEM_BUDGET BENCH_COUNT=$COUNT BENCH_REPLAY_EVENTS=$REPLAY_EVENTS BENCH_REPARTITION_EVENTS=$REPART_EVENTS BENCH_LATENCY_BUSY=$LAT_BUSY BENCH_LATENCY_BURNERS=$LAT_BURNERS$([ "$WHAT" = queries ] && echo " BENCH_QUERIES_STEPS='$Q_STEPS' BENCH_QUERIES_RUNS=$Q_RUNS BENCH_QUERIES_REATTRIBUTED=$Q_REATTRIBUTED")$([ "$WHAT" = cluster ] && echo " BENCH_CLUSTER_EVENTS=$CLUSTER_EVENTS BENCH_CLUSTER_RUNS=$CLUSTER_RUNS BENCH_CLUSTER_CLICKHOUSE=$CLUSTER_CH"))"
fact load start "$(loadavg)"
log "run $RUN_ID: $WHAT; results in $OUT"

case "$WHAT" in
  all) bench_throughput; bench_repartition; bench_latency; bench_memory; bench_engine ;;
  throughput) bench_throughput ;;
  repartition) bench_repartition ;;
  latency) bench_latency ;;
  memory) bench_memory ;;
  engine) bench_engine ;;
  queries) bench_queries ;;
  cluster) bench_cluster ;;
esac

fact load end "$(loadavg)"
"$BIN/report" "$RESULTS" | tee "$OUT/summary.md"
echo
echo "raw results: $RESULTS; profiles: $OUT/*.pprof.txt; summary: $OUT/summary.md"
