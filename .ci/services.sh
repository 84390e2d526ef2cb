# Start throwaway PostgreSQL and Redis servers on loopback for the test run.
# Source it: it exports OFFICEHOURS_TEST_POSTGRES / OFFICEHOURS_TEST_REDIS and defines
# stop_services. Works as root (PostgreSQL then runs as the postgres user).
set -eu

SERVICES_DIR=$(mktemp -d /tmp/officehours-services.XXXXXX)
chmod 755 "$SERVICES_DIR"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PG_PORT=$(free_port)
REDIS_PORT=$(free_port)

as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

mkdir -p "$SERVICES_DIR/pg"
[ "$(id -u)" = 0 ] && chown postgres "$SERVICES_DIR/pg"
as_postgres "'$PG_BIN/initdb' -A trust -U postgres -D '$SERVICES_DIR/pg/data' >'$SERVICES_DIR/pg/initdb.log' 2>&1"
as_postgres "'$PG_BIN/pg_ctl' -w -D '$SERVICES_DIR/pg/data' -l '$SERVICES_DIR/pg/server.log' \
  -o \"-p $PG_PORT -c listen_addresses=127.0.0.1 -k '$SERVICES_DIR/pg' -c fsync=off -c max_connections=200\" start >/dev/null"

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --daemonize yes --dir "$SERVICES_DIR" --logfile "$SERVICES_DIR/redis.log"
for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

export OFFICEHOURS_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
export OFFICEHOURS_TEST_REDIS="redis://127.0.0.1:$REDIS_PORT/0"

stop_services() {
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  as_postgres "'$PG_BIN/pg_ctl' -D '$SERVICES_DIR/pg/data' -m fast stop >/dev/null" || true
  rm -rf "$SERVICES_DIR"
}
set +eu
