#!/usr/bin/env bash
# pg.sh: a private PostgreSQL cluster for escrowd's development and tests.
#
#   scripts/pg.sh start NAME   start (creating if needed) cluster NAME under .data/pg/NAME
#                              on a free loopback port and a Unix socket in that
#                              folder; prints its DATABASE_URL (see url_of)
#   scripts/pg.sh stop NAME    stop it
#   scripts/pg.sh destroy NAME stop it and delete its folder
#
# PostgreSQL refuses to run as root: when uid is 0 the cluster folder belongs
# to the postgres user and the binaries run through runuser. When postgres
# cannot enter every parent folder of the checkout, clusters live under /tmp.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
name=${2:-dev}
[[ "$name" =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "pg.sh: bad cluster name '$name'" >&2; exit 2; }

die() { echo "pg.sh: $*" >&2; exit 1; }

find_bindir() {
	if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v pg_ctl)")"
		return
	fi
	local d
	for d in /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
		[ -x "$d/pg_ctl" ] && { echo "$d"; return; }
	done
	return 1
}

bindir=$(find_bindir || true)
if [ -z "$bindir" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "pg.sh: PostgreSQL not found; installing the postgresql package with apt-get" >&2
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2 \
			|| die "apt-get install postgresql failed"
		bindir=$(find_bindir) || die "postgresql installed but pg_ctl not found"
	else
		die "PostgreSQL 15+ server binaries (initdb, pg_ctl, postgres) are needed. Install them (Debian/Ubuntu: 'sudo apt-get install postgresql'; macOS: 'brew install postgresql@15') or set DATABASE_URL to a running PostgreSQL or CockroachDB."
	fi
fi

as_pg=()
if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
	as_pg=(runuser -u postgres --)
fi

# Where the cluster lives: .data/pg/NAME in the checkout if the server's user
# can reach it, otherwise under /tmp.
base="$root/.data/pg"
if [ ${#as_pg[@]} -gt 0 ] && ! runuser -u postgres -- test -x "$root"; then
	base="/tmp/escrowd-pg-$(echo "$root" | sha256sum | cut -c1-12)"
fi
dir="$base/$name"
data="$dir/data"

pgctl() { "${as_pg[@]}" "$bindir/pg_ctl" "$@"; }

running() { [ -f "$data/postmaster.pid" ] && pgctl -D "$data" status >/dev/null 2>&1; }

# The URL goes through the cluster's Unix socket when its path is plain and
# short enough for one (108 bytes): on one machine a socket costs less CPU
# per round trip than TCP loopback (docs/performance.md, "Fifth session").
# Otherwise, and with PG_TCP=1, it is the loopback port.
# socket_ok: the folder's path is plain and short enough for a socket
# (".s.PGSQL.<port>" in it, within 108 bytes).
socket_ok() { [[ "$dir" =~ ^[A-Za-z0-9/._-]+$ ]] && [ $((${#dir} + 17)) -lt 100 ]; }

url_of() {
	local port
	port=$(cat "$dir/port")
	if [ "${PG_TCP:-}" != 1 ] && socket_ok; then
		echo "postgres://postgres@/postgres?host=$dir&port=$port&sslmode=disable"
	else
		echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
	mkdir -p "$dir"
	[ ${#as_pg[@]} -gt 0 ] && chown postgres "$dir" && chmod 700 "$dir"
	if running; then url_of; return; fi
	if [ ! -f "$data/PG_VERSION" ]; then
		"${as_pg[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
			|| "${as_pg[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
			|| { cat "$dir/initdb.log" >&2; die "initdb failed"; }
	fi
	# SERIALIZABLE keeps predicate locks per row; past a few per page or
	# per table PostgreSQL widens them to the whole page or table, and then
	# unrelated transactions abort each other. Room for more row locks
	# keeps conflicts real ones (see docs/performance.md).
	# No socket where the path cannot hold one: PostgreSQL would not start.
	local sockets="''"
	socket_ok && sockets="'$dir'"
	local opts="-c listen_addresses=127.0.0.1 -c unix_socket_directories=$sockets -c default_transaction_isolation=serializable -c max_connections=300 -c shared_buffers=256MB"
	opts="$opts -c max_pred_locks_per_transaction=1024 -c max_pred_locks_per_relation=-4 -c max_pred_locks_per_page=16"
	# PG_EXTRA_OPTS: more server options, for diagnostics (e.g.
	# "-c shared_preload_libraries=pg_stat_statements").
	opts="$opts ${PG_EXTRA_OPTS:-}"
	if [ "${PG_FAST:-}" = 1 ]; then
		opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	fi
	local try port
	for try in $(seq 1 20); do
		port=$((20000 + RANDOM % 20000))
		port_free "$port" || continue
		echo "$port" >"$dir/port"
		[ ${#as_pg[@]} -gt 0 ] && chown postgres "$dir/port"
		if pgctl -D "$data" -l "$dir/server.log" -w -t 60 -o "-p $port $opts" start >/dev/null 2>&1; then
			url_of
			return
		fi
	done
	tail -20 "$dir/server.log" >&2 || true
	die "could not start PostgreSQL (see $dir/server.log)"
}

stop() {
	if running; then pgctl -D "$data" -m fast -w stop >/dev/null; fi
}

case "$cmd" in
start) start ;;
stop) stop ;;
destroy) stop; rm -rf "$dir" ;;
*) die "usage: scripts/pg.sh start|stop|destroy [NAME]" ;;
esac
