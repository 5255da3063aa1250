#!/bin/bash
# Makes the README's screenshots from the real binary on the simulated fleet:
# a private tmux server with a fixed 120x40 pane -> capture-pane -e (ANSI) -> aha (HTML)
# -> headless chromium --screenshot -> PNG.
#
#   screenshots/make.sh                 # all PNGs into screenshots/
#   GPUWARDEN=path/to/gpuwarden screenshots/make.sh
#   ONLY=top-detail screenshots/make.sh  # just one of them (top, top-detail, top-overheat,
#                                        # top-64, top-overlay, top-replay, top-watchdog,
#                                        # top-fleet, top-fleet-host)
#
# Needs (Debian): tmux aha chromium fonts-dejavu-core. Builds the release binary if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUTDIR=${OUTDIR:-$ROOT/screenshots}
COLS=${COLS:-120}; ROWS=${ROWS:-40}
BIN=${GPUWARDEN:-$ROOT/target/release/gpuwarden}
for tool in tmux aha chromium; do
    command -v "$tool" >/dev/null || { echo "make.sh: $tool is missing (apt-get install tmux aha chromium fonts-dejavu-core)" >&2; exit 2; }
done
[[ -x $BIN ]] || cargo build --release

W=$(mktemp -d "${TMPDIR:-/tmp}/gpuwarden-shots.XXXXXX")
SOCK="$W/tmux.sock"
cleanup() { tmux -S "$SOCK" kill-server 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
printf 'set -g status off\nset -g default-terminal tmux-256color\n' > "$W/tmux.conf"

# shot NAME WAIT_SECONDS "KEYS" ARGS...  — runs gpuwarden ARGS, waits, sends KEYS
# (tmux send-keys words, e.g. "2 Enter"), waits for two more samples, captures NAME.png.
shot() {
    local name=$1 wait=$2 keys=$3; shift 3
    [[ -z ${ONLY:-} || $ONLY == "$name" ]] || return 0
    tmux -S "$SOCK" kill-server 2>/dev/null || true
    # The old server may still be on its way out: a new session must not reach it.
    rm -f "$SOCK"
    LANG=C.UTF-8 tmux -S "$SOCK" -f "$W/tmux.conf" new-session -d -s shot -x "$COLS" -y "$ROWS" \
        "$(printf '%q ' env LANG=C.UTF-8 TERM=tmux-256color "$BIN" "$@")"
    sleep "$wait"
    if [[ -n $keys ]]; then
        # shellcheck disable=SC2086  # KEYS is a list of tmux key names
        tmux -S "$SOCK" send-keys -t shot $keys
        sleep 2.2
    fi
    tmux -S "$SOCK" capture-pane -t shot -p -e -N > "$W/$name.ansi"
    render "$name"
}

CW=8.43; LH=17   # DejaVu Sans Mono 14px: advance ~8.43px, line height 17px
render() {
    local name=$1 width height
    width=$(python3 -c "import math;print(math.ceil($COLS*$CW)+8)"); height=$((ROWS*LH+8))
    {
        cat <<HTML
<!DOCTYPE html><html><head><meta charset="utf-8"><style>
html,body{margin:0;background:#101216;overflow:hidden}
pre{margin:0;padding:4px;color:#d0d0d0;background:#101216;
    font-family:"DejaVu Sans Mono",monospace;font-size:14px;line-height:17px;}
.b{display:inline-block;width:${CW}px;height:17px;vertical-align:top;overflow:visible;font-size:19px;line-height:17px;letter-spacing:-3px;
   font-family:"DejaVu Sans",sans-serif}
</style></head><body><pre>
HTML
        # Braille (the chart lines) is not in DejaVu Sans Mono: each braille character gets a
        # box exactly one cell wide so the fallback font cannot shift the rest of the line.
        aha --no-header < "$W/$name.ansi" |
            perl -CSD -pe 's/([\x{2800}-\x{28FF}])/<span class="b">$1<\/span>/g'
        echo '</pre></body></html>'
    } > "$W/$name.html"
    # root needs --no-sandbox; a private profile keeps ~/.config clean
    chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$W/profile" --force-device-scale-factor=1 \
        --window-size="$width,$height" --screenshot="$OUTDIR/$name.png" "file://$W/$name.html" \
        > "$W/chromium.log" 2>&1 || { cat "$W/chromium.log" >&2; exit 1; }
    echo "wrote $OUTDIR/$name.png"
}

# The overview of an 8-GPU box after a minute of history.
shot top ${WAIT:-40} "" --demo --demo-gpus 8 --interval 500ms
# GPU 2 (inference) in the detail view.
shot top-detail ${WAIT:-40} "2 Enter" --demo --demo-gpus 8 --interval 500ms
# GPU 0's cooling fails: in its detail view the temperature climbs through 85 °C and the
# card throttles (power and clock drop).
shot top-overheat ${WAIT_HOT:-45} "Enter" --demo --scenario overheat --interval 500ms
# 64 GPUs: the compact grid, with the selected GPU's charts and processes beside it.
shot top-64 ${WAIT:-40} "" --demo --demo-gpus 64 --interval 500ms
# Every GPU overlaid (o): one chart per metric, each GPU in its own color.
shot top-overlay ${WAIT:-40} "o" --demo --demo-gpus 8 --interval 500ms

# free_port: a loopback port nobody listens on right now.
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
BG=()
stop_bg() { for p in "${BG[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; BG=(); }
trap 'stop_bg; cleanup' EXIT

# A replay: ten simulated minutes of an overheating card, recorded at once, played at 10×
# (the header says it is a replay, where and how fast).
if [[ -z ${ONLY:-} || $ONLY == top-replay ]]; then
    "$BIN" --demo --scenario overheat --interval 1s record --simulated-time --duration 10m \
        -o "$W/overheat.jsonl.zst"
    shot top-replay ${WAIT_REPLAY:-20} "" top --trace "$W/overheat.jsonl.zst" --speed 10
fi

# The watchdog panel: a dry-run daemon on the demo fleet, and the dashboard with its config.
if [[ -z ${ONLY:-} || $ONLY == top-watchdog ]]; then
    mkdir -p "$W/state"
    sed -e "s|^state_dir = .*|state_dir = \"$W/state\"|" \
        -e "s|^listen = .*|listen = \"127.0.0.1:$(free_port)\"|" watchdog.toml > "$W/watchdog.toml"
    "$BIN" --demo --scenario overheat watch --dry-run --config "$W/watchdog.toml" \
        > "$W/watch.log" 2>&1 &
    BG+=($!)
    shot top-watchdog ${WAIT_HOT:-45} "" --demo --scenario overheat top --config "$W/watchdog.toml"
    stop_bg
fi

# The fleet view: two agents that both call themselves `demo` (so each shows its address),
# one of them overheating, and an address where nothing answers.
if [[ -z ${ONLY:-} || $ONLY == top-fleet ]]; then
    A=127.0.0.1:$(free_port); B=127.0.0.1:$(free_port); DEAD=127.0.0.1:$(free_port)
    "$BIN" --demo --demo-gpus 8 serve --listen "$A" > "$W/a.log" 2>&1 &
    BG+=($!)
    "$BIN" --demo --demo-gpus 4 --scenario overheat serve --listen "$B" > "$W/b.log" 2>&1 &
    BG+=($!)
    shot top-fleet ${WAIT_FLEET:-30} "" top --agents "$A,$B,$DEAD" --interval 1s
    stop_bg
fi
if [[ -z ${ONLY:-} || $ONLY == top-fleet-host ]]; then
    # The overheating agent opened (Down, Enter) after a minute on the hosts view: its charts
    # are already filled, every fetch having been recorded.
    A=127.0.0.1:$(free_port); B=127.0.0.1:$(free_port); DEAD=127.0.0.1:$(free_port)
    "$BIN" --demo --demo-gpus 8 serve --listen "$A" > "$W/a.log" 2>&1 &
    BG+=($!)
    "$BIN" --demo --demo-gpus 4 --scenario overheat serve --listen "$B" > "$W/b.log" 2>&1 &
    BG+=($!)
    shot top-fleet-host ${WAIT_FLEET_HOST:-60} "Down Enter" top --agents "$A,$B,$DEAD" --interval 1s
    stop_bg
fi
