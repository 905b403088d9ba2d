#!/usr/bin/env bash
# One distributed run on Docker Swarm: builds the worker image from a local rcstress binary,
# deploys N workers (deploy/swarm-stack.yaml) against a cluster, waits for them, merges their
# result files into one report, and removes the stack, also on failure or Ctrl-C.
#
#   deploy/swarm-run.sh --workers N --nodes HOST:PORT,... [options] [-- RUN FLAGS]
#
# RUN FLAGS are `rcstress worker`'s flags for the whole run (totals over all workers), e.g.
#   -- --messages 300000 --producers 3 --consumers 3
#
# Options:
#   --workers N        workers (replicas); default 3
#   --nodes LIST       the cluster (default: REDIS_CLUSTER_NODES); REDIS_PASSWORD from the
#                      environment reaches the workers as a swarm secret
#   --bin PATH         the rcstress binary for the image and the merge (default
#                      target/release/rcstress, built if missing)
#   --image TAG        use this image instead of building one (it must hold the same rcstress)
#   --results DIR      where result files and the merged report go (default
#                      ./rcstress-results-<time>); must be reachable at the same path on every node
#   --lead SECS        seconds from deploy to the common start (default 15)
#   --timeout SECS     give up on the workers after this long (default 600)
#   --init-swarm       if the engine is in no swarm, make it a single-node one for this run and
#                      leave it afterwards (removing docker_gwbridge too)
#
# Exit codes: 0 merged, verdict ok; 1 verdict not ok; 2 bad arguments; 3 Docker / swarm not
# usable; 4 a worker failed or timed out; else the merge's own code.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
workers=3
nodes=${REDIS_CLUSTER_NODES:-}
bin=""
image=""
results=""
lead=15
timeout=600
init_swarm=0

die() { code=$1; shift; echo "Error: $*" >&2; exit "$code"; }
number() { [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] || die 2 "$1 takes a whole number of at least 1, not '$2'"; }

while [ $# -gt 0 ]; do
    case $1 in
        --workers) number "$1" "${2:-}"; workers=$2; shift 2 ;;
        --nodes) nodes=${2:-}; shift 2 ;;
        --bin) bin=${2:-}; shift 2 ;;
        --image) image=${2:-}; shift 2 ;;
        --results) results=${2:-}; shift 2 ;;
        --lead) number "$1" "${2:-}"; lead=$2; shift 2 ;;
        --timeout) number "$1" "${2:-}"; timeout=$2; shift 2 ;;
        --init-swarm) init_swarm=1; shift ;;
        --) shift; break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die 2 "unknown option '$1' (see deploy/swarm-run.sh --help)" ;;
    esac
done
run_args=("$@")
[ -n "$nodes" ] || die 2 "which cluster? give --nodes HOST:PORT,... or REDIS_CLUSTER_NODES"
for a in "${run_args[@]}"; do
    case $a in
        --out|--index|--workers|--start-at|--start-in|--json|--strict)
            die 2 "$a is set by swarm-run.sh itself; leave it out of the run flags" ;;
    esac
done
if [ -z "$bin" ]; then
    bin=$repo/target/release/rcstress
    if [ ! -x "$bin" ]; then
        echo "swarm-run: building $bin" >&2
        (cd "$repo" && cargo build --release --quiet --bin rcstress)
    fi
fi
[ -x "$bin" ] || die 2 "$bin is not an executable rcstress binary"

docker info >/dev/null 2>&1 || die 3 "docker is not available (docker info failed)"
stack=rcstress-$$
created_swarm=0
deployed=0
envfile=""

cleanup() {
    set +e
    if [ "$deployed" = 1 ]; then
        docker stack rm "$stack" >/dev/null 2>&1
        # stack rm returns at once; its containers go away after.
        for _ in $(seq 1 120); do
            [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")" ] && break
            sleep 0.5
        done
    fi
    [ -n "$envfile" ] && rm -f "$envfile"
    if [ "$created_swarm" = 1 ]; then
        docker swarm leave --force >/dev/null 2>&1
        # Leaving keeps the bridge swarm created; it was not there before.
        for _ in $(seq 1 20); do
            docker network rm docker_gwbridge >/dev/null 2>&1 && break
            docker network inspect docker_gwbridge >/dev/null 2>&1 || break
            sleep 0.5
        done
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

state=$(docker info --format '{{.Swarm.LocalNodeState}}')
if [ "$state" != active ]; then
    [ "$init_swarm" = 1 ] || die 3 "this Docker engine is in no swarm (state: $state); run 'docker swarm init' or pass --init-swarm"
    created_swarm=1
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null || die 3 "docker swarm init failed"
    echo "swarm-run: made this engine a single-node swarm for the run" >&2
fi

if [ -z "$image" ]; then
    image=$(sh "$here/worker-image.sh" "$bin" | tail -n 1)
fi
[ -n "$results" ] || results=$PWD/rcstress-results-$(date +%Y%m%d-%H%M%S)
mkdir -p "$results"
results=$(cd "$results" && pwd)
if compgen -G "$results/worker-*.json" >/dev/null; then
    die 2 "$results already holds worker result files; give an empty --results directory"
fi

envfile=$(mktemp)
chmod 600 "$envfile"
if [ -n "${REDIS_PASSWORD:-}" ]; then
    printf 'REDIS_PASSWORD=%s\n' "$REDIS_PASSWORD" > "$envfile"
fi

start_at=$(( $(date +%s) + lead ))
export RCSTRESS_IMAGE=$image RCSTRESS_WORKERS=$workers RCSTRESS_START_AT=$start_at \
    RCSTRESS_RESULTS=$results RCSTRESS_ENV_FILE=$envfile REDIS_CLUSTER_NODES=$nodes \
    RCSTRESS_RUN_ARGS="${run_args[*]}"
deployed=1
docker stack deploy --resolve-image never -c "$here/swarm-stack.yaml" "$stack" >/dev/null
echo "swarm-run: deployed $workers workers as stack $stack, common start in ${lead} s, results in $results" >&2

service=${stack}_worker
deadline=$(( $(date +%s) + lead + timeout ))
while :; do
    states=$(docker service ps "$service" --format '{{.CurrentState}}' 2>/dev/null || true)
    complete=$(grep -c '^Complete' <<<"$states" || true)
    if grep -qE '^(Failed|Rejected|Shutdown)' <<<"$states"; then
        docker service logs --raw "$service" 2>&1 | tail -n 40 >&2
        die 4 "a worker failed:"$'\n'"$states"
    fi
    [ "$complete" -ge "$workers" ] && break
    [ "$(date +%s)" -lt "$deadline" ] || {
        docker service logs --raw "$service" 2>&1 | tail -n 40 >&2
        die 4 "the workers did not finish within $((lead + timeout)) s"
    }
    sleep 1
done
docker service logs --raw "$service" 2>/dev/null | grep '^rcstress worker' >&2 || true

status=0
"$bin" merge "$results" --nodes "$nodes" --json "$results/merged.json" --html "$results/merged.html" --strict || status=$?
echo "swarm-run: merged report in $results/merged.json and $results/merged.html" >&2
exit "$status"
