#!/usr/bin/env bash
# with-db.sh CLUSTER CMD...: run CMD with DATABASE_URL pointing at a database.
#
# When DATABASE_URL is set (PostgreSQL 15+ or CockroachDB) it is used as is.
# Otherwise a private cluster is started with scripts/pg.sh and stopped when
# CMD ends, however it ends. A cluster named test-* is a throwaway one: it is
# created fresh, runs without fsync, and is deleted afterwards.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cluster=${1:?usage: with-db.sh CLUSTER CMD...}
shift

if [ -n "${DATABASE_URL:-}" ]; then
	exec "$@"
fi

case "$cluster" in
test*) cluster="$cluster-$$"; export PG_FAST=1; action=destroy ;;
*) action=stop ;;
esac

url=$("$here/pg.sh" start "$cluster") || exit 1
cleanup() { "$here/pg.sh" "$action" "$cluster" || true; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export DATABASE_URL="$url"
echo "with-db: PostgreSQL cluster '$cluster' at $url" >&2
"$@"
