#!/usr/bin/env bash
# Services the Airflow tests (and `chancery airflow` users) need besides Elasticsearch: Redis.
#
#   scripts/services.sh install            apt-get install redis-server when missing (needs root / apt)
#   scripts/services.sh redis-start PORT DIR [ADDRS]   start redis-server on 127.0.0.1:PORT (or on each of
#                                          the space-separated ADDRS), state and pid in DIR
#   scripts/services.sh redis-stop DIR     stop the redis-server started with that DIR
#
# Airflow itself needs nothing more: its metadata database is SQLite under AIRFLOW_HOME
# (LocalExecutor), so no PostgreSQL on a test machine. docker-compose.yml uses PostgreSQL.
set -euo pipefail

redis_bin() { command -v redis-server || { [ -x /usr/bin/redis-server ] && echo /usr/bin/redis-server; }; }

case "${1:-}" in
  install)
    if [ -n "$(redis_bin || true)" ]; then exit 0; fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -qq redis-server >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq redis-server; }
      # Debian's package may start a system service on 6379; the tests use their own port and do not need it.
    else
      echo "redis-server is missing: install Debian's redis-server package (apt-get install redis-server)" >&2
      exit 1
    fi
    ;;
  redis-start)
    port="${2:?port}"; dir="${3:?state dir}"; addrs="${4:-127.0.0.1}"; first="${addrs%% *}"
    mkdir -p "$dir"
    bin="$(redis_bin)" || { echo "redis-server is missing: run scripts/services.sh install" >&2; exit 1; }
    # Protected mode refuses every non-loopback client of a server without a password. Bound to the
    # named addresses only (a private network such as the scale test's bridge), there is no other.
    protected=yes; [ "$addrs" = 127.0.0.1 ] || protected=no
    "$bin" --port "$port" --bind "$addrs" --protected-mode "$protected" --dir "$dir" --save '' --appendonly no \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 1 50); do
      if (exec 3<>"/dev/tcp/$first/$port") 2>/dev/null; then exit 0; fi
      sleep 0.1
    done
    echo "redis-server did not open $first:$port; see $dir/redis.log" >&2; exit 1
    ;;
  redis-stop)
    dir="${2:?state dir}"
    if [ -f "$dir/redis.pid" ]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; rm -f "$dir/redis.pid"; fi
    ;;
  *)
    sed -n '2,10p' "$0"; exit 2;;
esac
