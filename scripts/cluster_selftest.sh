# Sourced by scripts/cluster.sh: `scripts/cluster.sh selftest` checks a running cluster end to end.
# Not run in CI (the clusters need ~1.3 GB and most of 2 cores while they settle).
#
# ClickHouse: a ReplicatedMergeTree table and a Distributed table over it ON CLUSTER; 1000 rows
#   inserted through the Distributed table land on both shards, each shard's two replicas hold the
#   same rows, and every server reads all 1000 back through the Distributed table; with ch2
#   SIGKILLed, 1000 more rows go in and every live server reads all 2000, and ch2 restarted
#   fetches the rows it missed from ch1.
# Kafka: a topic created without a replication factor gets 3 replicas (the cluster default);
#   messages produced with acks=all through each broker are read back through each broker;
#   with kafka3 SIGKILLed, acks=all still succeeds (2 in-sync replicas >= min.insync.replicas=2),
#   while a topic whose only other replica is kafka3 refuses acks=all (NOT_ENOUGH_REPLICAS) and
#   accepts acks=1; kafka3 restarted catches up and serves every message.
# Leaves no table or topic behind; exits non-zero at the first failed check.

ST_FAILS=0
st_ok() { log "selftest: ok   $*"; }
st_fail() { log "selftest: FAIL $*"; ST_FAILS=$((ST_FAILS + 1)); }
st_check() { # st_check DESCRIPTION WANT GOT
  if [ "$2" = "$3" ]; then st_ok "$1 ($3)"; else st_fail "$1: want $2, got $3"; fi
}

# st_wait SECONDS CMD...: retry CMD until it succeeds
st_wait() {
  local until=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $until ] || return 1
    sleep 0.5
  done
}

st_clickhouse() {
  local db=selftest_$$ n total=0 c s got
  local on="ON CLUSTER $CLUSTER_NAME"
  chq ch1 "CREATE DATABASE IF NOT EXISTS $db $on" >/dev/null
  chq ch1 "CREATE TABLE $db.events_local $on (id UInt64, s String)
    ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/$db/events_local', '{replica}') ORDER BY id" >/dev/null
  chq ch1 "CREATE TABLE $db.events $on (id UInt64, s String)
    ENGINE = Distributed($CLUSTER_NAME, $db, events_local, intHash64(id))" >/dev/null
  st_ok "ReplicatedMergeTree + Distributed created ON CLUSTER $CLUSTER_NAME"
  clickhouse-client --host "$HOST" --port 19001 --insert_distributed_sync=1 \
    -q "INSERT INTO $db.events SELECT number, toString(number) FROM system.numbers LIMIT 1000"
  for n in "${CH_NODES[@]}"; do chq "$n" "SYSTEM SYNC REPLICA $db.events_local"; done
  for s in 1 2; do
    local a b
    a=$(chq "ch$((2 * s - 1))" "SELECT count(), sum(id) FROM $db.events_local" | tr '\t' ' ')
    b=$(chq "ch$((2 * s))" "SELECT count(), sum(id) FROM $db.events_local" | tr '\t' ' ')
    st_check "shard 0$s: replica ch$((2 * s)) holds the rows of ch$((2 * s - 1))" "$a" "$b"
    c=${a%% *}
    if [ "$c" -gt 0 ]; then st_ok "shard 0$s holds $c rows"; else st_fail "shard 0$s holds no rows"; fi
    total=$((total + c))
  done
  st_check "rows over both shards" 1000 "$total"
  for n in "${CH_NODES[@]}"; do
    got=$(chq "$n" "SELECT count(), sum(id), uniqExact(s) FROM $db.events" | tr '\t' ' ')
    st_check "$n reads through the Distributed table" "1000 499500 1000" "$got"
  done

  # a replica down: inserts go to the other replica of its shard, reads still see every row,
  # and the replica restarted fetches what it missed
  node_stop ch2 KILL
  clickhouse-client --host "$HOST" --port 19003 --insert_distributed_sync=1 \
    -q "INSERT INTO $db.events SELECT number, toString(number) FROM system.numbers LIMIT 1000, 1000"
  for n in ch1 ch3 ch4; do
    got=$(chq "$n" "SELECT count(), sum(id) FROM $db.events" | tr '\t' ' ')
    st_check "$n reads through the Distributed table with ch2 killed" "2000 1999000" "$got"
  done
  cmd_up ch2 >/dev/null
  chq ch2 "SYSTEM SYNC REPLICA $db.events_local"
  a=$(chq ch1 "SELECT count(), sum(id) FROM $db.events_local" | tr '\t' ' ')
  b=$(chq ch2 "SELECT count(), sum(id) FROM $db.events_local" | tr '\t' ' ')
  st_check "ch2 restarted holds what ch1 took while it was down" "$a" "$b"
  chq ch1 "DROP DATABASE $db $on" >/dev/null
}

# kcount BROKER TOPIC: messages in TOPIC read from the beginning through BROKER alone
kcount() {
  kcat -C -b "$1" -t "$2" -o beginning -e -q -f '%p %o\n' -X topic.metadata.refresh.interval.ms=1000 2>/dev/null | wc -l
}

# kproduce BOOTSTRAP TOPIC ACKS FROM TO [KCAT-ARGS...]: produce messages FROM..TO; exit status of kcat
kproduce() {
  seq "$4" "$5" | sed 's/^/k/;s/$/\tv/' |
    kcat -P -b "$1" -t "$2" -K $'\t' -X acks="$3" -X message.timeout.ms=15000 "${@:6}" 2>"$CRUN/selftest.kcat.err"
}

brokers_seen() { [ "$(kcat -b "$1" -L -m 5 2>/dev/null | grep -c '^  broker [0-9]* at ')" = "$2" ]; }

leader_is() { # leader_is BROKER TOPIC ID: partition 0 of TOPIC is led by node ID
  [ "$(kcat -b "$1" -L -t "$2" -m 5 2>/dev/null | sed -n 's/.*partition 0, leader \([0-9]*\),.*/\1/p')" = "$3" ]
}

isr_full() { # every partition of TOPIC has 3 in-sync replicas
  kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --describe --topic "$1" 2>/dev/null |
    awk '/Partition:/ { p++; if ($0 ~ /Isr: [0-9]+,[0-9]+,[0-9]+/) f++ } END { exit !(p > 0 && p == f) }'
}

st_kafka() {
  local t=selftest-$$ t2=selftest-minisr-$$ n b got desc
  kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --create --topic "$t" --partitions 3 >/dev/null
  kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --create --topic "$t2" \
    --replica-assignment 3:1 >/dev/null
  desc=$(kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --describe --topic "$t")
  st_check "default replication factor of a new topic" 3 "$(sed -n 's/.*ReplicationFactor: \([0-9]*\).*/\1/p' <<<"$desc" | head -1)"
  st_wait 30 isr_full "$t" && st_ok "$t: 3 partitions, 3 in-sync replicas each" || st_fail "$t: ISR not full"

  for n in 1 2 3; do
    b=$HOST:$((19090 + n))
    if kproduce "$b" "$t" all $((n * 100 - 99)) $((n * 100)); then
      st_ok "100 messages with acks=all through kafka$n"
    else
      st_fail "produce through kafka$n: $(tail -n 3 "$CRUN/selftest.kcat.err")"
    fi
  done
  for n in 1 2 3; do st_check "messages read through kafka$n" 300 "$(kcount "$HOST:$((19090 + n))" "$t")"; done

  node_stop kafka3 KILL
  st_wait 60 brokers_seen "$HOST:19091" 2 && st_ok "kafka3 killed; the cluster sees 2 brokers" ||
    st_fail "the cluster still sees 3 brokers 60s after kafka3 was killed"
  st_wait 60 leader_is "$HOST:19091" "$t2" 1 || st_fail "$t2: leadership did not move to kafka1"
  if kproduce "$HOST:19091,$HOST:19092" "$t" all 301 400; then
    st_ok "acks=all with kafka3 down (2 in-sync replicas >= min.insync.replicas 2)"
  else
    st_fail "acks=all with kafka3 down: $(tail -n 3 "$CRUN/selftest.kcat.err")"
  fi
  # retries=0: report the broker's answer instead of retrying it until the message times out
  if kproduce "$HOST:19091" "$t2" all 1 1 -X retries=0; then
    st_fail "acks=all to a topic with 1 in-sync replica was accepted (min.insync.replicas not enforced)"
  elif grep -q -i 'NOT_ENOUGH_REPLICAS\|not enough' "$CRUN/selftest.kcat.err"; then
    st_ok "acks=all refused with 1 in-sync replica (NOT_ENOUGH_REPLICAS)"
  else
    st_fail "acks=all to $t2 failed for another reason: $(tail -n 3 "$CRUN/selftest.kcat.err")"
  fi
  if kproduce "$HOST:19091" "$t2" 1 1 1; then st_ok "acks=1 accepted with 1 in-sync replica"; else
    st_fail "acks=1 to $t2: $(tail -n 3 "$CRUN/selftest.kcat.err")"; fi

  cmd_up kafka3 >/dev/null
  st_ok "kafka3 restarted"
  st_wait 60 isr_full "$t" && st_ok "$t: kafka3 back in every ISR" || st_fail "$t: kafka3 did not rejoin the ISR in 60s"
  for n in 1 2 3; do st_check "messages read through kafka$n after the restart" 400 "$(kcount "$HOST:$((19090 + n))" "$t")"; done
  got=$(kcat -C -b "$HOST:19093" -t "$t" -o beginning -e -q -f '%k\n' 2>/dev/null | sort -u | wc -l)
  st_check "distinct keys (nothing lost or doubled)" 400 "$got"
  kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --delete --topic "$t" >/dev/null
  kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --delete --topic "$t2" >/dev/null
}

cmd_selftest() {
  local start=$SECONDS
  cmd_status >/dev/null || { cmd_status; die "selftest: the cluster is not up (scripts/cluster.sh up)"; }
  st_clickhouse
  st_kafka
  if [ "$ST_FAILS" -gt 0 ]; then die "selftest: $ST_FAILS check(s) failed ($((SECONDS - start))s)"; fi
  log "selftest: all checks passed ($((SECONDS - start))s)"
}
