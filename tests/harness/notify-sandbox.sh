#!/bin/bash
# notify-sandbox.sh -- a private session bus + Xvfb + a real dunst, with dbus-monitor logging
# every call to org.freedesktop.Notifications, for tests of desktop notifications.
#
# Needs the Debian packages dbus-daemon dbus-bin xvfb dunst (root not needed). A missing piece
# is an error (exit 2), never a silent pass. All processes are killed and the temp dir removed
# on exit, also when CMD fails.
#
# The bus config has NO <servicedir>: the stock session.conf would D-Bus-activate a notification
# daemon by itself (one that dies without a display, or one we did not mean to test).
#
# Usage:
#   notify-sandbox.sh [--timeout SECS] [--no-server] -- CMD ARGS...
#       Start bus, Xvfb and dunst, run CMD; exit code = CMD's (124 past --timeout, default 60 s).
#       --no-server: bus and monitor only, nobody owns org.freedesktop.Notifications.
#   notify-sandbox.sh --self-test
#       Send one notification with busctl and check that dbus-monitor saw it and dunst showed it.
#
# Inside CMD's environment:
#   DBUS_SESSION_BUS_ADDRESS  the private bus;   DISPLAY  the Xvfb display dunst draws on
#   NOTIFY_MONITOR_LOG        dbus-monitor's log of Notify calls (flushed per message)
#   GPUWARDEN_SANDBOX=notify  tells a re-executed test that it runs inside
#   SANDBOX_DIR               private temp dir (removed afterwards unless KEEP=1)
set -euo pipefail

TIMEOUT=60; SERVER=dunst; CMD=(); SELFTEST=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --timeout) TIMEOUT=$2; shift 2 ;;
        --no-server) SERVER=none; shift ;;
        --self-test) SELFTEST=1; shift ;;
        --) shift; CMD=("$@"); break ;;
        *) echo "notify-sandbox: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
    esac
done
[[ -n $SELFTEST || ${#CMD[@]} -gt 0 ]] || { echo "notify-sandbox: give -- CMD or --self-test" >&2; exit 2; }
for tool in dbus-daemon dbus-monitor busctl Xvfb dunst dunstctl timeout; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "notify-sandbox: missing '$tool' (install with tests/peers/install.sh)" >&2; exit 2; }
done

D=$(mktemp -d "${TMPDIR:-/tmp}/gpuwarden-notify.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ -n "${KEEP:-}" ]]; then echo "notify-sandbox: kept $D" >&2; else rm -rf "$D"; fi
}
trap cleanup EXIT

cat > "$D/session.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$D/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
dbus-daemon --config-file="$D/session.conf" --nofork --print-address=1 \
    > "$D/addr" 2> "$D/dbus.err" & PIDS+=($!)
for _ in $(seq 50); do [[ -s $D/addr ]] && break; sleep 0.1; done
# An empty address would make libdbus-based tools X11-autolaunch a bus of their own.
DBUS_SESSION_BUS_ADDRESS=$(head -1 "$D/addr")
[[ -n $DBUS_SESSION_BUS_ADDRESS ]] || { echo "notify-sandbox: bus did not start" >&2; cat "$D/dbus.err" >&2; exit 1; }
export DBUS_SESSION_BUS_ADDRESS

# -displayfd lets Xvfb pick a free display, so sandboxes can run side by side.
exec 3> "$D/display"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp > "$D/xvfb.log" 2>&1 & PIDS+=($!)
exec 3>&-
for _ in $(seq 100); do [[ -s $D/display ]] && break; sleep 0.1; done
[[ -s $D/display ]] || { echo "notify-sandbox: Xvfb did not start" >&2; cat "$D/xvfb.log" >&2; exit 1; }
export DISPLAY=":$(head -1 "$D/display")"

export NOTIFY_MONITOR_LOG="$D/monitor.log"
dbus-monitor "type='method_call',interface='org.freedesktop.Notifications'" \
    > "$NOTIFY_MONITOR_LOG" 2>&1 & PIDS+=($!)
for _ in $(seq 50); do [[ -s $NOTIFY_MONITOR_LOG ]] && break; sleep 0.1; done

if [[ $SERVER == dunst ]]; then
    dunst > "$D/dunst.log" 2>&1 & PIDS+=($!)
    for _ in $(seq 100); do
        busctl --user status org.freedesktop.Notifications >/dev/null 2>&1 && break; sleep 0.1
    done
    busctl --user status org.freedesktop.Notifications >/dev/null 2>&1 || {
        echo "notify-sandbox: dunst did not take org.freedesktop.Notifications" >&2
        cat "$D/dunst.log" >&2; exit 1; }
fi
export GPUWARDEN_SANDBOX=notify SANDBOX_DIR="$D"

rc=0
if [[ -n $SELFTEST ]]; then
    busctl --user call org.freedesktop.Notifications /org/freedesktop/Notifications \
        org.freedesktop.Notifications Notify susssasa\{sv\}i \
        gpuwarden 0 "" "self-test summary" "self-test body" 0 0 5000
    for _ in $(seq 30); do grep -q 'string "self-test summary"' "$NOTIFY_MONITOR_LOG" && break; sleep 0.1; done
    shown=$(dunstctl count displayed)
    if grep -q 'string "self-test body"' "$NOTIFY_MONITOR_LOG" && [[ $shown -ge 1 ]]; then
        echo "PASS: dbus-monitor saw the Notify call; dunst displays $shown"
    else echo "FAIL: dunst displays $shown"; cat "$NOTIFY_MONITOR_LOG"; rc=1; fi
else
    timeout --kill-after=5 "$TIMEOUT" "${CMD[@]}" || rc=$?
    [[ $rc -eq 124 ]] && echo "notify-sandbox: '${CMD[0]}' ran past ${TIMEOUT}s" >&2
fi
exit $rc
