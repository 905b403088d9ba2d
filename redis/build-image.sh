#!/bin/sh
# Builds the Redis image the compose files use on hosts without an image registry:
# a FROM-scratch image holding Debian's redis-server and redis-cli, the shared
# libraries `ldd` lists for them, and busybox-static as the shell for redis/*.sh.
#
#   redis/build-image.sh [TAG]      (default tag: redis-cluster-stress/redis:<major.minor>)
#
# Installs redis-server and redis-tools with apt-get when they are missing (as root,
# or through sudo) and unpacks busybox-static from `apt-get download`; needs no
# network besides Debian's package mirror. Prints the tag it built as its last line:
#   export REDIS_IMAGE=$(redis/build-image.sh | tail -n 1)
set -eu

here=$(cd "$(dirname "$0")" && pwd)

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"

need_pkgs=""
command -v redis-server >/dev/null 2>&1 || need_pkgs="$need_pkgs redis-server"
command -v redis-cli >/dev/null 2>&1 || need_pkgs="$need_pkgs redis-tools"
if [ -n "$need_pkgs" ]; then
    echo "build-image: installing$need_pkgs with apt-get" >&2
    # Installing redis-server must not leave a system redis listening: forbid the
    # package's service from starting (policy-rc.d exit 101 = action forbidden).
    $sudo sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
    $sudo apt-get update -qq >&2
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $need_pkgs >&2 \
        || { $sudo rm -f /usr/sbin/policy-rc.d; exit 1; }
    $sudo rm -f /usr/sbin/policy-rc.d
fi
server=$(command -v redis-server)
cli=$(command -v redis-cli)

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root/usr/bin" "$root/bin" "$root/etc" "$root/data" "$root/tmp"

# busybox-static is fetched and unpacked, not installed: installing it would
# replace a host's dynamically linked busybox package.
(cd "$ctx" && apt-get download busybox-static >/dev/null 2>&1) || {
    $sudo apt-get update -qq >&2
    (cd "$ctx" && apt-get download busybox-static >&2)
}
dpkg-deb -x "$ctx"/busybox-static_*.deb "$ctx/busybox"
rm -f "$ctx"/busybox-static_*.deb
busybox=$ctx/busybox/bin/busybox
[ -x "$busybox" ] || { echo "build-image: no bin/busybox in Debian's busybox-static package" >&2; exit 1; }

version=$("$server" --version | sed -n 's/.*v=\([0-9]*\.[0-9]*\)\..*/\1/p')
tag=${1:-redis-cluster-stress/redis:${version:-local}}

# `cp -L` follows Debian's redis-server -> redis-check-rdb symlink; redis picks its
# mode from argv[0], so the copy must keep the name redis-server.
cp -L "$server" "$root/usr/bin/redis-server"
cp -L "$cli" "$root/usr/bin/redis-cli"
cp -L "$busybox" "$root/bin/busybox"

# Every library either binary loads, at the path the loader looks for it.
for lib in $(ldd "$server" "$cli" | awk '/=> \//{print $3} /^[[:space:]]*\/.*ld-linux/{print $1}' | sort -u); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done

printf 'root:x:0:0:root:/data:/bin/sh\nredis:x:999:999:redis:/data:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\nredis:x:999:\n' > "$root/etc/group"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' > "$root/etc/hosts"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"

cp "$here/Dockerfile" "$ctx/Dockerfile"
previous=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
echo "build-image: building $tag from $("$server" --version | cut -d" " -f3 | cut -d= -f2) ($server)" >&2
docker build --quiet \
    --label "redis-cluster-stress.built-by=redis/build-image.sh" \
    --label "redis-cluster-stress.redis-version=$("$server" --version | cut -d" " -f3 | cut -d= -f2)" \
    -t "$tag" "$ctx" >&2
# A changed build leaves the previous image untagged: remove it (kept if in use).
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
    docker rmi "$previous" >/dev/null 2>&1 || true
fi
echo "$tag"
