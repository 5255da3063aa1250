#!/usr/bin/env bash
# Installs the real peers the test suite talks to (Debian 12, as root): systemd and D-Bus for
# unit restarts, Xvfb + dunst for desktop notifications, Prometheus and Alertmanager for
# metrics and alerts, node to run the polkit rule, Slurm and munge for `check --slurm`
# (slurmctld, slurmd, slurm-client, munge; their postinst may start system daemons, which the
# tests never use: tests/harness/slurm-sandbox.sh starts its own), libfaketime to jump the
# daemon's wall clock, openssl to make the test CAs of the HTTPS alert receivers, man-db, zsh
# and fish to check the packaged man page and completions (tests/deb.rs), and ptxas (from
# PyPI) to assemble the benchmark's PTX kernels.
# Idempotent: does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/../.."

packages=(gcc libc6-dev make curl python3-venv systemd dbus dbus-user-session dbus-daemon dbus-bin
          xvfb dunst libnotify-bin prometheus prometheus-alertmanager tmux util-linux procps
          nodejs slurmctld slurmd slurm-client munge faketime openssl
          man-db zsh fish)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${missing[*]} (run this script as root)" >&2
        exit 2
    fi
    # dpkg can lose its temp dir under a busy /tmp: give apt a private one.
    export TMPDIR; TMPDIR=$(mktemp -d /var/tmp/gpuwarden-apt.XXXXXX)
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ptxas, to check that every embedded PTX kernel assembles for sm_80 and sm_90.
venv=target/tools/ptxas-venv
if [ ! -x "$venv/bin/python" ] || ! compgen -G "$venv/lib/python3*/site-packages/nvidia/cuda_nvcc/bin/ptxas" >/dev/null; then
    mkdir -p target/tools
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "nvidia-cuda-nvcc-cu12==12.8.*"
fi
echo "test peers installed"
