#!/bin/sh
# Healthy when this node serves the whole cluster: CLUSTER INFO says cluster_state:ok,
# which needs all 16384 slots assigned and reachable. A node that is up but not yet
# part of a formed cluster reports cluster_state:fail and stays "starting".
# redis-cli takes the password from REDISCLI_AUTH (set by the compose file).
out=$(redis-cli -h 127.0.0.1 -p "${RCS_PORT:?}" cluster info 2>&1) || { echo "$out"; exit 1; }
case "$out" in
    *cluster_state:ok*) echo "cluster_state:ok"; exit 0 ;;
esac
echo "$out" | head -n 3
exit 1
