#!/bin/sh
# Builds the Redis image the compose files use on hosts without an image registry:
# a FROM-scratch image holding Debian's redis-server and redis-cli, the shared
# libraries `ldd` lists for them, and busybox-static as the shell for redis/*.sh.
#
#   redis/build-image.sh [TAG]      (default tag: redis-cluster-stress/redis:<major.minor>)
#   RCS_SERVER=valkey8 redis/build-image.sh   (a server of scripts/servers: redis7, valkey8,
#                                              redis8, valkey9; tag redis-cluster-stress/redis:NAME)
#
# With RCS_SERVER the image holds that server (installed first by scripts/servers if missing)
# under the names redis-server and redis-cli, so the compose files and redis/*.sh run unchanged;
# a server unpacked from a newer Debian suite brings its own glibc and loader into the image.
#
# Installs redis-server and redis-tools with apt-get when they are missing (as root,
# or through sudo) and unpacks busybox-static from `apt-get download`; needs no
# network besides Debian's package mirror. Prints the tag it built as its last line, which
# goes into .env (the compose files read REDIS_IMAGE from there, see .env.example):
#   sed -i "s|^REDIS_IMAGE=.*|REDIS_IMAGE=$(redis/build-image.sh | tail -n 1)|" .env
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
unpacked=""
if [ -n "${RCS_SERVER:-}" ]; then
    servers=$here/../scripts/servers
    bin=$("$servers" path "$RCS_SERVER" 2>/dev/null) || { "$servers" install "$RCS_SERVER" >&2; bin=$("$servers" path "$RCS_SERVER"); }
    vendor=$(basename "$bin" -server)            # redis | valkey
    if [ -L "$bin" ]; then
        # Installed from Debian 12's own suites: the real files and their libraries via ldd.
        server=$(readlink -f "$bin")
        cli=$(dirname "$server")/$vendor-cli
    else
        # Unpacked from a newer suite: its root holds the binaries, libraries and loader.
        unpacked=${RCSTRESS_SERVERS_DIR:-/opt/rcstress/servers}/$RCS_SERVER/root
        server=$unpacked/usr/bin/$vendor-check-rdb
        cli=$unpacked/usr/bin/$vendor-cli
    fi
    [ -x "$cli" ] || { echo "build-image: no $vendor-cli beside $server" >&2; exit 1; }
fi

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

# The version line, from the server as it runs (through its own loader when unpacked).
server_version() {
    if [ -n "$unpacked" ]; then "$("$here/../scripts/servers" path "$RCS_SERVER")" --version; else "$server" --version; fi
}
version=$(server_version | sed -n 's/.*v=\([0-9]*\.[0-9]*\)\..*/\1/p')
tag=${1:-redis-cluster-stress/redis:${RCS_SERVER:-${version:-local}}}

# `cp -L` follows Debian's redis-server -> redis-check-rdb symlink; redis picks its
# mode from argv[0], so the copy must keep the name redis-server.
cp -L "$server" "$root/usr/bin/redis-server"
cp -L "$cli" "$root/usr/bin/redis-cli"
cp -L "$busybox" "$root/bin/busybox"

# Every library either binary loads, at the path the loader looks for it.
if [ -z "$unpacked" ]; then
    for lib in $(ldd "$server" "$cli" | awk '/=> \//{print $3} /^[[:space:]]*\/.*ld-linux/{print $1}' | sort -u); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
else
    ld=$unpacked/usr/lib64/ld-linux-x86-64.so.2
    [ -e "$ld" ] || ld=$unpacked/lib64/ld-linux-x86-64.so.2
    libpath=$unpacked/lib/x86_64-linux-gnu:$unpacked/usr/lib/x86_64-linux-gnu
    # The newer glibc's loader at the path the binaries ask for, their libraries at /usr/lib.
    mkdir -p "$root/lib64" "$root/usr/lib/x86_64-linux-gnu"
    cp -L "$ld" "$root/lib64/ld-linux-x86-64.so.2"
    for lib in $("$ld" --library-path "$libpath" --list "$server" "$cli" | awk '/=> \//{print $3}' | sort -u); do
        cp -L "$lib" "$root/usr/lib/x86_64-linux-gnu/$(basename "$lib")"
    done
fi

printf 'root:x:0:0:root:/data:/bin/sh\nredis:x:999:999:redis:/data:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\nredis:x:999:\n' > "$root/etc/group"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' > "$root/etc/hosts"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"

cp "$here/Dockerfile" "$ctx/Dockerfile"
previous=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
full_version=$(server_version | cut -d" " -f1,3 | sed 's/ v=/ /')
echo "build-image: building $tag from $full_version ($server)" >&2
docker build --quiet \
    --label "redis-cluster-stress.built-by=redis/build-image.sh" \
    --label "redis-cluster-stress.redis-version=$full_version" \
    -t "$tag" "$ctx" >&2
# A changed build leaves the previous image untagged: remove it (kept if in use).
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
    docker rmi "$previous" >/dev/null 2>&1 || true
fi
echo "$tag"
