# Run a command with PostgreSQL and Redis available to the tests.
# If OFFICEHOURS_TEST_POSTGRES/REDIS are already set (as .ci/run does), use them; otherwise,
# when both servers are installed, start throwaway ones on loopback for this run only.
if [ -z "${OFFICEHOURS_TEST_POSTGRES:-}" ] && [ -z "${OFFICEHOURS_TEST_REDIS:-}" ] \
   && command -v redis-server >/dev/null 2>&1 \
   && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  . "$(dirname "$0")/services.sh"
  trap stop_services EXIT
fi
"$@"
