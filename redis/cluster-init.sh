#!/bin/sh
# One-shot job that forms the cluster: waits for every node to answer PING, runs
# `redis-cli --cluster create` unless the first node already has all 16384 slots
# (a rerun after `up` or a restart, which is then a no-op), and exits 0 once every
# node reports cluster_state:ok and knows all the others.
#
# Environment: RCS_NODES ("ip:port ip:port ..."), RCS_REPLICAS (default 1),
# RCS_INIT_TIMEOUT seconds (default 90), REDISCLI_AUTH (the password; redis-cli and
# `redis-cli --cluster` read it from there, so it is never on a command line).
set -eu

fail() { echo "cluster-init: $*" >&2; exit 1; }

[ -n "${RCS_NODES:-}" ] || fail "RCS_NODES is not set"
[ -n "${REDISCLI_AUTH:-}" ] \
    || fail "REDIS_PASSWORD is empty: copy .env.example to .env and set REDIS_PASSWORD"
timeout=${RCS_INIT_TIMEOUT:-90}
deadline=$(( $(date +%s) + timeout ))
count=$(echo $RCS_NODES | wc -w)

cli() { addr=$1; shift; redis-cli -h "${addr%:*}" -p "${addr##*:}" "$@" 2>&1 | tr -d '\r'; }
field() { echo "$1" | sed -n "s/^$2:\(.*\)$/\1/p"; }
check_deadline() {
    [ "$(date +%s)" -lt "$deadline" ] || fail "gave up after ${timeout}s: $*"
}

for node in $RCS_NODES; do
    until reply=$(cli "$node" ping) && [ "$reply" = PONG ]; do
        check_deadline "node $node does not answer PING (last reply: ${reply:-none})"
        sleep 1
    done
done
echo "cluster-init: all $count nodes answer PING"

first=${RCS_NODES%% *}
assigned=$(field "$(cli "$first" cluster info)" cluster_slots_assigned)
if [ "$assigned" = 16384 ]; then
    echo "cluster-init: cluster already formed; nothing to create"
else
    # shellcheck disable=SC2086
    if ! redis-cli --cluster create $RCS_NODES --cluster-replicas "${RCS_REPLICAS:-1}" --cluster-yes; then
        fail "redis-cli --cluster create failed; if the nodes hold a partly formed cluster" \
            "from an earlier run, remove it with 'down -v' and bring the cluster up again"
    fi
fi

for node in $RCS_NODES; do
    while :; do
        info=$(cli "$node" cluster info)
        state=$(field "$info" cluster_state)
        known=$(field "$info" cluster_known_nodes)
        [ "$state" = ok ] && [ "$known" = "$count" ] && break
        check_deadline "node $node: cluster_state=${state:-?} known_nodes=${known:-?} of $count"
        sleep 1
    done
done
echo "cluster-init: cluster_state:ok on all $count nodes"
