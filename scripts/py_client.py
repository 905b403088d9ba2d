#!/usr/bin/env python3
"""A reference client in Python (redis-py), to compare rcstress against what a typical
application does, on the same cluster, in the same run (see scripts/compare).

Two modes, like the seed's Go client and its usual improvement:
  seed     one XADD, one XREADGROUP (COUNT 1), one XACK per message;
  batched  XADD pipelined 100 at a time, XREADGROUP COUNT 500, one XACK per read batch.
One producer thread and one consumer thread on one stream key, as in the seed. Prints one
JSON line: {"mode", "messages", "elapsed_seconds", "msgs_per_sec", "acked"}. The password
comes from REDIS_PASSWORD, never from the command line.

usage: py_client.py MODE MESSAGES HOST:PORT[,HOST:PORT...]
"""
import json
import os
import sys
import threading
import time

from redis.cluster import ClusterNode, RedisCluster


def main():
    mode, messages, nodes = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode not in ("seed", "batched"):
        sys.exit("mode must be seed or batched")
    startup = [ClusterNode(h, int(p)) for h, p in (n.rsplit(":", 1) for n in nodes.split(","))]
    password = os.environ.get("REDIS_PASSWORD")
    prod = RedisCluster(startup_nodes=startup, password=password)
    cons = RedisCluster(startup_nodes=startup, password=password)
    key, group = f"pyclient-{mode}:{{py}}", "pyclient"
    prod.delete(key)
    prod.xgroup_create(key, group, id="0", mkstream=True)
    payload = "x" * 64
    acked = 0
    deadline = time.monotonic() + 600  # every loop is bounded

    def produce():
        if mode == "seed":
            for i in range(messages):
                prod.xadd(key, {"m": i, "d": payload})
        else:
            for start in range(0, messages, 100):
                pipe = prod.pipeline()
                for i in range(start, min(start + 100, messages)):
                    pipe.xadd(key, {"m": i, "d": payload})
                pipe.execute()

    t0 = time.monotonic()
    producer = threading.Thread(target=produce)
    producer.start()
    count = 1 if mode == "seed" else 500
    while acked < messages and time.monotonic() < deadline:
        reply = cons.xreadgroup(group, "c1", {key: ">"}, count=count, block=100)
        for _stream, entries in reply or []:
            ids = [eid for eid, _ in entries]
            if mode == "seed":
                for eid in ids:
                    acked += cons.xack(key, group, eid)
            elif ids:
                acked += cons.xack(key, group, *ids)
    elapsed = time.monotonic() - t0
    producer.join(timeout=60)
    prod.delete(key)
    print(json.dumps({"mode": mode, "messages": messages, "elapsed_seconds": elapsed,
                      "msgs_per_sec": acked / elapsed if elapsed > 0 else 0.0, "acked": acked}))
    sys.exit(0 if acked == messages else 1)


if __name__ == "__main__":
    main()
