#!/bin/sh
# Entry point of a cluster node: writes the node's config file from the environment
# and execs redis-server on it. The password goes into that file (mode 600, in the
# container's /tmp, not in the data volume), never onto a command line.
#
# Environment (set by the compose files):
#   RCS_PORT            client port; the cluster bus uses RCS_PORT + 10000
#   REDIS_PASSWORD      requirepass and masterauth (required, non-empty)
#   RCS_ANNOUNCE_IP     address the node announces to clients and peers (127.0.0.1)
#   RCS_BIND            addresses to listen on (default: 127.0.0.1 plus the
#                       announce address when that differs)
#   RCS_APPENDONLY      yes | no
#   RCS_APPENDFSYNC     always | everysec | no (default everysec)
#   RCS_MAXMEMORY, RCS_MAXMEMORY_POLICY   optional memory limit (the seed's 3mb
#                       allkeys-lru experiment)
set -eu

fail() { echo "node: $*" >&2; exit 64; }

[ -n "${RCS_PORT:-}" ] || fail "RCS_PORT is not set"
case "$RCS_PORT" in *[!0-9]*) fail "RCS_PORT must be a number, got '$RCS_PORT'" ;; esac
[ "$RCS_PORT" -ge 1 ] && [ "$RCS_PORT" -le 55535 ] \
    || fail "RCS_PORT must be 1..55535 (the cluster bus needs RCS_PORT+10000), got $RCS_PORT"
[ -n "${REDIS_PASSWORD:-}" ] \
    || fail "REDIS_PASSWORD is empty: copy .env.example to .env and set REDIS_PASSWORD"
case "$REDIS_PASSWORD" in
    *'
'*) fail "REDIS_PASSWORD must be a single line" ;;
esac

announce=${RCS_ANNOUNCE_IP:-127.0.0.1}
if [ -n "${RCS_BIND:-}" ]; then
    bind=$RCS_BIND
elif [ "$announce" = 127.0.0.1 ]; then
    bind=127.0.0.1
else
    # The node must be reachable at the address it announces.
    bind="127.0.0.1 $announce"
fi

# Quote for redis.conf: a double-quoted string with \ and " escaped.
pw=$(printf '%s' "$REDIS_PASSWORD" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')

conf=/tmp/redis-node-$RCS_PORT.conf
umask 077
{
    echo "include /rcs/rediscluster.conf"
    echo "port $RCS_PORT"
    echo "bind $bind"
    echo "cluster-announce-ip $announce"
    echo "appendonly ${RCS_APPENDONLY:-no}"
    echo "appendfsync ${RCS_APPENDFSYNC:-everysec}"
    if [ -n "${RCS_MAXMEMORY:-}" ]; then
        echo "maxmemory $RCS_MAXMEMORY"
        echo "maxmemory-policy ${RCS_MAXMEMORY_POLICY:-noeviction}"
    fi
    echo "requirepass \"$pw\""
    echo "masterauth \"$pw\""
} > "$conf"
unset pw REDIS_PASSWORD REDISCLI_AUTH

echo "node: starting redis-server on $bind port $RCS_PORT (announce $announce, appendonly ${RCS_APPENDONLY:-no})"
exec redis-server "$conf"
