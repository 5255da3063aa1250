#!/usr/bin/env bash
# Builds the Debian package gpuwarden_<version>_<arch>.deb with dpkg-deb alone (no cargo-deb,
# no debhelper): stages a built binary, the systemd unit and its optional drop-ins, the
# sysusers entry, the polkit rule, /etc/gpuwarden/watchdog.toml (a conffile), the Prometheus
# rules, and the man page and shell completions that the binary itself prints from its
# command-line definition (`gpuwarden man`, `gpuwarden completions SHELL`).
#
# Usage: packaging/build-deb.sh [BINARY] [OUTDIR]
#   BINARY  the gpuwarden to package (default: target/release/gpuwarden; build it with
#           `cargo build --release --locked`)
#   OUTDIR  where the .deb goes (default: target/debian); its path is printed on stdout
#
# The maintainer scripts (packaging/debian/) enable and start nothing; removing the package
# stops the unit (whose stop undoes any clock cap) and keeps /etc/gpuwarden.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$repo/target/release/gpuwarden}
[ -x "$bin" ] || { echo "build-deb.sh: $bin is not an executable (cargo build --release first)" >&2; exit 2; }
bin=$(realpath "$bin")
out=$(mkdir -p "${2:-$repo/target/debian}" && realpath "${2:-$repo/target/debian}")
cd "$repo"

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/gpuwarden"

# The program, its unit and the files the unit and INSTALL.md name.
install -D -m 0755 "$bin" "$root/usr/bin/gpuwarden"
# A release build is stripped already; a debug build (the test suite's) becomes 10x smaller.
strip --strip-unneeded "$root/usr/bin/gpuwarden"
install -D -m 0644 systemd/gpuwarden.service "$root/usr/lib/systemd/system/gpuwarden.service"
install -D -m 0644 systemd/gpuwarden.sysusers "$root/usr/lib/sysusers.d/gpuwarden.conf"
# Opt-in pieces, copied into place by the admin (INSTALL.md): the drop-ins change how the
# daemon runs, and the polkit rule must list the same units as watchdog.toml's allowlist.
install -D -m 0644 systemd/gpuwarden-unprivileged.conf "$root/usr/share/gpuwarden/systemd/unprivileged.conf"
install -D -m 0644 systemd/gpuwarden-kmsg.conf "$root/usr/share/gpuwarden/systemd/kmsg.conf"
install -D -m 0644 systemd/gpuwarden-restart.rules "$root/usr/share/gpuwarden/polkit-1/50-gpuwarden-restart.rules"
install -D -m 0644 watchdog.toml "$root/etc/gpuwarden/watchdog.toml"
install -D -m 0644 prometheus/gpuwarden-rules.yml "$root/usr/share/gpuwarden/prometheus/gpuwarden-rules.yml"
install -D -m 0644 systemd/INSTALL.md "$root/usr/share/doc/gpuwarden/INSTALL.md"
install -D -m 0644 README.md "$root/usr/share/doc/gpuwarden/README.md"
install -D -m 0644 packaging/debian/copyright "$root/usr/share/doc/gpuwarden/copyright"

# Generated from the command line's one definition, by the binary being packaged.
mkdir -p "$root/usr/share/man/man1"
"$bin" man | gzip -9n > "$root/usr/share/man/man1/gpuwarden.1.gz"
install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
    "$root/usr/share/fish/vendor_completions.d"
"$bin" completions bash > "$root/usr/share/bash-completion/completions/gpuwarden"
"$bin" completions zsh > "$root/usr/share/zsh/vendor-completions/_gpuwarden"
"$bin" completions fish > "$root/usr/share/fish/vendor_completions.d/gpuwarden.fish"

# Control files.
install -d "$root/DEBIAN"
for script in postinst prerm postrm; do
    install -m 0755 "packaging/debian/$script" "$root/DEBIAN/$script"
done
echo /etc/gpuwarden/watchdog.toml > "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    packaging/debian/control > "$root/DEBIAN/control"

deb="$out/gpuwarden_${version}_${arch}.deb"
# gzip, not dpkg's default xz: ten times faster to build for a package a third larger.
dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" >/dev/null
echo "$deb"
