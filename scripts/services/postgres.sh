#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the shared state store (CHANCERY_STATE_URL) in tests and trials.
#
#   scripts/services/postgres.sh start DIR [PORT]   initdb in DIR (once), start it on 127.0.0.1:PORT
#                                                   (default: a free port), print its URL
#   scripts/services/postgres.sh url DIR            print the URL of the cluster started in DIR
#   scripts/services/postgres.sh stop DIR           stop it (the files stay; delete DIR to forget it)
#
# The URL is postgresql://chancery@127.0.0.1:PORT/chancery: role `chancery` (a superuser of this
# cluster), trust authentication, listening on loopback only, its socket in DIR. Debian's server
# binaries (/usr/lib/postgresql/N/bin, the newest; PG_BIN overrides). PostgreSQL refuses to run as
# root, so as root the cluster runs as the unprivileged account the embedded Elasticsearch uses
# (`chancery`, or CHANCERY_ENGINE_RUN_AS_USER), created when missing; DIR must be reachable by it.
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

pg_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$found" ] || [ ! -x "$found/postgres" ]; then
    echo "PostgreSQL's server is missing: install Debian's postgresql package (apt-get install postgresql)" >&2
    exit 1
  fi
  echo "$found"
}

account="${CHANCERY_ENGINE_RUN_AS_USER:-chancery}"

# Run a command as the cluster's owner: ourselves, or (as root) the unprivileged account.
as_owner() {
  if [ "$(id -u)" != 0 ]; then "$@"; return; fi
  if command -v setpriv >/dev/null 2>&1; then
    setpriv --reuid="$(id -u "$account")" --regid="$(id -g "$account")" --clear-groups -- "$@"
  else
    runuser -u "$account" -- "$@"
  fi
}

ensure_account() {
  [ "$(id -u)" = 0 ] || return 0
  id -u "$account" >/dev/null 2>&1 && return 0
  # No home and no login shell: the account exists only to own and run services (as pipeline/engine/account.py makes it).
  useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$account" 2>/dev/null || id -u "$account" >/dev/null
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || usage
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

case "$cmd" in
  start)
    bin="$(pg_bin)"
    ensure_account
    if [ -f "$dir/url" ] && as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      cat "$dir/url"; exit 0
    fi
    port="${3:-$(free_port)}"
    if [ "$(id -u)" = 0 ]; then
      chown "$account:" "$dir"
      chmod 0700 "$dir"
      if ! as_owner test -w "$dir"; then
        echo "$dir is not reachable by $account (a folder on the way is closed to it): use a folder under /tmp" >&2
        exit 1
      fi
    fi
    cd "$dir"  # the owner must be able to stand where its commands run
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir/data" -U chancery --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync \
        >"$dir/initdb.log" 2>&1 || { echo "initdb failed; see $dir/initdb.log" >&2; exit 1; }
    fi
    # Throwaway: no fsync (a crash of the machine loses the cluster, which nobody keeps).
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null || { echo "PostgreSQL did not start on 127.0.0.1:$port; see $dir/postgres.log" >&2; exit 1; }
    if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U chancery -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'chancery'" | grep -q 1; then
      as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U chancery chancery
    fi
    echo "postgresql://chancery@127.0.0.1:$port/chancery" >"$dir/url"
    cat "$dir/url"
    ;;
  url)
    [ -f "$dir/url" ] || { echo "no cluster was started in $dir" >&2; exit 1; }
    cat "$dir/url"
    ;;
  stop)
    [ -f "$dir/data/PG_VERSION" ] || exit 0
    bin="$(pg_bin)"
    cd "$dir"
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  *)
    usage;;
esac
