#!/usr/bin/env bash
# A Kafka cluster and a ClickHouse cluster on this machine, on loopback, beside (never instead of)
# the single-node services of scripts/services.sh.
#
#   scripts/cluster.sh up [NODE]     start what is not running, wait until every node answers
#   scripts/cluster.sh status        show each node; exit 0 only if all answer and the clusters are whole
#   scripts/cluster.sh down [NODE]   stop (SIGTERM) what `up` started; NODE alone if named
#   scripts/cluster.sh kill NODE     SIGKILL one node (fault tests); `up NODE` brings it back
#   scripts/cluster.sh selftest      end-to-end checks on a running cluster (see cmd_selftest)
#   scripts/cluster.sh reset         down, then wipe .run/cluster (fresh data on next up)
#
# NODE is one of kafka1 kafka2 kafka3 zookeeper ch1 ch2 ch3 ch4.
#
# Kafka 4.1.1, 3 KRaft nodes, each broker+controller, one quorum of 3 voters:
#   kafkaN  PLAINTEXT 127.0.0.1:1909N, controller 127.0.0.1:1919N   (N = 1..3, node.id N)
#   default.replication.factor=3, min.insync.replicas=2, auto.create.topics.enable=false
# ZooKeeper 3.8 (Debian package `zookeeper`), standalone, client port 127.0.0.1:12181
#   (needed by ClickHouse 18.16 for Replicated tables and ON CLUSTER DDL).
# ClickHouse (Debian 18.16), cluster `attributor_cluster` of 2 shards x 2 replicas:
#   chN  native 127.0.0.1:1900N, HTTP 127.0.0.1:1812N, interserver 127.0.0.1:1901N  (N = 1..4)
#   shard 01 = ch1, ch2; shard 02 = ch3, ch4; macros {cluster} {shard} {replica} (replica = chN),
#   so ReplicatedMergeTree('/clickhouse/tables/{shard}/db/table', '{replica}') works ON CLUSTER.
# Config, data, logs and pid files live in .run/cluster/ (gitignored). The Kafka jars are those of
# scripts/services.sh (.cache/kafka/libs, fetched once with maven; set KAFKA_LIBS to reuse another
# checkout's cache). Heaps are small (KAFKA_HEAP, default 512m; ZooKeeper 256m) and ClickHouse
# caches modest: the whole cluster fits in ~3 GB.
set -euo pipefail

CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_libs=${KAFKA_LIBS:-}
_heap=${KAFKA_HEAP:-512m}
# shellcheck source=services.sh
source "$CLUSTER_DIR/services.sh"
KAFKA_LIBS=${_libs:-$KAFKA_LIBS}
KAFKA_HEAP=$_heap

log() { printf '[cluster] %s\n' "$*"; }
die() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

CRUN=$RUN/cluster
HOST=127.0.0.1
CLUSTER_NAME=attributor_cluster
UP_TIMEOUT=${CLUSTER_UP_TIMEOUT:-180}

KAFKA_NODES=(kafka1 kafka2 kafka3)
CH_NODES=(ch1 ch2 ch3 ch4)
ALL_NODES=(zookeeper "${CH_NODES[@]}" "${KAFKA_NODES[@]}")

ZK_PORT=12181
ZK_HEAP=256m

kafka_port() { echo $((19090 + ${1#kafka})); }
kafka_controller_port() { echo $((19190 + ${1#kafka})); }
ch_tcp_port() { echo $((19000 + ${1#ch})); }
ch_http_port() { echo $((18120 + ${1#ch})); }
ch_interserver_port() { echo $((19010 + ${1#ch})); }
ch_shard() { printf '%02d' $(((${1#ch} + 1) / 2)); }

BOOTSTRAP=$HOST:19091,$HOST:19092,$HOST:19093

node_dir() { echo "$CRUN/$1"; }
node_pidfile() { echo "$CRUN/$1/$1.pid"; }
node_pattern() {
  case $1 in
    kafka*) echo "$CRUN/$1/server.properties" ;;
    zookeeper) echo "$CRUN/zookeeper/zoo.cfg" ;;
    ch*) echo "$CRUN/$1/config.xml" ;;
  esac
}
node_log() {
  case $1 in
    kafka*) echo "$CRUN/$1/logs/server.log" ;;
    zookeeper) echo "$CRUN/zookeeper/zookeeper.out" ;;
    ch*) echo "$CRUN/$1/log/clickhouse-server.err.log" ;;
  esac
}
node_pid() { pid_of "$(node_pidfile "$1")" "$(node_pattern "$1")"; }

# ---------------------------------------------------------------- answering

kafka_node_answering() {
  kcat -b "$HOST:$(kafka_port "$1")" -L -m 5 2>/dev/null | grep -q '^ [0-9]* brokers:'
}

# kafka_whole: the metadata, asked of every broker that answers, lists all 3 brokers
kafka_whole() {
  local n seen=0
  for n in "${KAFKA_NODES[@]}"; do
    kcat -b "$HOST:$(kafka_port "$n")" -L -m 5 2>/dev/null | grep -q '^ 3 brokers:' && seen=$((seen + 1))
  done
  [ "$seen" = 3 ]
}

zk_answering() {
  [ "$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf ruok >&3 && cat <&3' "$HOST" "$ZK_PORT" 2>/dev/null)" = imok ]
}

chq() { # chq NODE SQL...: run a query on one ClickHouse node
  local n=$1
  shift
  clickhouse-client --host "$HOST" --port "$(ch_tcp_port "$n")" -q "$*"
}

ch_node_answering() {
  [ "$(curl -s -m 3 "http://$HOST:$(ch_http_port "$1")/ping" 2>/dev/null)" = "Ok." ] || return 1
  [ "$(chq "$1" "SELECT count() FROM system.clusters WHERE cluster = '$CLUSTER_NAME'" 2>/dev/null)" = 4 ] || return 1
  # ZooKeeper reachable from this server (Replicated tables and ON CLUSTER need it)
  chq "$1" "SELECT count() FROM system.zookeeper WHERE path = '/'" >/dev/null 2>&1
}

node_answering() {
  case $1 in
    kafka*) kafka_node_answering "$1" ;;
    zookeeper) zk_answering ;;
    ch*) ch_node_answering "$1" ;;
  esac
}

node_port() {
  case $1 in
    kafka*) kafka_port "$1" ;;
    zookeeper) echo $ZK_PORT ;;
    ch*) ch_tcp_port "$1" ;;
  esac
}

# ---------------------------------------------------------------- zookeeper

zk_ensure() {
  [ -f /usr/share/java/zookeeper.jar ] && [ -f /usr/share/java/slf4j-simple.jar ] && return 0
  log "installing with apt-get: zookeeper libslf4j-java"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q zookeeper libslf4j-java
}

zk_start() {
  local d=$CRUN/zookeeper
  mkdir -p "$d/data"
  cat >"$d/zoo.cfg" <<EOF
# Written by scripts/cluster.sh; overwritten on up.
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$d/data
clientPort=$ZK_PORT
clientPortAddress=$HOST
maxClientCnxns=200
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,mntr
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
EOF
  start_bg "$(node_pidfile zookeeper)" "$d/zookeeper.out" \
    java -Xmx$ZK_HEAP -Xms64m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.showDateTime=true -Dzookeeper.jmx.log4j.disable=true \
    -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg"
}

# ---------------------------------------------------------------- kafka

kafka_voters() {
  local n out=""
  for n in 1 2 3; do out+="${out:+,}$n@$HOST:$((19190 + n))"; done
  echo "$out"
}

kafka_node_config() {
  local node=$1 id=${1#kafka} d=$CRUN/$1 port ctl
  port=$(kafka_port "$node")
  ctl=$(kafka_controller_port "$node")
  mkdir -p "$d/logs" "$d/data"
  cat >"$d/server.properties" <<EOF
# Written by scripts/cluster.sh; overwritten on up.
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$(kafka_voters)
listeners=PLAINTEXT://$HOST:$port,CONTROLLER://$HOST:$ctl
advertised.listeners=PLAINTEXT://$HOST:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$d/data
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
auto.create.topics.enable=false
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
unclean.leader.election.enable=false
num.network.threads=2
num.io.threads=4
num.replica.fetchers=1
background.threads=4
log.cleaner.threads=1
# room for ~11 MB messages, as the single node
message.max.bytes=16777216
replica.fetch.max.bytes=16777216
EOF
  kafka_write_log4j "$d" "50 MB" 2 scripts/cluster.sh
}

# kjava NODE MAINCLASS ARGS...: run a Kafka JVM with NODE's logging setup, printed NUL-separated.
kjava_cmd() {
  local d=$CRUN/$1
  shift
  printf '%s\0' java -Xmx"$KAFKA_HEAP" -Xms128m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:MaxDirectMemorySize=256m -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$d/log4j2.xml" -Dkafka.logs.dir="$d/logs" \
    -cp "$KAFKA_LIBS/*" "$@"
}

# kafka_tool CLASS ARGS...: an admin tool (TopicCommand, ...) on a small heap, quiet logging.
kafka_tool() {
  java -Xmx256m -Dlog4j2.level=WARN -cp "$KAFKA_LIBS/*" "$@"
}

kafka_cluster_id() {
  local f=$CRUN/kafka.cluster-id
  if [ ! -s "$f" ]; then
    mkdir -p "$CRUN"
    java -Xmx256m -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null >"$f.tmp"
    mv "$f.tmp" "$f"
  fi
  cat "$f"
}

kafka_node_start() {
  local node=$1 d=$CRUN/$1 cmd id
  kafka_node_config "$node"
  if [ ! -f "$d/data/meta.properties" ]; then
    id=$(kafka_cluster_id)
    log "$node: formatting storage (cluster id $id)"
    mapfile -d '' cmd < <(kjava_cmd "$node" kafka.tools.StorageTool format -t "$id" -c "$d/server.properties")
    "${cmd[@]}" >>"$d/logs/format.log" 2>&1 ||
      { tail -n 30 "$d/logs/format.log" >&2; die "$node: storage format failed"; }
  fi
  mapfile -d '' cmd < <(kjava_cmd "$node" kafka.Kafka "$d/server.properties")
  start_bg "$(node_pidfile "$node")" "$d/logs/kafka.out" "${cmd[@]}"
}

# ---------------------------------------------------------------- clickhouse

ch_remote_servers() {
  local s r n
  echo "    <remote_servers>"
  echo "        <$CLUSTER_NAME>"
  for s in 1 2; do
    echo "            <shard>"
    echo "                <internal_replication>true</internal_replication>"
    for r in 1 2; do
      n=$(((s - 1) * 2 + r))
      echo "                <replica><host>$HOST</host><port>$((19000 + n))</port></replica>"
    done
    echo "            </shard>"
  done
  echo "        </$CLUSTER_NAME>"
  echo "    </remote_servers>"
}

ch_node_config() {
  local node=$1 d=$CRUN/$1
  mkdir -p "$d"/{data,tmp,user_files,format_schemas,log}
  cat >"$d/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Written by scripts/cluster.sh for the Debian clickhouse-server (18.16); overwritten on up. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$d/log/clickhouse-server.log</log>
        <errorlog>$d/log/clickhouse-server.err.log</errorlog>
        <size>50M</size>
        <count>2</count>
    </logger>
    <listen_host>$HOST</listen_host>
    <http_port>$(ch_http_port "$node")</http_port>
    <tcp_port>$(ch_tcp_port "$node")</tcp_port>
    <interserver_http_port>$(ch_interserver_port "$node")</interserver_http_port>
    <interserver_http_host>$HOST</interserver_http_host>
    <max_connections>256</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>50</max_concurrent_queries>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <mark_cache_size>67108864</mark_cache_size>
    <path>$d/data/</path>
    <tmp_path>$d/tmp/</tmp_path>
    <user_files_path>$d/user_files/</user_files_path>
    <format_schema_path>$d/format_schemas/</format_schema_path>
    <users_config>$CRUN/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
$(ch_remote_servers)
    <zookeeper>
        <node><host>$HOST</host><port>$ZK_PORT</port></node>
        <session_timeout_ms>30000</session_timeout_ms>
    </zookeeper>
    <macros>
        <cluster>$CLUSTER_NAME</cluster>
        <shard>$(ch_shard "$node")</shard>
        <replica>$node</replica>
    </macros>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>
</yandex>
EOF
}

ch_users_config() {
  mkdir -p "$CRUN"
  cat >"$CRUN/users.xml" <<'EOF'
<?xml version="1.0"?>
<!-- Written by scripts/cluster.sh: user default, no password, local use only; modest limits. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>in_order</load_balancing>
            <background_pool_size>4</background_pool_size>
            <max_threads>2</max_threads>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

ch_node_start() {
  local node=$1
  ch_users_config
  ch_node_config "$node"
  start_bg "$(node_pidfile "$node")" "$CRUN/$node/log/stdout.log" \
    clickhouse-server --config-file="$CRUN/$node/config.xml"
}

# ---------------------------------------------------------------- node lifecycle

node_start() {
  case $1 in
    kafka*) kafka_node_start "$1" ;;
    zookeeper) zk_start ;;
    ch*) ch_node_start "$1" ;;
  esac
}

# node_prepare NODE: print start|wait|skip (like services.sh's prepare, per node)
node_prepare() {
  local node=$1 pid port
  port=$(node_port "$node")
  if pid=$(node_pid "$node"); then
    if node_answering "$node"; then echo skip; else echo wait; fi
    return
  fi
  rm -f "$(node_pidfile "$node")"
  if port_open "$HOST" "$port"; then
    die "$node: port $port is taken by a process this script did not start"
  fi
  echo start
}

node_wait() {
  local node=$1 start=$2 logf
  logf=$(node_log "$node")
  while ! node_answering "$node"; do
    if ! node_pid "$node" >/dev/null; then
      echo "---- tail of $logf" >&2
      tail -n 40 "$logf" >&2 || true
      die "$node: process exited before answering"
    fi
    if [ $((SECONDS - start)) -ge "$UP_TIMEOUT" ]; then
      echo "---- tail of $logf" >&2
      tail -n 40 "$logf" >&2 || true
      die "$node: not answering after ${UP_TIMEOUT}s (still running, pid $(node_pid "$node"))"
    fi
    sleep 0.5
  done
}

node_stop() {
  local node=$1 sig=${2:-TERM} pid i
  if ! pid=$(node_pid "$node"); then
    rm -f "$(node_pidfile "$node")"
    log "$node: not running"
    return 0
  fi
  log "$node: SIG$sig to pid $pid"
  kill -"$sig" "$pid" 2>/dev/null || true
  for i in $(seq $((STOP_TIMEOUT * 10))); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$(node_pidfile "$node")"; return 0; }
    sleep 0.1
  done
  log "$node: still running after ${STOP_TIMEOUT}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$(node_pidfile "$node")"
}

valid_node() {
  local n
  for n in "${ALL_NODES[@]}"; do [ "$n" = "$1" ] && return 0; done
  die "unknown node '$1' (one of: ${ALL_NODES[*]})"
}

# ---------------------------------------------------------------- commands

cmd_up() {
  local nodes=("$@") todo=() n what start=$SECONDS bg=() p
  [ "${#nodes[@]}" -gt 0 ] || nodes=("${ALL_NODES[@]}")
  ensure_packages
  zk_ensure
  kafka_fetch_jars
  mkdir -p "$CRUN"
  # ZooKeeper first: ClickHouse connects to it at start
  kafka_cluster_id >/dev/null # once, before brokers are formatted in parallel
  for n in "${nodes[@]}"; do
    what=$(node_prepare "$n") || exit 1
    [ "$what" = skip ] && { log "$n: already up"; continue; }
    if [ "$what" = start ]; then
      log "$n: starting"
      # brokers in parallel: formatting a broker's storage is a JVM start of its own
      case $n in kafka*) node_start "$n" & bg+=($!) ;; *) node_start "$n" ;; esac
    fi
    todo+=("$n")
    if [ "$n" = zookeeper ]; then node_wait zookeeper "$start"; fi
  done
  for p in "${bg[@]}"; do wait "$p" || die "kafka: a broker could not be started"; done
  for n in "${todo[@]}"; do
    node_wait "$n" "$start"
    log "$n: up after $((SECONDS - start))s"
  done
  if [[ " ${todo[*]} " == *" kafka"* ]]; then
    until kafka_whole; do
      [ $((SECONDS - start)) -lt "$UP_TIMEOUT" ] || die "kafka: the brokers do not all see 3 brokers after ${UP_TIMEOUT}s"
      sleep 0.5
    done
    log "kafka: every broker sees 3 brokers after $((SECONDS - start))s"
  fi
  log "up in $((SECONDS - start))s: kafka $BOOTSTRAP; clickhouse $CLUSTER_NAME at $HOST:19001-19004 (http 18121-18124); zookeeper $HOST:$ZK_PORT"
}

cmd_status() {
  local rc=0 n pid
  for n in "${ALL_NODES[@]}"; do
    pid=$(node_pid "$n") && pid="pid $pid" || pid="no process started by this script"
    if node_answering "$n"; then
      log "$(printf '%-9s up   %s:%s (%s)' "$n" "$HOST" "$(node_port "$n")" "$pid")"
    else
      log "$(printf '%-9s DOWN %s:%s (%s)' "$n" "$HOST" "$(node_port "$n")" "$pid")"
      rc=1
    fi
  done
  if kafka_whole; then log "kafka cluster: whole (every broker lists 3 brokers)"; else
    log "kafka cluster: NOT WHOLE (not every broker lists 3 brokers)"; rc=1; fi
  return $rc
}

cmd_down() {
  local nodes=("$@") n pids=()
  if [ "${#nodes[@]}" -gt 0 ]; then
    for n in "${nodes[@]}"; do node_stop "$n"; done
    return
  fi
  # ClickHouse, then all brokers together (a broker stopped alone waits for the quorum to move
  # its partitions; stopped together they shut down at once), then ZooKeeper.
  for n in "${CH_NODES[@]}"; do node_stop "$n" & pids+=($!); done
  wait "${pids[@]}"
  pids=()
  for n in "${KAFKA_NODES[@]}"; do node_stop "$n" & pids+=($!); done
  wait "${pids[@]}"
  node_stop zookeeper
}

cmd_reset() {
  cmd_down
  log "wiping .run/cluster"
  rm -rf "$CRUN"
}

case "${1:-}" in
  up|down|kill)
    cmd=$1
    shift
    for n in "$@"; do valid_node "$n"; done
    case $cmd in
      up) cmd_up "$@" ;;
      down) cmd_down "$@" ;;
      kill) [ $# -gt 0 ] || die "usage: $0 kill NODE..."; for n in "$@"; do node_stop "$n" KILL; done ;;
    esac
    ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  selftest)
    # shellcheck source=cluster_selftest.sh
    source "$CLUSTER_DIR/cluster_selftest.sh"
    cmd_selftest
    ;;
  *)
    echo "usage: $0 up|down [NODE...] | kill NODE... | status | selftest | reset" >&2
    echo "  nodes: ${ALL_NODES[*]}" >&2
    exit 2
    ;;
esac
