#!/usr/bin/env bash
# Local development and test infrastructure: a single-node Apache Kafka broker (KRaft, jars from Maven
# Central) and FerretDB v1 (MongoDB wire protocol, SQLite backend, built from the Go module proxy).
#
#   infra.sh install                       fetch/build both into the cache (idempotent)
#   infra.sh up     [kafka] [ferretdb]      start (installing first if needed); no-op when already up
#   infra.sh down   [--wipe] [kafka] [ferretdb]
#                                           stop; --wipe also deletes the services' state (data, logs)
#   infra.sh status [kafka] [ferretdb]      print address and state; exit 0 if all up, 3 otherwise
#   infra.sh env                            print KAFKA_BOOTSTRAP_SERVERS=... and MONGODB_URI=...
#
# Environment:
#   AGENTINSTRUCT_CACHE   installed software        (default ~/.cache/agentinstruct)
#   AGENTINSTRUCT_STATE   data, logs and pid files  (default <repo>/.infra)
#   KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093), MONGO_PORT (27018)
#   AGENTINSTRUCT_INFRA_TIMEOUT  seconds to wait for a service to become ready (default 120)
#   AGENTINSTRUCT_PYTHON  interpreter for the readiness probes (default python3)
#   AGENTINSTRUCT_KAFKA_LOG_LEVEL  root log level of the broker's server.log (default WARN)
#   JAVA_HOME             Java 17+ for Kafka (default: java on PATH)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
HOME="${HOME:-$(cd ~ && pwd)}"
CACHE_DIR="${AGENTINSTRUCT_CACHE:-$HOME/.cache/agentinstruct}"
STATE_DIR="${AGENTINSTRUCT_STATE:-$REPO_ROOT/.infra}"
HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
MONGO_PORT="${MONGO_PORT:-27018}"
START_TIMEOUT="${AGENTINSTRUCT_INFRA_TIMEOUT:-120}"
STOP_TIMEOUT=30
PYTHON="${AGENTINSTRUCT_PYTHON:-python3}"
if [[ -n "${JAVA_HOME:-}" ]]; then JAVA="$JAVA_HOME/bin/java"; else JAVA=java; fi

KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_MAIN_CLASSES=(kafka/Kafka.class kafka/tools/StorageTool.class)
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms512m -Xmx768m}"
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.11.0

FERRETDB_VERSION=v1.24.2
FERRETDB_MODULE=github.com/FerretDB/FerretDB
FERRETDB_BIN="$CACHE_DIR/bin/ferretdb"
FERRETDB_PATCHER="$SCRIPT_DIR/ferretdb/patch_source.py"

ALL_SERVICES=(kafka ferretdb)

log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not on PATH${2:+ ($2)}"; }

need_java17() {
    need "$JAVA" "install a Java 17+ runtime or set JAVA_HOME"
    local spec
    spec="$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
    if ! [[ "$spec" =~ ^[0-9]+$ ]] || ((spec < 17)); then
        die "Kafka $KAFKA_VERSION needs Java 17 or newer; $JAVA is Java ${spec:-unknown} (set JAVA_HOME)"
    fi
}

now_ms() { date +%s%3N; }
elapsed() { local start=$1; local ms=$(( $(now_ms) - start )); printf '%d.%01ds' $((ms / 1000)) $(((ms % 1000) / 100)); }

# Serialises installs and start/stop across concurrent callers (e.g. parallel test sessions).
# fd 9 holds the lock; started services get `9>&-` so they never inherit it.
take_lock() {
    mkdir -p "$(dirname "$1")"
    exec 9>"$1"
    flock -w 600 9 || die "timed out waiting for lock $1"
}

service_address() {
    case "$1" in
        kafka) echo "$HOST:$KAFKA_PORT" ;;
        ferretdb) echo "$HOST:$MONGO_PORT" ;;
    esac
}
service_port() {
    case "$1" in
        kafka) echo "$KAFKA_PORT" ;;
        ferretdb) echo "$MONGO_PORT" ;;
    esac
}
service_dir() { echo "$STATE_DIR/$1"; }
pid_file() { echo "$STATE_DIR/$1/$1.pid"; }
# A substring of the process command line (which names this state dir), so that a recycled pid or an
# instance started from another state dir is never taken for ours.
service_signature() {
    case "$1" in
        kafka) echo "kafka.Kafka $(service_dir kafka)/server.properties" ;;
        ferretdb) echo "--state-dir=$(service_dir ferretdb) " ;;
    esac
}

# Sets SERVICES to the named services (all when none is named); rejects unknown names.
SERVICES=()
parse_services() {
    SERVICES=()
    if (($# == 0)); then
        SERVICES=("${ALL_SERVICES[@]}")
        return
    fi
    local s
    for s in "$@"; do
        case "$s" in
            kafka | ferretdb) [[ " ${SERVICES[*]} " == *" $s "* ]] || SERVICES+=("$s") ;;
            *) die "unknown service '$s' (expected: ${ALL_SERVICES[*]})" ;;
        esac
    done
}

port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# Prints the managed pid when that process is alive, else nothing (and returns 1).
managed_pid() {
    local name=$1 pidf pid
    pidf="$(pid_file "$name")"
    [[ -s "$pidf" ]] || return 1
    pid="$(<"$pidf")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$(service_signature "$name")" || return 1
    echo "$pid"
}

# Keeps the previous run's log as NAME.1, so that the tail printed on a failed start is this run's.
rotate_logs() {
    local f
    for f in "$@"; do
        if [[ -f "$f" ]]; then mv -f "$f" "$f.1"; fi
    done
}

log_tail() {
    local f
    for f in "$@"; do
        [[ -s "$f" ]] || continue
        printf -- '----- last lines of %s -----\n' "$f" >&2
        tail -n 40 "$f" >&2
    done
}

# ---------------------------------------------------------------------------------------------- install

kafka_jars_ok() {
    local jar="$KAFKA_HOME/lib/kafka_2.13-$KAFKA_VERSION.jar"
    [[ -f "$jar" ]] || return 1
    "$PYTHON" - "$jar" "${KAFKA_MAIN_CLASSES[@]}" <<'PY'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
missing = [c for c in sys.argv[2:] if c not in names]
if missing:
    sys.exit(f"{sys.argv[1]} lacks {', '.join(missing)}")
PY
}

install_kafka() {
    local marker="$KAFKA_HOME/.installed" stamp start
    stamp="kafka $KAFKA_VERSION pom $(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
    if [[ -f "$marker" && "$(<"$marker")" == "$stamp" ]] && kafka_jars_ok 2>/dev/null; then
        log "kafka $KAFKA_VERSION: already installed in $KAFKA_HOME"
        return
    fi
    need mvn "install Maven 3.8+"
    need_java17
    start=$(now_ms)
    log "kafka $KAFKA_VERSION: resolving jars from Maven Central into $KAFKA_HOME/lib"
    local work="$KAFKA_HOME/.build"
    rm -rf "$work" "$KAFKA_HOME/lib.new"
    mkdir -p "$work"
    cp "$KAFKA_POM" "$work/pom.xml"
    if ! (cd "$work" && mvn -B -q "$DEPENDENCY_PLUGIN:copy-dependencies" -DincludeScope=runtime \
        -DoutputDirectory="$KAFKA_HOME/lib.new" >"$work/mvn.log" 2>&1); then
        log_tail "$work/mvn.log"
        die "maven could not resolve the Kafka $KAFKA_VERSION jars (log: $work/mvn.log)"
    fi
    rm -rf "${KAFKA_HOME:?}/lib"
    mv "$KAFKA_HOME/lib.new" "$KAFKA_HOME/lib"
    kafka_jars_ok || die "the Kafka jars lack the expected main classes"
    rm -rf "$work"
    echo "$stamp" >"$marker"
    log "kafka $KAFKA_VERSION: installed ($(find "$KAFKA_HOME/lib" -name '*.jar' | wc -l) jars) in $(elapsed "$start")"
}

# `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2` compiles, but the binary panics at start:
# FerretDB embeds build/version/version.txt, which is generated at release time and absent from the module
# zip. So the module source is copied out of the module cache, version.txt is written, the fixes in
# ferretdb/patch_source.py are applied, and the command is built there (with the module's own
# go.mod/go.sum, hence the same pinned dependencies).
install_ferretdb() {
    local marker="$CACHE_DIR/bin/.ferretdb-$FERRETDB_VERSION" start stamp
    stamp="ferretdb $FERRETDB_VERSION patches $(sha256sum "$FERRETDB_PATCHER" | cut -d' ' -f1)"
    if [[ -f "$marker" && "$(<"$marker")" == "$stamp" && -x "$FERRETDB_BIN" ]]; then
        log "ferretdb $FERRETDB_VERSION: already installed at $FERRETDB_BIN"
        return
    fi
    need go "install Go 1.24+"
    start=$(now_ms)
    log "ferretdb $FERRETDB_VERSION: building from the Go module proxy (a minute or two the first time)"
    mkdir -p "$CACHE_DIR/bin"
    rm -f "$marker"
    local buildlog="$CACHE_DIR/bin/ferretdb-build.log" src="$CACHE_DIR/src/ferretdb-$FERRETDB_VERSION" moddir
    if ! (cd "$CACHE_DIR" && GOWORK=off GOFLAGS='' go mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" \
        >"$buildlog.json" 2>"$buildlog"); then
        log_tail "$buildlog" "$buildlog.json"
        die "go mod download $FERRETDB_MODULE@$FERRETDB_VERSION failed"
    fi
    moddir="$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["Dir"])' "$buildlog.json")"
    rm -f "$buildlog.json"
    rm -rf "$src"
    mkdir -p "$(dirname "$src")"
    cp -r "$moddir" "$src"
    chmod -R u+w "$src"
    echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
    echo "agentinstruct-patched" >"$src/build/version/package.txt"
    "$PYTHON" "$FERRETDB_PATCHER" "$src" >"$buildlog" 2>&1 || { log_tail "$buildlog"; die "patching ferretdb failed"; }
    if ! (cd "$src" && GOWORK=off CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
        go build -trimpath -o "$FERRETDB_BIN.new" ./cmd/ferretdb >"$buildlog" 2>&1); then
        log_tail "$buildlog"
        die "building ferretdb $FERRETDB_VERSION failed (log: $buildlog)"
    fi
    mv "$FERRETDB_BIN.new" "$FERRETDB_BIN"
    rm -rf "$src"
    rmdir "$CACHE_DIR/src" 2>/dev/null || true
    "$FERRETDB_BIN" --version >"$buildlog" 2>&1 || { log_tail "$buildlog"; die "the built ferretdb does not run"; }
    grep -q "$FERRETDB_VERSION" "$buildlog" || { log_tail "$buildlog"; die "ferretdb --version does not report $FERRETDB_VERSION"; }
    rm -f "$buildlog"
    echo "$stamp" >"$marker"
    log "ferretdb $FERRETDB_VERSION: installed in $(elapsed "$start")"
}

install_services() {
    take_lock "$CACHE_DIR/.install.lock"
    local s
    for s in "$@"; do
        "install_$s"
    done
    flock -u 9
}

cmd_install() {
    need "$PYTHON"
    mkdir -p "$CACHE_DIR"
    parse_services "$@"
    install_services "${SERVICES[@]}"
}

# ---------------------------------------------------------------------------------------------- up

# Starts "$@" detached in its own session; the pid (the exec'd process itself) goes to $pidf.
spawn() {
    local pidf=$1 out=$2
    shift 2
    rm -f "$pidf"
    # shellcheck disable=SC2016  # expanded by the inner shell
    setsid -f bash -c 'echo $$ >"$0"; exec "$@"' "$pidf" "$@" </dev/null >>"$out" 2>&1 9>&-
    local i
    for i in $(seq 50); do
        [[ -s "$pidf" ]] && return 0
        sleep 0.1
    done
    die "the process did not start (no pid file $pidf)"
}

wait_ready() {
    local name=$1 probe=$2 port=$3
    shift 3
    local logs=("$@") deadline pid
    deadline=$(($(date +%s) + START_TIMEOUT))
    pid="$(<"$(pid_file "$name")")"
    while true; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log_tail "${logs[@]}"
            rm -f "$(pid_file "$name")"
            die "$name exited during startup (logs above)"
        fi
        if "$PYTHON" "$SCRIPT_DIR/probe.py" "$probe" "$HOST" "$port" >/dev/null 2>&1; then
            return 0
        fi
        if (($(date +%s) >= deadline)); then
            "$PYTHON" "$SCRIPT_DIR/probe.py" "$probe" "$HOST" "$port" || true
            log_tail "${logs[@]}"
            die "$name did not become ready on $HOST:$port within ${START_TIMEOUT}s (pid $pid still running; logs above)"
        fi
        sleep 0.5
    done
}

check_ports_free() {
    local name=$1 port
    shift
    for port in "$@"; do
        if port_open "$port"; then
            die "port $HOST:$port is already in use by a process that this script did not start for $name" \
                "(state dir $STATE_DIR); stop it or choose other ports (KAFKA_PORT, KAFKA_CONTROLLER_PORT, MONGO_PORT)"
        fi
    done
}

write_kafka_config() {
    local dir=$1
    cat >"$dir/server.properties" <<EOF
# Generated by scripts/infra/infra.sh on every start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
auto.create.topics.enable=true
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
offsets.topic.num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.cleaner.threads=1
num.replica.fetchers=1
EOF
}

start_kafka() {
    local dir pid start
    dir="$(service_dir kafka)"
    if pid="$(managed_pid kafka)"; then
        log "kafka already running on $(service_address kafka) (pid $pid)"
        return
    fi
    start=$(now_ms)
    rm -f "$(pid_file kafka)"
    check_ports_free kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
    need_java17
    mkdir -p "$dir/data" "$dir/logs"
    write_kafka_config "$dir"
    local heap_opts java_opts
    read -r -a heap_opts <<<"$KAFKA_HEAP_OPTS"
    java_opts=(-XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
        "-Dkafka.logs.dir=$dir/logs" "-Dlog4j2.configurationFile=file:$SCRIPT_DIR/kafka/log4j2.properties"
        "-Dagentinstruct.kafka.loglevel=${AGENTINSTRUCT_KAFKA_LOG_LEVEL:-WARN}")
    if [[ ! -f "$dir/data/meta.properties" ]]; then
        [[ -s "$dir/cluster.id" ]] || "$PYTHON" -c \
            'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode())' \
            >"$dir/cluster.id"
        log "kafka: formatting storage in $dir/data (cluster $(<"$dir/cluster.id"))"
        if ! "$JAVA" -Xmx256m "${java_opts[@]}" -cp "$KAFKA_HOME/lib/*" kafka.tools.StorageTool format \
            --standalone --ignore-formatted -t "$(<"$dir/cluster.id")" -c "$dir/server.properties" \
            >"$dir/logs/format.log" 2>&1 9>&-; then
            log_tail "$dir/logs/format.log"
            die "kafka storage format failed"
        fi
    fi
    log "kafka $KAFKA_VERSION: starting on $(service_address kafka) (state $dir)"
    rotate_logs "$dir/logs/kafka.out" "$dir/logs/server.log"
    spawn "$(pid_file kafka)" "$dir/logs/kafka.out" "$JAVA" "${heap_opts[@]}" "${java_opts[@]}" \
        -cp "$KAFKA_HOME/lib/*" kafka.Kafka "$dir/server.properties"
    wait_ready kafka kafka "$KAFKA_PORT" "$dir/logs/kafka.out" "$dir/logs/server.log"
    log "kafka ready on $(service_address kafka) (pid $(<"$(pid_file kafka)"), $(elapsed "$start"))"
}

start_ferretdb() {
    local dir pid start
    dir="$(service_dir ferretdb)"
    if pid="$(managed_pid ferretdb)"; then
        log "ferretdb already running on $(service_address ferretdb) (pid $pid)"
        return
    fi
    start=$(now_ms)
    rm -f "$(pid_file ferretdb)"
    check_ports_free ferretdb "$MONGO_PORT"
    mkdir -p "$dir/data"
    log "ferretdb $FERRETDB_VERSION: starting on $(service_address ferretdb) (state $dir)"
    rotate_logs "$dir/ferretdb.log"
    DO_NOT_TRACK=true spawn "$(pid_file ferretdb)" "$dir/ferretdb.log" "$FERRETDB_BIN" \
        --listen-addr="$HOST:$MONGO_PORT" --handler=sqlite --sqlite-url="file:$dir/data/" \
        --debug-addr=- --state-dir="$dir" --telemetry=disable --log-level=warn
    wait_ready ferretdb mongo "$MONGO_PORT" "$dir/ferretdb.log"
    log "ferretdb ready on $(service_address ferretdb) (pid $(<"$(pid_file ferretdb)"), $(elapsed "$start"))"
}

cmd_up() {
    need "$PYTHON"
    need setsid
    need flock
    local s
    parse_services "$@"
    install_services "${SERVICES[@]}"
    take_lock "$STATE_DIR/.lock"
    for s in "${SERVICES[@]}"; do
        "start_$s"
    done
}

# ---------------------------------------------------------------------------------------------- down

stop_service() {
    local name=$1 pid start i
    if ! pid="$(managed_pid "$name")"; then
        rm -f "$(pid_file "$name")"
        log "$name is not running"
        return
    fi
    start=$(now_ms)
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) did not stop within ${STOP_TIMEOUT}s; sending SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$(pid_file "$name")"
    log "$name stopped (pid $pid, $(elapsed "$start"))"
}

safe_to_wipe() {
    local target
    target="$(realpath -m "$1")"
    case "$target" in
        / | "$(realpath -m "$HOME")" | "$REPO_ROOT" | "$(realpath -m "$CACHE_DIR")") return 1 ;;
    esac
    return 0
}

cmd_down() {
    local wipe=0 args=() a
    for a in "$@"; do
        case "$a" in
            --wipe) wipe=1 ;;
            *) args+=("$a") ;;
        esac
    done
    local s
    parse_services "${args[@]}"
    [[ -d "$STATE_DIR" ]] || { log "nothing to stop (no state dir $STATE_DIR)"; return; }
    take_lock "$STATE_DIR/.lock"
    for s in "${SERVICES[@]}"; do
        stop_service "$s"
    done
    if ((wipe)); then
        if ((${#args[@]} == 0)); then
            safe_to_wipe "$STATE_DIR" || die "refusing to delete $STATE_DIR"
            flock -u 9
            rm -rf "$STATE_DIR"
            log "deleted $STATE_DIR"
        else
            for s in "${SERVICES[@]}"; do
                rm -rf "$(service_dir "$s")"
                log "deleted $(service_dir "$s")"
            done
        fi
    fi
}

# ---------------------------------------------------------------------------------------------- status

cmd_status() {
    local s pid state all_up=1
    parse_services "$@"
    for s in "${SERVICES[@]}"; do
        if pid="$(managed_pid "$s")"; then
            if port_open "$(service_port "$s")"; then state="up pid=$pid"; else state="starting pid=$pid"; all_up=0; fi
        elif port_open "$(service_port "$s")"; then
            state="foreign (port held by a process not started from $STATE_DIR)"
            all_up=0
        else
            state="down"
            all_up=0
        fi
        printf '%-9s %-16s %s\n' "$s" "$(service_address "$s")" "$state"
    done
    ((all_up)) || exit 3
}

cmd_env() {
    echo "KAFKA_BOOTSTRAP_SERVERS=$(service_address kafka)"
    echo "MONGODB_URI=mongodb://$(service_address ferretdb)/"
}

usage() {
    sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

main() {
    (($# >= 1)) || usage
    local cmd=$1
    shift
    case "$cmd" in
        install) cmd_install "$@" ;;
        up | start) cmd_up "$@" ;;
        down | stop) cmd_down "$@" ;;
        status) cmd_status "$@" ;;
        env) cmd_env "$@" ;;
        -h | --help | help) usage ;;
        *) log "unknown command '$cmd'"; usage ;;
    esac
}

main "$@"
