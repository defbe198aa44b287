#!/usr/bin/env bash
# Local Kafka and ClickHouse for development and tests, without Docker.
#
#   scripts/services.sh up       start whatever is not already answering, wait until both answer
#   scripts/services.sh status   show whether each service answers; exit 0 only if both do
#   scripts/services.sh down     stop the processes that `up` started (pid files in .run/)
#   scripts/services.sh reset    down, then wipe .run/kafka and .run/clickhouse (fresh data on next up)
#
# Kafka 4.1.1: single KRaft node (broker+controller), PLAINTEXT 127.0.0.1:9092, controller 127.0.0.1:9093.
#   Jars come from Maven Central (scripts/kafka/pom.xml) into .cache/kafka/libs, fetched once.
# ClickHouse: Debian's clickhouse-server (18.16), native 127.0.0.1:9000, HTTP 127.0.0.1:8123,
#   user `default` without password. Installed with apt-get when missing (with kcat, curl, java, maven).
# Config, data, logs and pid files live in .run/ (gitignored); nothing outside the repo is used
# except apt packages and ~/.m2. A service that already answers on its port (docker-compose, a
# previous `up`) is left alone. Works from any cwd.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
CACHE=$REPO/.cache
RUN=$REPO/.run
export PATH=$PATH:/usr/sbin:/sbin

KAFKA_VERSION=4.1.1
KAFKA_HOST=127.0.0.1
KAFKA_PORT=9092
KAFKA_CONTROLLER_PORT=9093
KAFKA_LIBS=$CACHE/kafka/libs
KAFKA_RUN=$RUN/kafka
KAFKA_PID=$KAFKA_RUN/kafka.pid
KAFKA_HEAP=${KAFKA_HEAP:-1g}

CH_HOST=127.0.0.1
CH_TCP_PORT=9000
CH_HTTP_PORT=8123
CH_RUN=$RUN/clickhouse
CH_PID=$CH_RUN/clickhouse.pid

UP_TIMEOUT=${SERVICES_UP_TIMEOUT:-90}
STOP_TIMEOUT=60

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- helpers

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $*"
  fi
}

ensure_packages() {
  local missing=()
  command -v clickhouse-server >/dev/null 2>&1 || missing+=(clickhouse-server)
  command -v clickhouse-client >/dev/null 2>&1 || missing+=(clickhouse-client)
  command -v kcat >/dev/null 2>&1 || missing+=(kcat)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing with apt-get: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  if [[ " ${missing[*]} " == *" clickhouse-server "* ]]; then
    # the package's postinst may start the system service (/etc config, /var/lib data) on our
    # ports; we run our own instance from .run/ instead
    log "stopping and disabling the clickhouse-server system service that apt may have started"
    as_root systemctl disable --now clickhouse-server >/dev/null 2>&1 ||
      as_root service clickhouse-server stop >/dev/null 2>&1 || true
  fi
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# pid_of PIDFILE PATTERN: print the pid if the file names a live process whose command line
# contains PATTERN (guards against a recycled pid).
pid_of() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2" || return 1
  echo "$pid"
}

# start_bg PIDFILE OUTFILE CMD...: run CMD detached (own session), its pid in PIDFILE.
start_bg() {
  local pidfile=$1 out=$2 i
  shift 2
  rm -f "$pidfile"
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$out" 2>&1 </dev/null &
  for i in $(seq 50); do [ -s "$pidfile" ] && return 0; sleep 0.1; done
  die "could not start: $*"
}

# stop_pid NAME PIDFILE PATTERN CHECKFN
stop_pid() {
  local name=$1 pidfile=$2 pattern=$3 check=$4 pid i
  if ! pid=$(pid_of "$pidfile" "$pattern"); then
    rm -f "$pidfile"
    if "$check"; then
      log "$name: answering but not started by this script; leaving it alone"
    else
      log "$name: not running"
    fi
    return 0
  fi
  log "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq $((STOP_TIMEOUT * 10))); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; log "$name: stopped"; return 0; }
    sleep 0.1
  done
  log "$name: still running after ${STOP_TIMEOUT}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$pidfile"
}

# ---------------------------------------------------------------- kafka

kafka_answering() {
  port_open "$KAFKA_HOST" "$KAFKA_PORT" || return 1
  command -v kcat >/dev/null 2>&1 || return 0 # port check only (status before first up)
  kcat -b "$KAFKA_HOST:$KAFKA_PORT" -L -m 5 2>/dev/null | grep -q ' broker [0-9]* at '
}

# kafka_java MAINCLASS ARGS...: the JVM command line, printed NUL-separated.
kafka_java() {
  printf '%s\0' java -Xmx"$KAFKA_HEAP" -Xms256m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_RUN/log4j2.xml" \
    -Dkafka.logs.dir="$KAFKA_RUN/logs" \
    -cp "$KAFKA_LIBS/*" "$@"
}

run_kafka_java() {
  local cmd
  mapfile -d '' cmd < <(kafka_java "$@")
  "${cmd[@]}"
}

kafka_fetch_jars() {
  local want stamp=$KAFKA_LIBS/.pom.sha256 tmp
  want=$(sha256sum "$SCRIPT_DIR/kafka/pom.xml" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  log "kafka: fetching Kafka $KAFKA_VERSION jars from Maven Central into .cache/kafka/libs"
  tmp=$CACHE/kafka/libs.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # output to a file: maven 3.8 prints stray ANSI resets even with -q -B
  if ! mvn -q -B -Dstyle.color=never -f "$SCRIPT_DIR/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" -DincludeScope=runtime >"$CACHE/kafka/mvn.log" 2>&1; then
    rm -rf "$tmp"
    tail -n 40 "$CACHE/kafka/mvn.log" >&2
    die "kafka: maven could not fetch the jars (log: .cache/kafka/mvn.log)"
  fi
  echo "$want" >"$tmp/.pom.sha256"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
}

kafka_write_config() {
  mkdir -p "$KAFKA_RUN/logs" "$KAFKA_RUN/data"
  cat >"$KAFKA_RUN/server.properties" <<EOF
# Written by scripts/services.sh; edits are overwritten on the next up.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_RUN/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# room for ~11 MB messages
message.max.bytes=16777216
replica.fetch.max.bytes=16777216
EOF
  kafka_write_log4j "$KAFKA_RUN" "100 MB" 3 scripts/services.sh
}

# kafka_write_log4j DIR SIZE KEEP WRITER: a broker's log4j2.xml in DIR, all
# logging to DIR/logs/server.log, rolled at SIZE with KEEP old files.
kafka_write_log4j() {
  local d=$1 size=$2 keep=$3 writer=$4
  cat >"$d/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by $writer: all broker logging goes to logs/server.log. -->
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="file" fileName="$d/logs/server.log" filePattern="$d/logs/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <Policies><SizeBasedTriggeringPolicy size="$size"/></Policies>
      <DefaultRolloverStrategy max="$keep"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="file"/></Root>
    <Logger name="kafka.request.logger" level="WARN"/>
  </Loggers>
</Configuration>
EOF
}

kafka_start() {
  local id
  kafka_fetch_jars
  kafka_write_config
  if [ ! -f "$KAFKA_RUN/data/meta.properties" ]; then
    id=$(run_kafka_java kafka.tools.StorageTool random-uuid 2>>"$KAFKA_RUN/logs/format.log")
    log "kafka: formatting storage (cluster id $id)"
    run_kafka_java kafka.tools.StorageTool format --standalone -t "$id" \
      -c "$KAFKA_RUN/server.properties" >>"$KAFKA_RUN/logs/format.log" 2>&1 ||
      { tail -n 30 "$KAFKA_RUN/logs/format.log" >&2; die "kafka: storage format failed"; }
  fi
  log "kafka: starting (logs in .run/kafka/logs/)"
  local cmd
  mapfile -d '' cmd < <(kafka_java kafka.Kafka "$KAFKA_RUN/server.properties")
  start_bg "$KAFKA_PID" "$KAFKA_RUN/logs/kafka.out" "${cmd[@]}"
}

# ---------------------------------------------------------------- clickhouse

ch_answering() {
  [ "$(curl -s -m 3 "http://$CH_HOST:$CH_HTTP_PORT/ping" 2>/dev/null)" = "Ok." ] || return 1
  command -v clickhouse-client >/dev/null 2>&1 || return 0
  [ "$(clickhouse-client --host "$CH_HOST" --port "$CH_TCP_PORT" -q 'SELECT 1' 2>/dev/null)" = 1 ]
}

ch_write_config() {
  mkdir -p "$CH_RUN"/{data,tmp,user_files,format_schemas,log}
  cat >"$CH_RUN/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Written by scripts/services.sh for the Debian clickhouse-server (18.16); overwritten on up. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$CH_RUN/log/clickhouse-server.log</log>
        <errorlog>$CH_RUN/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>$CH_HOST</listen_host>
    <http_port>$CH_HTTP_PORT</http_port>
    <tcp_port>$CH_TCP_PORT</tcp_port>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$CH_RUN/data/</path>
    <tmp_path>$CH_RUN/tmp/</tmp_path>
    <user_files_path>$CH_RUN/user_files/</user_files_path>
    <format_schema_path>$CH_RUN/format_schemas/</format_schema_path>
    <users_config>$CH_RUN/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <partition_by>toYYYYMM(event_date)</partition_by>
        <flush_interval_milliseconds>7500</flush_interval_milliseconds>
    </query_log>
</yandex>
EOF
  cat >"$CH_RUN/users.xml" <<'EOF'
<?xml version="1.0"?>
<!-- Written by scripts/services.sh: user default, no password, local use only. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>::/0</ip>
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

ch_start() {
  ch_write_config
  log "clickhouse: starting (logs in .run/clickhouse/log/)"
  start_bg "$CH_PID" "$CH_RUN/log/stdout.log" \
    clickhouse-server --config-file="$CH_RUN/config.xml"
}

# ---------------------------------------------------------------- commands

# wait_up NAME CHECKFN PIDFILE PATTERN LOGFILE
wait_up() {
  local name=$1 check=$2 pidfile=$3 pattern=$4 logfile=$5 start=$SECONDS
  while ! "$check"; do
    if ! pid_of "$pidfile" "$pattern" >/dev/null; then
      echo "---- tail of $logfile" >&2
      tail -n 40 "$logfile" >&2 || true
      die "$name: process exited before answering"
    fi
    if [ $((SECONDS - start)) -ge "$UP_TIMEOUT" ]; then
      echo "---- tail of $logfile" >&2
      tail -n 40 "$logfile" >&2 || true
      die "$name: not answering after ${UP_TIMEOUT}s (still running, pid $(cat "$pidfile"))"
    fi
    sleep 0.5
  done
  log "$name: up after $((SECONDS - start))s"
}

# prepare NAME CHECKFN PIDFILE PATTERN PORT: decide whether NAME must be started.
# Prints start|wait|skip.
prepare() {
  local name=$1 check=$2 pidfile=$3 pattern=$4 port=$5 pid
  if pid=$(pid_of "$pidfile" "$pattern"); then
    if "$check"; then log "$name: already up (pid $pid)" >&2; echo skip; else echo wait; fi
    return
  fi
  rm -f "$pidfile"
  if "$check"; then
    log "$name: already answering on 127.0.0.1:$port (not started by this script); leaving it alone" >&2
    echo skip
  elif port_open 127.0.0.1 "$port"; then
    die "$name: port $port is taken by something that does not answer as $name"
  else
    echo start
  fi
}

# want SERVICE: whether the command's optional service argument selects it.
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

cmd_up() {
  local k=skip c=skip
  ensure_packages
  mkdir -p "$RUN" "$CACHE"
  if want kafka; then k=$(prepare kafka kafka_answering "$KAFKA_PID" kafka.Kafka "$KAFKA_PORT") || exit 1; fi
  if want clickhouse; then c=$(prepare clickhouse ch_answering "$CH_PID" clickhouse "$CH_TCP_PORT") || exit 1; fi
  if [ "$c" = start ] && port_open 127.0.0.1 "$CH_HTTP_PORT"; then
    die "clickhouse: port $CH_HTTP_PORT is taken by something that does not answer as clickhouse"
  fi
  [ "$c" = start ] && ch_start
  [ "$k" = start ] && kafka_start
  [ "$c" != skip ] && wait_up clickhouse ch_answering "$CH_PID" clickhouse "$CH_RUN/log/clickhouse-server.err.log"
  [ "$k" != skip ] && wait_up kafka kafka_answering "$KAFKA_PID" kafka.Kafka "$KAFKA_RUN/logs/server.log"
  log "up: kafka $KAFKA_HOST:$KAFKA_PORT, clickhouse $CH_HOST:$CH_TCP_PORT (http $CH_HTTP_PORT) (${SECONDS}s)"
}

cmd_status() {
  local rc=0 pid
  if kafka_answering; then
    pid=$(pid_of "$KAFKA_PID" kafka.Kafka) && pid="pid $pid" || pid="not started by this script"
    log "kafka:      up   $KAFKA_HOST:$KAFKA_PORT ($pid)"
  else
    log "kafka:      DOWN $KAFKA_HOST:$KAFKA_PORT"; rc=1
  fi
  if ch_answering; then
    pid=$(pid_of "$CH_PID" clickhouse) && pid="pid $pid" || pid="not started by this script"
    log "clickhouse: up   $CH_HOST:$CH_TCP_PORT, http $CH_HTTP_PORT ($pid)"
  else
    log "clickhouse: DOWN $CH_HOST:$CH_TCP_PORT"; rc=1
  fi
  return $rc
}

cmd_down() {
  if want kafka; then stop_pid kafka "$KAFKA_PID" kafka.Kafka kafka_answering; fi
  if want clickhouse; then stop_pid clickhouse "$CH_PID" clickhouse ch_answering; fi
}

cmd_reset() {
  cmd_down
  log "wiping .run/kafka and .run/clickhouse"
  rm -rf "$KAFKA_RUN" "$CH_RUN"
}

# Sourced (scripts/cluster.sh reuses the helpers above): define, do not run.
(return 0 2>/dev/null) && return 0

# An optional second argument limits up and down to one service (the fault
# tests stop and start ClickHouse or Kafka alone).
ONLY=${2:-}
case "$ONLY" in
  ""|kafka|clickhouse) ;;
  *) echo "usage: $0 up|down|status|reset [kafka|clickhouse]" >&2; exit 2 ;;
esac
case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  reset) ONLY=""; cmd_reset ;;
  *) echo "usage: $0 up|down|status|reset [kafka|clickhouse]" >&2; exit 2 ;;
esac
