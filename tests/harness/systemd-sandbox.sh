#!/bin/bash
# systemd-sandbox.sh -- a private `systemd --user` service manager with its own dbus-daemon, in
# private mount+cgroup+pid namespaces, for tests that restart real units over D-Bus.
#
# Needs root (unshare, mount, a cgroup2 directory) and the Debian packages systemd, dbus,
# dbus-user-session, util-linux (unshare, script). A missing piece is an error (exit 2), never
# a silent pass. Everything lives in the namespaces and disappears with them; the host keeps one
# empty cgroup2 directory during the run, removed at the end (also when CMD fails).
#
# HAZARD: never start systemd outside its own cgroup namespace -- it then moves EVERY process of
# the machine into /init.scope. This script moves itself into a fresh cgroup and unshares a
# cgroup namespace first, so that cgroup is the only one systemd can see.
#
# Usage:
#   systemd-sandbox.sh [--timeout SECS] [--unit FILE]... [--deny-restart] -- CMD ARGS...
#       Set up the manager, start the standard units, run CMD inside; exit code = CMD's
#       (124 when CMD ran past --timeout, default 120 s).
#   systemd-sandbox.sh --self-test
#       Restart fake-infer@0.service with busctl and check that its MainPID changed.
#
# Units (user units, in $SANDBOX_UNIT_DIR):
#   fake-infer@.service   /bin/sleep infinity; fake-infer@0 and fake-infer@1 are started
#   bystander.service     /bin/sleep infinity; started; belongs to no allowlist
#   fails-to-start.service  ExecStartPre=/bin/false: a start or restart job ends "failed"
#   needs-broken.service  Requires= and After=fails-to-start.service: its job ends "dependency"
#   slow-start.service    ExecStartPre=/bin/sleep 30: a restart job takes 30 s (timeout paths)
#   --unit FILE           copies FILE in as well (not started)
#   --deny-restart        the bus refuses every RestartUnit call with AccessDenied, as it does
#                         for an unprivileged daemon without the polkit rule
#
# Inside CMD's environment:
#   DBUS_SYSTEM_BUS_ADDRESS, DBUS_SESSION_BUS_ADDRESS  the bus systemd1 is on (so code that talks
#                          to the system bus in production talks to this manager)
#   GPUWARDEN_SANDBOX=systemd   tells a re-executed test that it runs inside
#   SANDBOX_DIR            private temp dir (removed afterwards unless KEEP=1)
#   SANDBOX_UNIT_DIR       where unit files live (`systemctl --user daemon-reload` after adding)
#   XDG_RUNTIME_DIR, HOME  private; `systemctl --user` and `busctl --user` work
# Environment knobs: KEEP=1 keep the temp dir; SD_LOG_LEVEL=debug verbose manager log.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"

need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || {
            echo "systemd-sandbox: missing '$tool' (install with tests/peers/install.sh)" >&2
            exit 2
        }
    done
}

if [[ "${1:-}" != "--inner" ]]; then
    [[ $(id -u) -eq 0 ]] || { echo "systemd-sandbox: must run as root" >&2; exit 2; }
    need unshare script busctl systemctl dbus-daemon mount pgrep timeout
    [[ -x /lib/systemd/systemd ]] || { echo "systemd-sandbox: missing /lib/systemd/systemd" >&2; exit 2; }
    [[ -e /usr/lib/systemd/user/dbus.socket ]] || {
        echo "systemd-sandbox: missing dbus.socket user unit (package dbus-user-session)" >&2; exit 2; }
    BASE=$(mktemp -d "${TMPDIR:-/tmp}/gpuwarden-sd.XXXXXX")
    export BASE
    if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then CG2=/sys/fs/cgroup
    elif [[ $(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then CG2=/sys/fs/cgroup/unified
    else echo "systemd-sandbox: no cgroup2 hierarchy found" >&2; exit 2; fi
    CGDIR="$CG2/$(basename "$BASE")"
    mkdir "$CGDIR"
    cleanup() {
        if [[ -d "$CGDIR" ]]; then
            if [[ -e "$CGDIR/cgroup.kill" ]]; then echo 1 > "$CGDIR/cgroup.kill" || true; fi
            for _ in $(seq 50); do
                find "$CGDIR" -depth -type d -exec rmdir {} \; 2>/dev/null || true
                [[ -d "$CGDIR" ]] || break
                sleep 0.1
            done
            [[ -d "$CGDIR" ]] && echo "systemd-sandbox: WARNING: could not remove $CGDIR" >&2
        fi
        if [[ -n "${KEEP:-}" ]]; then echo "systemd-sandbox: kept $BASE" >&2; else rm -rf "$BASE"; fi
    }
    trap cleanup EXIT
    rc=0
    # The subshell joins the fresh cgroup, then unshares: inside, that cgroup is the root, so
    # systemd's "move everything into init.scope" only ever touches our own processes.
    ( echo $BASHPID > "$CGDIR/cgroup.procs"
      exec unshare --mount --cgroup --pid --fork --mount-proc --propagation private \
           "$SELF" --inner "$@" ) || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "---- systemd-sandbox: exit $rc; last lines of the manager log ----" >&2
        tail -n 25 "$BASE/systemd.log" >&2 2>/dev/null || true
    fi
    exit $rc
fi

# ------------------------------ inside the namespaces (PID 1 here) --------------------------
shift
TIMEOUT=120; EXTRA_UNITS=(); CMD=(); SELFTEST=""; DENY_RESTART=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --timeout) TIMEOUT=$2; shift 2 ;;
        --unit) EXTRA_UNITS+=("$2"); shift 2 ;;
        --self-test) SELFTEST=1; shift ;;
        --deny-restart) DENY_RESTART=1; shift ;;
        --) shift; CMD=("$@"); break ;;
        *) echo "systemd-sandbox: unknown argument '$1' (see the header of $SELF)" >&2; exit 2 ;;
    esac
done
[[ -n $SELFTEST || ${#CMD[@]} -gt 0 ]] || { echo "systemd-sandbox: give -- CMD or --self-test" >&2; exit 2; }

# sd_booted() must be true or `systemd --user` refuses to run.
mount -n -t tmpfs tmpfs /run/systemd
mkdir -p /run/systemd/system
# A fresh cgroup2 mount whose root is our namespaced cgroup ("unified" mode, no v1 writes).
mount -n -t cgroup2 cgroup2 /sys/fs/cgroup
# The manager logs to /dev/console and needs a tty there: a private pty copied into a file.
script -qfc "exec sleep infinity" "$BASE/systemd.log" </dev/null >/dev/null 2>&1 &
PTYHOLDER=""
for _ in $(seq 50); do PTYHOLDER=$(pgrep -P $! || true); [[ -n $PTYHOLDER ]] && break; sleep 0.1; done
[[ -n $PTYHOLDER ]] || { echo "systemd-sandbox: no pty for /dev/console" >&2; exit 1; }
mount -n --bind "$(readlink /proc/$PTYHOLDER/fd/0)" /dev/console

export HOME="$BASE/home" XDG_RUNTIME_DIR="$BASE/run" XDG_CONFIG_HOME="$BASE/config"
export SANDBOX_DIR="$BASE" SANDBOX_UNIT_DIR="$XDG_CONFIG_HOME/systemd/user"
mkdir -p "$HOME" "$SANDBOX_UNIT_DIR"
mkdir -m 0700 "$XDG_RUNTIME_DIR"
# The session bus is the socket of the user unit dbus.socket; systemd socket-activates its own
# dbus-daemon (a daemon started by hand first never gets org.freedesktop.systemd1).
export DBUS_SESSION_BUS_ADDRESS="unix:path=$XDG_RUNTIME_DIR/bus"

unit() { cat > "$SANDBOX_UNIT_DIR/$1"; }
unit fake-infer@.service <<'EOF'
[Unit]
Description=Fake inference server %i for watchdog tests
[Service]
ExecStart=/bin/sleep infinity
EOF
unit bystander.service <<'EOF'
[Unit]
Description=A unit outside every allowlist; the watchdog must never touch it
[Service]
ExecStart=/bin/sleep infinity
EOF
unit fails-to-start.service <<'EOF'
[Unit]
Description=A unit whose start job always fails
[Service]
ExecStartPre=/bin/false
ExecStart=/bin/sleep infinity
EOF
unit needs-broken.service <<'EOF'
[Unit]
Description=A unit whose start job fails on a dependency
Requires=fails-to-start.service
After=fails-to-start.service
[Service]
ExecStart=/bin/sleep infinity
EOF
unit slow-start.service <<'EOF'
[Unit]
Description=A unit whose start takes 30 seconds
[Service]
ExecStartPre=/bin/sleep 30
ExecStart=/bin/sleep infinity
EOF
for f in "${EXTRA_UNITS[@]}"; do cp "$f" "$SANDBOX_UNIT_DIR/"; done
if [[ -n $DENY_RESTART ]]; then
    # session.conf includes /etc/dbus-1/session.d: cover it in OUR mount namespace only.
    mkdir -p "$BASE/dbus-session.d"
    cat > "$BASE/dbus-session.d/deny-restart.conf" <<'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy context="mandatory">
    <deny send_destination="org.freedesktop.systemd1"
          send_interface="org.freedesktop.systemd1.Manager" send_member="RestartUnit"/>
  </policy>
</busconfig>
EOF
    [[ -d /etc/dbus-1/session.d ]] || { echo "systemd-sandbox: no /etc/dbus-1/session.d to cover" >&2; exit 2; }
    mount -n --bind "$BASE/dbus-session.d" /etc/dbus-1/session.d
fi

/lib/systemd/systemd --user --log-target=console --log-level="${SD_LOG_LEVEL:-info}" &
SD=$!
stop_manager() {
    timeout 5 systemctl --user exit >/dev/null 2>&1 || kill "$SD" 2>/dev/null || true
    timeout 5 tail --pid="$SD" -f /dev/null 2>/dev/null || kill -9 "$SD" 2>/dev/null || true
}
for _ in $(seq 100); do [[ -S $XDG_RUNTIME_DIR/systemd/private ]] && break; sleep 0.1; done
[[ -S $XDG_RUNTIME_DIR/systemd/private ]] || { echo "systemd-sandbox: manager did not start" >&2; exit 1; }
timeout 20 systemctl --user is-system-running --wait >/dev/null 2>&1 || true

systemctl --user start dbus.service
for _ in $(seq 100); do
    busctl --user status org.freedesktop.systemd1 >/dev/null 2>&1 && break; sleep 0.1
done
busctl --user status org.freedesktop.systemd1 >/dev/null 2>&1 || {
    echo "systemd-sandbox: org.freedesktop.systemd1 never appeared on the bus" >&2; stop_manager; exit 1; }

# Production code talks to the system bus; both sd-bus and zbus honour this variable.
export DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SESSION_BUS_ADDRESS"
export GPUWARDEN_SANDBOX=systemd
systemctl --user start fake-infer@0.service fake-infer@1.service bystander.service

rc=0
if [[ -n $SELFTEST ]]; then
    path=/org/freedesktop/systemd1/unit/fake_2dinfer_400_2eservice
    mainpid() { busctl --user get-property org.freedesktop.systemd1 "$path" \
                    org.freedesktop.systemd1.Service MainPID | awk '{print $2}'; }
    P1=$(mainpid)
    busctl --user call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
        org.freedesktop.systemd1.Manager RestartUnit ss fake-infer@0.service replace >/dev/null
    P2=$P1
    for _ in $(seq 50); do P2=$(mainpid); [[ "$P2" != "$P1" && "$P2" != 0 ]] && break; sleep 0.1; done
    if [[ "$P1" != 0 && "$P2" != 0 && "$P1" != "$P2" ]]; then echo "PASS: fake-infer@0 MainPID $P1 -> $P2"
    else echo "FAIL: fake-infer@0 MainPID $P1 -> $P2"; rc=1; fi
else
    timeout --kill-after=5 "$TIMEOUT" "${CMD[@]}" || rc=$?
    [[ $rc -eq 124 ]] && echo "systemd-sandbox: '${CMD[0]}' ran past ${TIMEOUT}s" >&2
fi
stop_manager
exit $rc
