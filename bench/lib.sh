# shellcheck shell=bash disable=SC2034  # variables here are used by the sourcing scripts
# Shared helpers for the bench/*/run scripts; source it, do not run it.
#
# Every process a script starts goes through bench_start, which records its
# pid; bench_init installs a trap that stops exactly those pids (TERM, then
# KILL after 5 s) and removes the scratch directory. Nothing is ever killed
# by name. All servers listen on 127.0.0.1 only.

bench_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_pids=()

bench_die() { echo "bench: $*" >&2; exit 1; }
bench_log() { echo "bench: $*" >&2; }

# bench_init NAME: makes $bench_tmp (kept when KEEP=1) and sets the trap.
bench_init() {
  bench_tmp=$(mktemp -d "/tmp/imgstore-$1.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  local pid i
  for ((i = ${#bench_pids[@]} - 1; i >= 0; i--)); do
    pid=${bench_pids[i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  bench_pids=()
  if [[ ${KEEP:-0} == 1 ]]; then
    bench_log "kept $bench_tmp"
  else
    rm -rf "$bench_tmp"
  fi
}

# bench_start NAME CMD...: runs CMD in the background, output to
# $bench_tmp/NAME.log; sets bench_pid. CMD should exec the server itself
# (taskset and nginx do), so that bench_pid is the server's pid.
bench_start() {
  local name=$1; shift
  "$@" >"$bench_tmp/$name.log" 2>&1 &
  bench_pid=$!
  bench_pids+=("$bench_pid")
}

# bench_stop PID: stops one process started by bench_start.
bench_stop() {
  local pid=$1 kept=() p
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${bench_pids[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
  bench_pids=("${kept[@]}")
}

# bench_died NAME PID: called in the main shell when PID (a bench_start
# child) is gone; dies saying how it ended, e.g. "killed by SIGPIPE".
bench_died() {
  local status=0
  wait "$2" 2>/dev/null || status=$?
  if ((status > 128)); then
    bench_die "$1 was killed by SIG$(kill -l $((status - 128))) (log: $bench_tmp)"
  fi
  bench_die "$1 exited with status $status (log: $bench_tmp)"
}

# bench_settle_fs: before a write benchmark's run: flushes the page cache to
# disk (so one run's writeback does not land in the next) and, as root, drops
# the clean caches. Without the drop, a run pays for the files the runs before
# it deleted: ext4 without a journal skips, one by one, free inodes whose
# inode-table block is still cached and that were freed in the last minutes
# (recently_deleted() in the kernel's fs/ext4/ialloc.c), so each file or
# directory created walks past the previous run's deletions. On this project's
# machines that made every round slower than the one before (a node's CPU per
# 64 KB upload 185, 480, 740, 1,160 us in four runs a few seconds apart;
# docs/BENCHMARKS.md). Not root: said once, and the later rounds may be slower.
bench_settle_fs() {
  sync
  if [[ -w /proc/sys/vm/drop_caches ]]; then
    echo 1 >/proc/sys/vm/drop_caches
  elif [[ -z ${bench_settle_warned:-} ]]; then
    bench_settle_warned=1
    bench_log "not root: cannot drop the caches between runs; on ext4 without a journal later rounds may be slower"
  fi
}

# bench_free_port: prints a TCP port nobody listens on at the moment, below
# the kernel's ephemeral range: a port in that range can be taken by any
# outgoing connection (wrk's, a server's to its peers) between this check and
# the server's bind, which then fails with "Address already in use".
bench_free_port() {
  local port low
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  ((low > 11000)) || low=32768
  for _ in $(seq 100); do
    port=$((10000 + RANDOM % (low - 10000)))
    if [[ -z $(ss -Htln "sport = :$port") ]]; then echo "$port"; return; fi
  done
  bench_die "no free port found"
}

# bench_wait_http URL PID [SECONDS]: waits until URL answers (any status),
# failing early if PID has exited.
bench_wait_http() {
  local url=$1 pid=$2 limit=${3:-15}
  for _ in $(seq $((limit * 10))); do
    kill -0 "$pid" 2>/dev/null || return 1
    curl -s -o /dev/null --max-time 1 "$url" && return 0
    sleep 0.1
  done
  return 1
}

# bench_cpu_ticks PID: utime+stime (clock ticks, all threads) of PID and its
# direct children; for nginx that is the master and its workers.
bench_cpu_ticks() {
  local pid=$1 total=0 p stat children
  children=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || pgrep -P "$pid" || true)
  for p in "$pid" $children; do
    stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    stat=${stat##*) }  # the command name may hold spaces; skip past it
    read -ra f <<<"$stat"
    # After the name, field 1 is state; utime and stime are fields 12 and 13.
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}
bench_clk_tck=$(getconf CLK_TCK)

# bench_cpu_busy CPU: busy clock ticks of one CPU since boot (/proc/stat:
# everything but idle and iowait). Minus a server's own ticks, that is what
# else ran there: other processes and interrupts (loopback traffic included),
# the sign of a shared, noisy machine.
bench_cpu_busy() {
  awk -v cpu="cpu$1" '$1 == cpu {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat
}

# bench_imgstore: prints the imgstore binary, or nothing if it is not built.
bench_imgstore() {
  local bin=${IMGSTORE:-$bench_repo/build/dev/src/app/imgstore}
  [[ -x $bin ]] && echo "$bin"
  return 0
}

# bench_lay_out: prints a lay_out binary: $LAY_OUT, the CMake-built one, or
# one compiled by hand into $bench_tmp.
bench_lay_out() {
  local bin
  for bin in "${LAY_OUT:-}" "$bench_repo/build/dev/bench/imgstore_lay_out"; do
    [[ -n $bin && -x $bin ]] && { echo "$bin"; return; }
  done
  bin=$bench_tmp/lay_out
  local src=$bench_repo/src/core
  bench_log "compiling lay_out by hand (no build/dev/bench/imgstore_lay_out)"
  # shellcheck disable=SC2046
  g++ -std=c++20 -O2 -I"$bench_repo/src" "$bench_repo/bench/tools/lay_out.cc" \
    "$src/image_id.cc" "$src/layout.cc" "$src/hex.cc" "$src/error.cc" \
    $(pkg-config --cflags --libs libxxhash) -lcrypto -o "$bin" >&2 ||
    bench_die "could not compile lay_out"
  echo "$bin"
}

# bench_corpus: makes sure bench/corpus/out exists; sets bench_corpus_dir.
bench_corpus() {
  bench_corpus_dir=${CORPUS_OUT:-$bench_repo/bench/corpus/out}
  [[ -f $bench_corpus_dir/STAMP ]] || CORPUS_OUT=$bench_corpus_dir "$bench_repo/bench/corpus/build"
}

# bench_warm_cache DIR: reads every file under DIR into the page cache.
bench_warm_cache() {
  find "$1" -type f -print0 | xargs -0 cat >/dev/null
}

# bench_render_conf TEMPLATE OUT KEY=VALUE...: replaces @KEY@ with VALUE.
bench_render_conf() {
  local template=$1 out=$2; shift 2
  local args=() kv
  for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${args[@]}" "$template" >"$out"
}

# bench_start_nginx CONF_TEMPLATE PORT ROOT CPU: starts nginx in the
# foreground in $bench_tmp/nginx-PORT, pinned to CPU; sets bench_pid.
bench_start_nginx() {
  local template=$1 port=$2 root=$3 cpu=$4 prefix=$bench_tmp/nginx-$2
  mkdir -p "$prefix"
  bench_render_conf "$template" "$prefix/nginx.conf" PREFIX="$prefix" \
    PORT="$port" ROOT="$root"
  bench_start "nginx-$port" taskset -c "$cpu" nginx -p "$prefix" \
    -c "$prefix/nginx.conf" -e "$prefix/error.log"
}

# bench_round_order ROUND ITEM...: the items one a line, reversed in even
# rounds, so rivals (or sizes) take turns going first.
bench_round_order() {
  local round=$1 i; shift
  if ((round % 2 == 0)); then
    for ((i = $#; i >= 1; i--)); do echo "${!i}"; done
  else
    printf '%s\n' "$@"
  fi
}

# bench_awk_stats: awk functions med(), lo(), hi() of a space-separated list
# of numbers, to prepend to a report program.
bench_awk_stats='
function sortlist(s, a,   n, i, j, t) {
  n = split(s, a, " ")
  for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
  return n
}
function med(s,   a, n) { n = sortlist(s, a); if (n == 0) return 0; return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
function lo(s,   a, n) { n = sortlist(s, a); return n ? a[1] : 0 }
function hi(s,   a, n) { n = sortlist(s, a); return n ? a[n] : 0 }
'
