#!/bin/sh
# Builds the image `rcstress worker` runs in on Docker Swarm (and, pushed to a registry, on
# Kubernetes): FROM scratch, holding a stripped copy of an rcstress binary built on this host and
# the shared libraries `ldd` lists for it. Needs no registry and no network.
#
#   deploy/worker-image.sh [BINARY [TAG]]
#
# BINARY defaults to target/release/rcstress (built with `cargo build --release` if missing);
# TAG to redis-cluster-stress/rcstress:local. Prints the tag it built as its last line:
#   export RCSTRESS_IMAGE=$(deploy/worker-image.sh | tail -n 1)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
bin=${1:-$repo/target/release/rcstress}
tag=${2:-redis-cluster-stress/rcstress:local}

if [ ! -x "$bin" ] && [ -z "${1:-}" ]; then
    echo "worker-image: building $bin with cargo build --release" >&2
    (cd "$repo" && cargo build --release --quiet --bin rcstress) >&2
fi
[ -x "$bin" ] || { echo "worker-image: $bin is not an executable rcstress binary; build it or give its path" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root/usr/bin" "$root/etc" "$root/tmp"
# Debug information is half the binary and no use in a container.
objcopy --strip-debug "$bin" "$root/usr/bin/rcstress" 2>/dev/null || cp -L "$bin" "$root/usr/bin/rcstress"
chmod 0755 "$root/usr/bin/rcstress"
for lib in $(ldd "$bin" | awk '/=> \//{print $3} /^[[:space:]]*\/.*ld-linux/{print $1}' | sort -u); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
printf 'root:x:0:0:root:/tmp:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' > "$root/etc/hosts"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
chmod 1777 "$root/tmp"
cp "$here/worker.Dockerfile" "$ctx/Dockerfile"

previous=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
echo "worker-image: building $tag from $bin" >&2
docker build --quiet --label "redis-cluster-stress.built-by=deploy/worker-image.sh" -t "$tag" "$ctx" >&2
# A changed build leaves the previous image untagged: remove it (kept if in use).
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
    docker rmi "$previous" >/dev/null 2>&1 || true
fi
echo "$tag"
