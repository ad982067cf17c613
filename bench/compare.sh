#!/usr/bin/env bash
# Runs the same workloads against RustLog, Redis Streams and NATS JetStream on this machine, measures
# the disk with fio, and writes one markdown report.
#
# Usage: bench/compare.sh [--quick] [--out FILE]
#
#   --quick     a small workload (seconds once built) that still produces every table; the
#               report goes to standard output unless --out is given
#   --out FILE  where to write the report [default: bench/results.md, or standard output with
#               --quick]; the raw figures go beside it, in the same name ending in .jsonl
#
# Installs redis-server, nats-server and fio from Debian's packages when they are missing, which
# needs root. Builds rustlog and rustlog-bench in release mode (CARGO_TARGET_DIR is honoured).
# Starts every server on 127.0.0.1 with its data in one temporary directory and stops each by its
# PID. Removes the directory on exit, also after an error or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out="${2:?--out needs a file name}"; shift ;;
    -h|--help) sed -n '2,15p' "$0" | cut -c 3-; exit 0 ;;
    *) echo "error: unknown option '$1'; see --help" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$out" ] && [ "$quick" = 0 ]; then out=bench/results.md; fi

# Workload sizes. The one-record-per-request workload waits for a sync per record on the
# fsyncing configurations, so it runs SINGLE_FSYNC_RECORDS records there instead of all of them.
if [ "$quick" = 1 ]; then
  SMALL_RECORDS=20000; LARGE_RECORDS=5000; SINGLE_FSYNC_RECORDS=1000
  FIO_SMALL_BYTES=$((100 * 2000)); FIO_4K_BYTES=$((4096 * 2000)); FIO_SEQ_BYTES=$((32 << 20))
else
  SMALL_RECORDS=1000000; LARGE_RECORDS=200000; SINGLE_FSYNC_RECORDS=20000
  FIO_SMALL_BYTES=$((100 * 20000)); FIO_4K_BYTES=$((4096 * 20000)); FIO_SEQ_BYTES=$((512 << 20))
fi

log() { printf '==> %s\n' "$*" >&2; }
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR

# --- tools -------------------------------------------------------------------------------------

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
command -v fio >/dev/null 2>&1 || missing+=(fio)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

log "building rustlog and rustlog-bench (release)"
cargo build --release --quiet -p rustlog -p rustlog-bench
bin="${CARGO_TARGET_DIR:-target}/release"

# --- servers -----------------------------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/rustlog-compare.XXXXXX")
server_pid=""
results="$work/results.jsonl"

stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    log "server $server_pid did not stop within 10 s; killing it"
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "error: found no free port" >&2
  return 1
}

# Waits until FILE contains a line matching PATTERN, then prints the first match's capture group.
wait_for_line() {
  local file="$1" pattern="$2" match
  for _ in $(seq 300); do
    match=$(sed -n -E "s/$pattern/\\1/p" "$file" 2>/dev/null | head -n 1)
    if [ -n "$match" ]; then
      echo "$match"
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "error: the server did not report its address; its log:" >&2
  cat "$file" >&2
  return 1
}

start_rustlog() {
  mkdir -p "$work/rustlog"
  cat >"$work/rustlog.toml" <<EOF
addr = "127.0.0.1:0"
data_dir = "$work/rustlog"

[topics.durable]
partitions = 1

[topics.buffered]
partitions = 1
flush = "never"
EOF
  "$bin/rustlog" serve --config "$work/rustlog.toml" >"$work/rustlog.out" 2>"$work/rustlog.err" &
  server_pid=$!
  addr=$(wait_for_line "$work/rustlog.out" '^listening on (.*)$')
}

start_redis() {
  local fsync="$1" port
  port=$(free_port)
  mkdir -p "$work/redis-$fsync"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$work/redis-$fsync" --save "" \
    --appendonly yes --appendfsync "$fsync" --daemonize no --logfile "" \
    >"$work/redis-$fsync.log" 2>&1 &
  server_pid=$!
  addr="127.0.0.1:$port"
  wait_for_line "$work/redis-$fsync.log" '.*(Ready to accept connections).*' >/dev/null
}

start_nats() {
  nats-server -a 127.0.0.1 -p -1 -js -sd "$work/nats" >"$work/nats.log" 2>&1 &
  server_pid=$!
  addr=$(wait_for_line "$work/nats.log" '.*Listening for client connections on ([0-9.:]+).*')
}

# --- workloads ---------------------------------------------------------------------------------

# run_workloads ID LABEL DURABILITY SYSTEM TOPIC SYNCS_EACH_REQUEST
# Runs every workload against the server at $addr. Each produce phase is followed by a consume
# phase that reads everything it produced from the start.
run_workloads() {
  local id="$1" label="$2" durability="$3" system="$4" topic="$5" syncs="$6"
  local size records single
  for size in 100 1024; do
    if [ "$size" = 100 ]; then records=$SMALL_RECORDS; else records=$LARGE_RECORDS; fi
    single=$records
    if [ "$syncs" = 1 ] && [ "$SINGLE_FSYNC_RECORDS" -lt "$records" ]; then
      single=$SINGLE_FSYNC_RECORDS
    fi
    for shape in "1 1 $single" "1 1000 $records" "16 1 $records"; do
      set -- $shape
      log "$label ($durability): $3 records of $size B, $1 producer(s), $2 per request"
      "$bin/rustlog-bench" run --system "$system" --addr "$addr" --topic "$topic" \
        --id "$id" --label "$label" --durability "$durability" --results "$results" \
        --record-size "$size" --producers "$1" --batch "$2" --records "$3" >&2
    done
  done
}

load_start=$(cut -d ' ' -f 1-3 /proc/loadavg)
started_at=$(date -u '+%Y-%m-%d %H:%M UTC')

rustlog_version=$("$bin/rustlog" --version | cut -d ' ' -f 2)
redis_version=$(redis-server --version | sed -E 's/.* v=([^ ]+).*/\1/')
nats_version=$(nats-server --version | sed -E 's/.*v([0-9.]+).*/\1/')

start_rustlog
run_workloads rustlog "RustLog $rustlog_version" "fdatasync before each ack (group commit)" rustlog durable 1
run_workloads rustlog-never "RustLog $rustlog_version" "none: page cache only (flush = never)" rustlog buffered 0
stop_server

start_redis always
run_workloads redis-always "Redis $redis_version" "fsync before each reply (appendfsync always)" redis bench 1
stop_server

start_redis everysec
run_workloads redis-everysec "Redis $redis_version" "fsync once a second (appendfsync everysec)" redis bench 0
stop_server

start_nats
run_workloads nats "NATS JetStream $nats_version" "none before the ack: file store synced on a timer" nats bench 0
stop_server

# --- the disk ----------------------------------------------------------------------------------

# Each job writes a new file in the directory the servers used, so it measures the same
# filesystem. --create_on_open and --fallocate=none make every write an append that grows the
# file; --fallocate=keep reserves the file's blocks first without changing its size, as RustLog's
# active segment does. --thread runs the job in fio's own process: on this machine, a job in a
# forked process synced about 20 times slower (300 instead of 6,000 syncs/s for 100 B appends),
# which measured fio, not the disk.
fio_job() {
  local name="$1" block="$2" bytes="$3" fallocate="$4"
  log "fio: $name"
  mkdir -p "$work/fio"
  fio --thread --name="$name" --directory="$work/fio" --rw=write --bs="$block" --size="$bytes" \
    --ioengine=sync --fdatasync=1 --fallocate="$fallocate" --create_on_open=1 --runtime=20 \
    --output-format=json --output="$work/fio-$name.json" >/dev/null
  rm -f "$work/fio/"*
}
fio_job append-100 100 "$FIO_SMALL_BYTES" none
fio_job append-4k 4k "$FIO_4K_BYTES" none
fio_job sequential-1m 1M "$FIO_SEQ_BYTES" none
fio_job sequential-1m-reserved 1M "$FIO_SEQ_BYTES" keep

load_end=$(cut -d ' ' -f 1-3 /proc/loadavg)

# --- the report --------------------------------------------------------------------------------

filesystem=$(df -T "$work" | awk 'NR == 2 { print $2 " on " $1 }')
mount_options=$(findmnt -n -o OPTIONS --target "$work" 2>/dev/null || echo unknown)
report() {
  echo "## Results"
  echo
  if [ "$quick" = 1 ]; then
    echo "Quick run (\`bench/compare.sh --quick\`): small record counts, for checking the script, not for quoting."
    echo
  fi
  echo "- run: $started_at, \`bench/compare.sh$([ "$quick" = 1 ] && echo ' --quick')\`"
  echo "- machine: $(nproc) CPUs, $(lscpu | sed -n -E 's/^Model name: +//p' | head -n 1), $(free -g | awk '/^Mem:/ { print $2 }') GiB memory, Linux $(uname -r)"
  echo "- data directory: $filesystem ($mount_options)"
  echo "- load average (1, 5, 15 min): $load_start at the start, $load_end at the end"
  echo "- versions: RustLog $rustlog_version, Redis $redis_version, NATS $nats_version, $(fio --version), $(rustc --version | cut -d ' ' -f 1-2)"
  echo "- one partition; one consumer; fetches of up to 1 MiB; one record per request runs $SINGLE_FSYNC_RECORDS records on the configurations that sync before each ack"
  echo
  "$bin/rustlog-bench" table "$results" \
    --fio "100 B appends, fdatasync after each=$work/fio-append-100.json" \
    --fio "4 KiB appends, fdatasync after each=$work/fio-append-4k.json" \
    --fio "1 MiB sequential writes, fdatasync after each=$work/fio-sequential-1m.json" \
    --fio "1 MiB sequential writes into reserved space, fdatasync after each=$work/fio-sequential-1m-reserved.json"
}

if [ -n "$out" ]; then
  report >"$out"
  # The raw figures, so `rustlog-bench table` can render them again.
  cp "$results" "${out%.md}.jsonl"
  log "wrote $out and ${out%.md}.jsonl"
else
  report
fi
