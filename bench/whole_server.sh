#!/usr/bin/env bash
# Whole-server comparison: the `custom_auth` example (release build) against the original
# asgi-ratelimit 0.10 on uvicorn, both serving the same rules with their in-memory backend,
# loaded by wrk on this machine (loopback only). See BENCHMARKS.md.
#
#   bench/whole_server.sh            # 10 s per run
#   DURATION=30s CONNECTIONS=64 bench/whole_server.sh
#
# Reports requests per second for a limited route (`/bench`, limit 10^9 a second, user
# `X-User: alice`) and for a route no rule matches (`/free`). It installs wrk with apt-get
# when missing (as root), creates a Python virtual environment under the cargo target
# directory, and stops every process it starts (by pid), also when interrupted.
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
VENV="$TARGET_DIR/bench-venv"

if ! command -v wrk >/dev/null; then
    echo "wrk is not installed; installing it with apt-get" >&2
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: run as root, or install wrk yourself (Debian: apt-get install -y wrk)" >&2
        exit 1
    fi
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

if [ ! -x "$VENV/bin/uvicorn" ]; then
    echo "creating $VENV with asgi-ratelimit 0.10 and uvicorn" >&2
    python3 -m venv "$VENV"
    # uvicorn[standard]: uvloop and httptools, the original's fastest setup.
    "$VENV/bin/pip" install -q 'asgi-ratelimit==0.10.*' 'uvicorn[standard]'
fi

echo "building the custom_auth example (release)" >&2
cargo build -q --release --example custom_auth
RUST_SERVER="$TARGET_DIR/release/examples/custom_auth"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
trap stop_server EXIT INT TERM

wait_for() {
    local port=$1
    for _ in $(seq 1 100); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/free"; then
            return 0
        fi
        sleep 0.1
    done
    echo "error: nothing answers on port $port" >&2
    exit 1
}

# Requests per second of one wrk run; fails if any answer was not 2xx.
rps() {
    local url=$1
    shift
    local out
    out=$(wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" "$@" "$url")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "error: non-2xx answers from $url:" >&2
        echo "$out" >&2
        exit 1
    fi
    awk '/Requests\/sec/ {print $2}' <<<"$out"
}

measure() {
    local name=$1 port=$2
    wait_for "$port"
    # A short warm-up, then the two routes.
    wrk -t1 -c4 -d1s -H 'X-User: alice' "http://127.0.0.1:$port/bench" >/dev/null
    local limited free
    limited=$(rps "http://127.0.0.1:$port/bench" -H 'X-User: alice')
    free=$(rps "http://127.0.0.1:$port/free")
    printf '%-34s %12s %12s\n' "$name" "$limited" "$free"
}

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs);" \
    "wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION" >&2
printf '%-34s %12s %12s\n' "server" "/bench rps" "/free rps"

for workers in default 1; do
    port=$(free_port)
    if [ "$workers" = default ]; then
        name="ratelimit (custom_auth, $(nproc) threads)"
        RATELIMIT_ADDR="127.0.0.1:$port" RUST_LOG=warn "$RUST_SERVER" &
    else
        name="ratelimit (custom_auth, 1 thread)"
        TOKIO_WORKER_THREADS=1 RATELIMIT_ADDR="127.0.0.1:$port" RUST_LOG=warn "$RUST_SERVER" &
    fi
    SERVER_PID=$!
    measure "$name" "$port"
    stop_server
done

port=$(free_port)
# One worker: the original's MemoryBackend counts per process.
"$VENV/bin/uvicorn" --app-dir bench original_app:app --host 127.0.0.1 --port "$port" \
    --log-level warning --no-access-log &
SERVER_PID=$!
measure "asgi-ratelimit 0.10 (uvicorn, 1 worker)" "$port"
stop_server
