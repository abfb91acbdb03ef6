#!/usr/bin/env bash
# Asterisk 22 for Parley's voice channel, built from Debian's source package into its own
# prefix (PARLEY_ASTERISK_PREFIX, default /opt/parley-asterisk).
#
# Debian 12 ships no Asterisk binary package, so this takes the source package from sid
# through a deb-src entry only (a `deb` entry for sid would upgrade the system's libc),
# unpacks it with Debian's patches applied, and builds it with the pjproject tarball that
# the source package carries (the build has no internet to download one).
#
# Idempotent and non-interactive: exits at once when $PREFIX/sbin/asterisk runs; adds the
# sid deb-src entry only when it is missing; builds in PARLEY_ASTERISK_BUILD_DIR (default
# /var/tmp/parley-asterisk-build), never inside the repository. Needs root for apt-get.
set -euo pipefail

prefix="${PARLEY_ASTERISK_PREFIX:-/opt/parley-asterisk}"
build_dir="${PARLEY_ASTERISK_BUILD_DIR:-/var/tmp/parley-asterisk-build}"
sources_file=/etc/apt/sources.list.d/parley-asterisk-sid-src.sources
build_deps=(
  build-essential dpkg-dev pkg-config bzip2 xz-utils
  libjansson-dev libxml2-dev libsqlite3-dev uuid-dev libedit-dev libssl-dev
  libsrtp2-dev libncurses-dev libcurl4-openssl-dev libopus-dev libspeexdsp-dev
)

step() { echo "== asterisk/install.sh: $*"; }

if [ -x "$prefix/sbin/asterisk" ] && version="$("$prefix/sbin/asterisk" -V 2>/dev/null)"; then
  echo "$version is installed in $prefix"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "Asterisk is missing from $prefix and building it needs root (apt-get, $prefix)." >&2
  echo "Run as root: sudo asterisk/install.sh" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Asterisk is missing from $prefix and this system has no apt-get to build it." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
started=$SECONDS

if [ ! -f "$sources_file" ]; then
  step "adding the sid deb-src entry ($sources_file)"
  cat >"$sources_file" <<'EOF'
# Added by Parley's asterisk/install.sh: Asterisk's source package, which bookworm lacks.
# Source only: a `deb` entry for sid would upgrade this system's libc.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi

step "installing the build dependencies"
apt-get update -q
apt-get install -y -q --no-install-recommends "${build_deps[@]}"

step "downloading Debian's asterisk source package into $build_dir"
rm -rf "$build_dir"
mkdir -p "$build_dir"
cd "$build_dir"
# As root apt cannot drop to _apt for a directory _apt may not write; let it write here.
chown _apt "$build_dir" 2>/dev/null || true
apt-get source -q --download-only asterisk
dsc="$(ls asterisk_*.dsc)"
step "unpacking $dsc with Debian's patches"
# apt already checked these files against the signed Sources index of sid.
dpkg-source --no-check -x "$dsc" src >/dev/null
cd src

# Asterisk's bundled-pjproject build looks for the upstream tarball in a download cache,
# checked against an md5 file; repack it from the (patched) component Debian carries.
pj_version="$(sed -n 's/^PJPROJECT_VERSION *= *//p' third-party/versions.mak)"
pj_component="$(find . -maxdepth 1 -type d -name '*pjproject' | head -n1)"
if [ -z "$pj_version" ] || [ -z "$pj_component" ]; then
  echo "Cannot find pjproject's version or its sources in Debian's asterisk package." >&2
  exit 1
fi
step "repacking pjproject $pj_version from $pj_component"
cache="$build_dir/download-cache"
mkdir -p "$cache/staging"
cp -a "$pj_component" "$cache/staging/pjproject-$pj_version"
tar -C "$cache/staging" -cjf "$cache/pjproject-$pj_version.tar.bz2" "pjproject-$pj_version"
rm -rf "$cache/staging"
(cd "$cache" && md5sum "pjproject-$pj_version.tar.bz2") \
  >"third-party/pjproject/pjproject-$pj_version.tar.bz2.md5"

step "configuring (prefix $prefix)"
./configure --prefix="$prefix" --with-pjproject-bundled --with-download-cache="$cache" \
  >configure.log 2>&1 || {
  tail -n 40 configure.log >&2
  echo "configure failed; the full log is $build_dir/src/configure.log" >&2
  exit 1
}

step "selecting modules (no sound packs, no add-ons, no CPU-specific code)"
make -s menuselect.makeopts >/dev/null
menuselect/menuselect \
  --disable-category MENUSELECT_CORE_SOUNDS \
  --disable-category MENUSELECT_MOH \
  --disable-category MENUSELECT_EXTRA_SOUNDS \
  --disable-category MENUSELECT_ADDONS \
  --disable BUILD_NATIVE \
  menuselect.makeopts

step "building with make -j$(($(nproc) + 1)) (a few minutes)"
make -s -j"$(($(nproc) + 1))" >make.log 2>&1 || {
  tail -n 40 make.log >&2
  echo "The build failed; the full log is $build_dir/src/make.log" >&2
  exit 1
}

step "installing into $prefix"
make -s install >install.log 2>&1 || {
  tail -n 40 install.log >&2
  echo "make install failed; the full log is $build_dir/src/install.log" >&2
  exit 1
}

for module in chan_pjsip app_queue app_chanspy app_confbridge app_mixmonitor app_amd \
  chan_audiosocket res_srtp res_http_websocket; do
  if [ ! -f "$prefix/lib/asterisk/modules/$module.so" ]; then
    echo "Asterisk was installed but $module.so is missing from $prefix/lib/asterisk/modules." >&2
    exit 1
  fi
done
rm -rf "$build_dir"
step "$("$prefix/sbin/asterisk" -V) is installed in $prefix ($((SECONDS - started)) s)"
