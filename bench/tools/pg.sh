# shellcheck shell=bash disable=SC2034,SC2154  # variables here are used by the sourcing scripts
# PostgreSQL helpers for the bench/*/run scripts (DB=postgres); source it
# after bench/lib.sh and bench_init, do not run it.
#
# bench_pg_start starts one throwaway cluster (scripts/pg-scratch) per script
# run in its own directory under /tmp (bench_tmp is mode 700, which the
# cluster's system user could not enter when run as root) and chains its stop
# after bench_cleanup on exit, so the trackers go first and the postmaster,
# stopped by its own pid, last.

bench_pg_scratch=$bench_repo/scripts/pg-scratch
bench_pg_dir="" bench_pg_url=""

bench_pg_cleanup() {
  bench_cleanup
  if [[ -n $bench_pg_dir ]]; then
    "$bench_pg_scratch" stop "$bench_pg_dir" || true
    if [[ ${KEEP:-0} == 1 ]]; then bench_log "kept $bench_pg_dir"; else rm -rf "$bench_pg_dir"; fi
  fi
}

# bench_pg_start [CPU]: starts the cluster, pinned to CPU if given; sets
# bench_pg_url (database imgstore).
bench_pg_start() {
  command -v psql >/dev/null || bench_die "missing psql"
  bench_pg_dir=$(mktemp -d /tmp/imgstore-bench-pg.XXXXXX)
  chmod 755 "$bench_pg_dir"
  trap bench_pg_cleanup EXIT
  bench_pg_url=$("$bench_pg_scratch" start "$bench_pg_dir") ||
    bench_die "pg-scratch could not start PostgreSQL (see $bench_pg_dir)"
  bench_log "PostgreSQL at $bench_pg_url"
  # Pinned beside the tracker (CPU $1, if given), as SQLite runs inside it:
  # the postmaster and its children now; backends forked later inherit it.
  if [[ -n ${1:-} ]]; then
    local pm p
    pm=$(head -1 "$bench_pg_dir/data/postmaster.pid")
    for p in "$pm" $(cat "/proc/$pm/task/$pm/children" 2>/dev/null); do
      taskset -pc "$1" "$p" >/dev/null || true
    done
  fi
}

# bench_pg_psql URL ARGS...: psql against URL, quiet, stopping at the first error.
bench_pg_psql() {
  local url=$1; shift
  psql "$url" -X -q -v ON_ERROR_STOP=1 "$@"
}

# bench_pg_new_db NAME: creates an empty database NAME in the cluster and
# prints its URL (the tracker's migrations make the schema on start).
bench_pg_new_db() {
  bench_pg_psql "$bench_pg_url" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >&2 ||
    bench_die "could not create database $1"
  echo "${bench_pg_url%/*}/$1"
}

# bench_bulk_csv: prints a bulk_csv binary: $BULK_CSV, the CMake-built one,
# or one compiled by hand into $bench_tmp (as bench_lay_out does).
bench_bulk_csv() {
  local bin
  for bin in "${BULK_CSV:-}" "$bench_repo/build/dev/bench/imgstore_bulk_csv"; do
    [[ -n $bin && -x $bin ]] && { echo "$bin"; return; }
  done
  bin=$bench_tmp/bulk_csv
  local src=$bench_repo/src/core
  bench_log "compiling bulk_csv by hand (no build/dev/bench/imgstore_bulk_csv)"
  # shellcheck disable=SC2046
  g++ -std=c++20 -O2 -I"$bench_repo/src" "$bench_repo/bench/tools/bulk_csv.cc" \
    "$src/image_id.cc" "$src/layout.cc" "$src/hex.cc" "$src/error.cc" \
    $(pkg-config --cflags --libs libxxhash) -lcrypto -o "$bin" >&2 ||
    bench_die "could not compile bulk_csv"
  echo "$bin"
}

# bench_pg_bulk_load URL COUNT SERVERS IDS_OUT: the PostgreSQL counterpart of
# imgstore_bulk_load: COUNT synthetic images on server ids 1..SERVERS, loaded
# with COPY in one transaction, then the tables analyzed; the ids go to
# IDS_OUT. servers.cur_pic_amount is left alone, as bulk_load.cc says why.
bench_pg_bulk_load() {
  local url=$1 count=$2 servers=$3 ids=$4 gen t0=$SECONDS
  gen=${bench_bulk_csv_bin:=$(bench_bulk_csv)}
  "$gen" "$count" "$servers" "$bench_tmp/images.csv" "$bench_tmp/placements.csv" "$ids" ||
    bench_die "bulk_csv failed"
  bench_pg_psql "$url" -1 \
    -c "\\copy images (image_id, content_type, bytes, width, height, sha256, created_at) FROM '$bench_tmp/images.csv' WITH (FORMAT csv)" \
    -c "\\copy placements (image_id, server_id, relative_path) FROM '$bench_tmp/placements.csv' WITH (FORMAT csv)" \
    -c "ANALYZE servers, images, placements" ||
    bench_die "COPY into PostgreSQL failed"
  rm -f "$bench_tmp/images.csv" "$bench_tmp/placements.csv"
  bench_log "PostgreSQL: $count images generated and loaded with COPY in $((SECONDS - t0)) s"
}
