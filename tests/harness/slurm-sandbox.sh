#!/usr/bin/env bash
# slurm-sandbox.sh -- a throw-away, single-node, real Slurm cluster (munged + slurmctld +
# slurmd) for tests that drain and resume a node with scontrol, or run a Prolog.
#
# Needs root (slurmd runs as root) and the Debian packages slurmctld, slurmd, slurm-client,
# munge (tests/peers/install.sh). A missing piece is an error (exit 2), never a silent pass.
# Nothing in /etc/slurm or /etc/munge is read or changed and no systemd unit is used: every run
# gets its own temp dir (config, munge key and socket, state, spool, logs), fresh free TCP ports
# on 127.0.0.1 and a fresh munge key, so sandboxes can run side by side.
#
# Usage:
#   slurm-sandbox.sh [--timeout SECS] [--gpus N] -- CMD ARGS...
#       Start the cluster, run CMD inside; exit code = CMD's (124 when it ran past --timeout,
#       default 120 s). Daemons are stopped and the temp dir removed afterwards, whatever way.
#   slurm-sandbox.sh --self-test
#       Start the cluster, drain and resume the node with scontrol, run a job, stop.
#
# The node is the short host name with CPUs=$(nproc) and Gres=gpu:N (default 2), backed by
# character devices made with mknod (clones of /dev/null: slurmd ignores regular files).
# Prolog and HealthCheckProgram are wrappers that add SLURM_CONF (Slurm gives a health check
# only SLURMD_NODENAME) and run $SANDBOX_PROLOG / $SANDBOX_HEALTHCHECK if that file exists and
# is executable, else exit 0. Write those files from CMD to change what the node runs.
#
# CMD's environment:
#   SLURM_CONF           the sandbox's slurm.conf: scontrol, sinfo, sbatch talk to this cluster
#   GPUWARDEN_SANDBOX    slurm (tells a re-executed test that it runs inside)
#   SANDBOX_DIR          private temp dir (removed afterwards unless KEEP=1)
#   SANDBOX_NODE         the node's name
#   SANDBOX_PARTITION    the one partition (debug, the default)
#   SANDBOX_PROLOG, SANDBOX_HEALTHCHECK   see above (HealthCheckInterval=1)
#   SANDBOX_LOGDIR       slurmctld.log, slurmd.log, munged.log, *.out (daemon stderr)
# Environment knobs: KEEP=1 keep the temp dir.
set -uo pipefail

PROG=slurm-sandbox
TIMEOUT=120
GPUS=2
KEEP=${KEEP:-}
PARTITION=debug
T="" NODE="" MUNGED_PID="" CTLD_PID="" SLURMD_PID="" CMD_PID="" STOPPED=0

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "$1"; exit "${2:-2}"; }
alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }
now_ms() { date +%s%3N; }

need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 ||
            die "missing '$tool' (install with tests/peers/install.sh: slurmctld slurmd slurm-client munge)"
    done
}

# A caller inside a real Slurm job must not leak its SLURM_*/SBATCH_* settings into ours.
clean_slurm_env() {
    local v
    for v in $(compgen -e); do
        case $v in SLURM_* | SBATCH_* | SRUN_* | SALLOC_* | SQUEUE_* | SINFO_* | SCONTROL_*) unset "$v" ;; esac
    done
}

PICKED=" "
pick_port() { # pick_port VAR: a free TCP port (ss, else a connect probe)
    local p i
    for i in $(seq 500); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        [[ $PICKED == *" $p "* ]] && continue
        if command -v ss >/dev/null 2>&1; then
            [[ -n $(ss -Htan "sport = :$p" 2>/dev/null) ]] && continue
        else
            (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
        fi
        PICKED+="$p "
        printf -v "$1" '%s' "$p"
        return 0
    done
    die "no free TCP port found"
}

node_state() { timeout 15 sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1; }
wait_state() { # wait_state REGEX SECS: until sinfo's state matches ^REGEX$
    local deadline=$(($(now_ms) + $2 * 1000)) st
    while :; do
        st=$(node_state)
        [[ $st =~ ^($1)$ ]] && return 0
        (($(now_ms) < deadline)) || { log "node state '$st', wanted '$1'"; return 1; }
        sleep 0.1
    done
}

show_logs() {
    local f
    for f in "$T"/log/*.log; do
        [[ -s $f ]] || continue
        echo "----- tail $f" >&2
        tail -n 15 "$f" >&2
    done
}

start_cluster() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (slurmd needs root)"
    need munged munge unmunge slurmctld slurmd sinfo scontrol squeue scancel sbatch mknod timeout setsid
    [[ $GPUS =~ ^[1-9][0-9]*$ ]] || die "--gpus wants a positive number"
    clean_slurm_env
    NODE=$(hostname -s)
    T=$(mktemp -d "${TMPDIR:-/tmp}/gpuwarden-slurm.XXXXXX") || die "mktemp failed"
    # munged refuses a socket in a directory that is not o+x for everybody.
    chmod 755 "$T"
    mkdir -p "$T"/{etc,run,log,state,spool,dev}
    mkdir -m 700 "$T/munge"

    # munge: private key, socket, log, pid, seed. -F logs to stderr (munged.out); --log-file
    # keeps it from ever falling back to /var/log/munge.
    local sock=$T/run/munge.socket i ok=0
    if command -v mungekey >/dev/null 2>&1; then
        mungekey -c -k "$T/munge/munge.key" >/dev/null 2>&1 || die "mungekey failed"
    else
        dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
    fi
    chmod 600 "$T/munge/munge.key"
    # Daemons get their own session: a signal to our process group must not kill them before
    # stop_cluster stops them in order. setsid execs in place, so $! is the daemon's PID.
    setsid munged -F --key-file="$T/munge/munge.key" --socket="$sock" \
        --log-file="$T/log/munged.log" --pid-file="$T/run/munged.pid" \
        --seed-file="$T/munge/munged.seed" </dev/null >"$T/log/munged.out" 2>&1 &
    MUNGED_PID=$!
    for i in $(seq 100); do
        alive "$MUNGED_PID" || break
        if munge -n -S "$sock" 2>/dev/null | unmunge -S "$sock" >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.1
    done
    [[ $ok == 1 ]] || { show_logs; die "munged did not come up"; }

    local last=$((GPUS - 1)) files
    for i in $(seq 0 "$last"); do
        mknod -m 666 "$T/dev/nvidia$i" c 1 3 || die "mknod $T/dev/nvidia$i failed"
    done
    if [[ $GPUS == 1 ]]; then files=$T/dev/nvidia0; else files="$T/dev/nvidia[0-$last]"; fi

    export SANDBOX_PROLOG=$T/etc/prolog SANDBOX_HEALTHCHECK=$T/etc/healthcheck
    local hook
    for hook in prolog healthcheck; do
        cat >"$T/etc/$hook-wrapper.sh" <<EOF
#!/bin/sh
# generated by $PROG: add SLURM_CONF to Slurm's bare environment, run the test's $hook if any
SLURM_CONF='$T/etc/slurm.conf'; export SLURM_CONF
[ -x '$T/etc/$hook' ] || exit 0
exec '$T/etc/$hook' "\$@"
EOF
        chmod 755 "$T/etc/$hook-wrapper.sh"
    done

    local ctld_port slurmd_port mem comm=""
    pick_port ctld_port
    pick_port slurmd_port
    mem=$(awk '/^MemAvailable:/ {print int($2/2048)}' /proc/meminfo)
    ((mem > 4096)) && mem=4096
    ((mem >= 100)) || die "too little free memory"
    # Bind to what the host name resolves to instead of 0.0.0.0 -- only when that is loopback
    # (slurmctld must listen on 127.0.0.1 = ControlAddr). ahostsv4: no AAAA lookup.
    if getent ahostsv4 "$(hostname)" 2>/dev/null | awk '{print $1}' | grep -q '^127\.'; then
        comm="CommunicationParameters=NoCtldInAddrAny,NoInAddrAny"
    fi
    : >"$T/etc/plugstack.conf"
    cat >"$T/etc/slurm.conf" <<EOF
# generated by $PROG -- private single-node cluster
ClusterName=sandbox
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
$comm
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/run/slurmctld.pid
SlurmdPidFile=$T/run/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$T/etc/plugstack.conf
MailProg=/bin/true
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
GresTypes=gpu
HealthCheckProgram=$T/etc/healthcheck-wrapper.sh
HealthCheckInterval=1
HealthCheckNodeState=ANY
Prolog=$T/etc/prolog-wrapper.sh
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem Gres=gpu:$GPUS State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    printf 'AutoDetect=off\nNodeName=%s Name=gpu File=%s\n' "$NODE" "$files" >"$T/etc/gres.conf"
    export SLURM_CONF=$T/etc/slurm.conf GPUWARDEN_SANDBOX=slurm SANDBOX_DIR=$T SANDBOX_NODE=$NODE
    export SANDBOX_PARTITION=$PARTITION SANDBOX_LOGDIR=$T/log

    setsid slurmctld -D -f "$SLURM_CONF" </dev/null >"$T/log/slurmctld.out" 2>&1 &
    CTLD_PID=$!
    local deadline=$(($(now_ms) + 60000)) st
    until timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; do
        alive "$CTLD_PID" || { show_logs; die "slurmctld exited"; }
        (($(now_ms) < deadline)) || { show_logs; die "slurmctld did not answer"; }
        sleep 0.2
    done
    setsid slurmd -D -N "$NODE" -f "$SLURM_CONF" </dev/null >"$T/log/slurmd.out" 2>&1 &
    SLURMD_PID=$!
    while :; do
        alive "$SLURMD_PID" || { show_logs; die "slurmd exited"; }
        st=$(node_state)
        [[ $st == idle ]] && break
        (($(now_ms) < deadline)) || { show_logs; die "node did not come up (state '$st')"; }
        sleep 0.1
    done
}

stop_pid() { # TERM, up to 10 s, then KILL
    local i
    alive "$1" || return 0
    kill -TERM "$1" 2>/dev/null
    for i in $(seq 100); do alive "$1" || break; sleep 0.1; done
    alive "$1" && kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# slurmstepd and job tasks of this sandbox: their environment holds our unique SLURM_CONF.
sandbox_pids() {
    local d e want="SLURM_CONF=$T/etc/slurm.conf"
    local -a envv
    for d in /proc/[0-9]*; do
        [[ ${d#/proc/} == "$$" || ${d#/proc/} == "$BASHPID" ]] && continue
        envv=()
        mapfile -d '' -t envv 2>/dev/null <"$d/environ" || continue
        for e in "${envv[@]}"; do [[ $e == "$want" ]] && { echo "${d#/proc/}"; break; }; done
    done
}

stop_cluster() {
    [[ $STOPPED == 1 || -z $T ]] && return 0
    STOPPED=1
    local jobs pids
    if alive "$CTLD_PID"; then
        jobs=$(timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ')
        [[ -n ${jobs// /} ]] && timeout 10 scancel $jobs 2>/dev/null
    fi
    stop_pid "$SLURMD_PID"
    stop_pid "$CTLD_PID"
    pids=$(sandbox_pids)
    if [[ -n $pids ]]; then
        kill -TERM $pids 2>/dev/null
        sleep 0.5
        pids=$(sandbox_pids)
        [[ -n $pids ]] && kill -KILL $pids 2>/dev/null
    fi
    stop_pid "$MUNGED_PID"
    if [[ -n $KEEP ]]; then log "kept $T"; else rm -rf -- "$T"; fi
}

on_signal() {
    alive "$CMD_PID" && kill -TERM "$CMD_PID" 2>/dev/null
    exit "$1"
}
trap stop_cluster EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

self_test() {
    start_cluster
    local reason jid i
    scontrol update NodeName="$NODE" State=DRAIN Reason="self-test drain" || die "drain failed" 1
    reason=$(sinfo -h -R -o %E)
    [[ $reason == "self-test drain" ]] || die "drain reason is '$reason'" 1
    scontrol update NodeName="$NODE" State=RESUME || die "resume failed" 1
    wait_state idle 30 || die "node not idle after RESUME" 1
    jid=$(sbatch --parsable --gres=gpu:1 -o "$T/job-%j.out" --wrap 'echo "GPUS=$SLURM_JOB_GPUS"') ||
        die "sbatch failed" 1
    for i in $(seq 300); do
        grep -q '^GPUS=[0-9]' "$T/job-$jid.out" 2>/dev/null && break
        sleep 0.1
    done
    grep -q '^GPUS=[0-9]' "$T/job-$jid.out" 2>/dev/null || { show_logs; die "job $jid saw no GPU" 1; }
    echo "$PROG: self-test passed (node $NODE drained, resumed, ran job $jid with a GPU)"
}

case "${1:-}" in
    --self-test) self_test; exit $? ;;
esac
while [[ $# -gt 0 ]]; do
    case $1 in
        --timeout) TIMEOUT=$2; shift 2 ;;
        --gpus) GPUS=$2; shift 2 ;;
        --) shift; break ;;
        *) die "unknown argument '$1' (usage: $PROG [--timeout SECS] [--gpus N] -- CMD ARGS...)" ;;
    esac
done
[[ $# -ge 1 ]] || die "usage: $PROG [--timeout SECS] [--gpus N] -- CMD ARGS..."
start_cluster
# CMD runs in the background + wait, so a signal to this script is handled at once (bash
# defers traps while a foreground child runs); <&0 keeps the caller's stdin.
timeout --kill-after=5 "$TIMEOUT" "$@" <&0 &
CMD_PID=$!
wait "$CMD_PID"
rc=$?
CMD_PID=""
if [[ $rc -ne 0 ]]; then show_logs; fi
exit "$rc"
