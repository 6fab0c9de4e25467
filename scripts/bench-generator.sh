#!/usr/bin/env bash
# Generator throughput: Stampede's plain HTTP user against wrk, one generator core each,
# both aimed at a single-worker nginx on loopback pinned to another core.
#
#   BENCH_REPEATS   runs per tool (default 3)
#   BENCH_DURATION  length of each run: 10s, 1m, or plain seconds (default 10s)
#   BENCH_GEN_CPU / BENCH_TARGET_CPU   cores for the generator / nginx (default 0 / 1)
#
# Called by `make bench` after `make build`. Load goes to 127.0.0.1 only and every run
# is bounded in time. Exits non-zero on a setup failure only, never because of a figure:
# the ratio target (Stampede median >= 0.25 x wrk median) is reported, not enforced.
# Method and measured figures: docs/benchmarks.md, "Generator throughput".
set -euo pipefail

REPEATS=${BENCH_REPEATS:-3}
DURATION=${BENCH_DURATION:-10s}
GEN_CPU=${BENCH_GEN_CPU:-0}
TARGET_CPU=${BENCH_TARGET_CPU:-1}
USERS=50
SPAWN_RATE=1000 # all 50 users in 50 ms
TARGET_RATIO=0.25

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MASTER=$ROOT/bin/master

die() { echo "bench-generator: $*" >&2; exit 1; }
say() { echo "bench-generator: $*" >&2; }

# --- arguments -------------------------------------------------------------------
[[ $REPEATS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEATS must be a positive integer, got '$REPEATS'"
case $DURATION in
	*[0-9]s) secs=${DURATION%s} ;;
	*[0-9]m) secs=$((${DURATION%m} * 60)) ;;
	*[0-9]) secs=$DURATION ;;
	*) secs=x ;;
esac
[[ $secs =~ ^[1-9][0-9]*$ ]] || die "BENCH_DURATION must be whole seconds or minutes (10s, 1m, 10), got '$DURATION'"
DURATION=${secs}s
RUN_LIMIT=$((secs + 60)) # hard bound on one run: duration + start and final reports

# --- tools -------------------------------------------------------------------------
[[ -x $MASTER ]] || die "$MASTER not found: run 'make build' first"
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
if ((${#missing[@]})); then
	[[ $(id -u) == 0 ]] && command -v apt-get >/dev/null ||
		die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root on Debian/Ubuntu"
	say "installing ${missing[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for t in taskset timeout awk sort; do command -v $t >/dev/null || die "$t not found"; done

# --- pinning -----------------------------------------------------------------------
cores=$(nproc)
if ((cores >= 2)); then
	PIN_GEN=(taskset -c "$GEN_CPU")
	PIN_TARGET=(taskset -c "$TARGET_CPU")
	pinning="generator on core $GEN_CPU, nginx on core $TARGET_CPU"
	"${PIN_GEN[@]}" true 2>/dev/null || die "cannot pin to core $GEN_CPU (BENCH_GEN_CPU)"
	"${PIN_TARGET[@]}" true 2>/dev/null || die "cannot pin to core $TARGET_CPU (BENCH_TARGET_CPU)"
else
	PIN_GEN=()
	PIN_TARGET=()
	pinning="NOT PINNED: only $cores core; generator and nginx share it, figures are not per core"
	say "only $cores core: skipping pinning, generator and nginx share the core"
fi

# --- target: one nginx worker on loopback -----------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-generator.XXXXXX")
NGINX_PID=
cleanup() {
	if [[ -n $NGINX_PID ]]; then
		kill "$NGINX_PID" 2>/dev/null || true
		wait "$NGINX_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# port_open PORT: something answers a TCP connect on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_nginx() { # start_nginx PORT: 0 when nginx serves on PORT
	local port=$1
	cat >"$TMP/nginx.conf" <<-EOF
		worker_processes 1;
		daemon off;
		pid $TMP/nginx.pid;
		error_log $TMP/nginx-error.log warn;
		events { worker_connections 1024; }
		http {
		    access_log off;
		    keepalive_requests 1000000;
		    keepalive_timeout 75s;
		    client_body_temp_path $TMP/client_body;
		    proxy_temp_path $TMP/proxy;
		    fastcgi_temp_path $TMP/fastcgi;
		    uwsgi_temp_path $TMP/uwsgi;
		    scgi_temp_path $TMP/scgi;
		    server {
		        listen 127.0.0.1:$port;
		        location / { default_type text/plain; return 200 "ok"; }
		    }
		}
	EOF
	"${PIN_TARGET[@]}" "$NGINX" -p "$TMP" -e "$TMP/nginx-error.log" -c "$TMP/nginx.conf" \
		>"$TMP/nginx.out" 2>&1 &
	NGINX_PID=$!
	for _ in $(seq 50); do
		kill -0 "$NGINX_PID" 2>/dev/null || { wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=; return 1; }
		port_open "$port" && return 0
		sleep 0.1
	done
	kill "$NGINX_PID" 2>/dev/null || true
	wait "$NGINX_PID" 2>/dev/null || true
	NGINX_PID=
	return 1
}

PORT=
for _ in $(seq 20); do
	p=$((20000 + RANDOM % 40000))
	port_open "$p" && continue
	if start_nginx "$p"; then PORT=$p; break; fi
done
[[ -n $PORT ]] || die "nginx did not start on loopback: $(cat "$TMP/nginx.out" "$TMP/nginx-error.log" 2>/dev/null | tail -5)"
URL=http://127.0.0.1:$PORT/
reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && cat <&3) 2>/dev/null | head -1 || true)
[[ $reply == *" 200 "* ]] || die "nginx on $URL did not answer 200: '$reply'"

# --- runs --------------------------------------------------------------------------------
WRK_RPS=()
ST_RPS=()
notes=()

run_wrk() { # run_wrk N
	local out rps
	out=$(timeout "$RUN_LIMIT" "${PIN_GEN[@]}" wrk -t1 -c"$USERS" -d"$DURATION" "$URL" 2>&1) ||
		die "wrk run $1 failed: $out"
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	[[ -n $rps ]] || die "wrk run $1: no Requests/sec in its output: $out"
	if grep -Eq 'Non-2xx|Socket errors' <<<"$out"; then
		notes+=("wrk run $1: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | paste -sd';')")
	fi
	WRK_RPS+=("$rps")
	printf '  wrk       run %d: %10.0f req/s\n' "$1" "$rps" >&2
}

# json_field FILE OBJECT KEY: the number KEY inside the top-level OBJECT ("" for the top
# level) of the indented summary written by --json (pkg/report.WriteJSON).
json_field() {
	awk -v obj="$2" -v key="\"$3\":" '
		obj == "" && $1 == key && /^  "/ { gsub(/,/, "", $2); print $2; exit }
		obj != "" && $0 ~ "^  \"" obj "\": \\{" { in_obj = 1; next }
		in_obj && /^  }/ { exit }
		in_obj && $1 == key { gsub(/,/, "", $2); print $2; exit }
	' "$1"
}

run_stampede() { # run_stampede N
	local json=$TMP/stampede-$1.json out reqs fails dur rps
	out=$(GOMAXPROCS=1 timeout "$RUN_LIMIT" "${PIN_GEN[@]}" "$MASTER" --headless -H "$URL" \
		-u "$USERS" -r "$SPAWN_RATE" -t "$DURATION" --local-workers 1 --listen 127.0.0.1:0 \
		--db "$TMP/stampede-$1.db" --json "$json" --exit-code-on-error 0 2>&1) ||
		die "stampede run $1 failed: $(tail -20 <<<"$out")"
	[[ -s $json ]] || die "stampede run $1 wrote no $json"
	reqs=$(json_field "$json" total requests)
	fails=$(json_field "$json" total failures)
	dur=$(json_field "$json" "" duration_s)
	[[ $reqs =~ ^[0-9]+$ && $dur =~ ^[0-9.e+-]+$ ]] || die "stampede run $1: cannot read total.requests / duration_s from $json"
	# duration_s runs from the start command to the last final report: it includes the
	# 50 ms ramp and the stop, so requests / duration_s slightly understates the rate.
	rps=$(awk -v r="$reqs" -v d="$dur" 'BEGIN { printf "%.1f", r / d }')
	((fails == 0)) || notes+=("stampede run $1: $fails of $reqs requests failed")
	ST_RPS+=("$rps")
	printf '  stampede  run %d: %10.0f req/s  (%d requests / %.2f s)\n' "$1" "$rps" "$reqs" "$dur" >&2
}

say "target $URL (nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), 1 worker process); $pinning"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
say "$REPEATS x $DURATION per tool, $USERS connections/users, alternating wrk and stampede"
for i in $(seq "$REPEATS"); do
	run_wrk "$i"
	run_stampede "$i"
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
busy=$(awk -v a="${load_before%% *}" -v b="${load_after%% *}" -v c="$(nproc)" 'BEGIN { print (a > c || b > c) ? 1 : 0 }')
((busy == 0)) || notes+=("load average $load_before before, $load_after after on $(nproc) cores: other work shared the CPUs, figures are noisy")

# --- table ------------------------------------------------------------------------------
stats() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.0f %.0f %.0f\n", v[1], m, v[NR] }'; }
read -r wmin wmed wmax <<<"$(stats "${WRK_RPS[@]}")"
read -r smin smed smax <<<"$(stats "${ST_RPS[@]}")"
ratio=$(awk -v s="$smed" -v w="$wmed" 'BEGIN { printf "%.3f", (w > 0) ? s / w : 0 }')
verdict=$(awk -v r="$ratio" -v t="$TARGET_RATIO" 'BEGIN { print (r >= t) ? "meets" : "BELOW" }')

echo
echo "Generator throughput: $USERS connections, $REPEATS x $DURATION, $(nproc) cores, $pinning, stampede GOMAXPROCS=1"
printf '| %-35s | %8s | %8s | %8s | %-14s |\n' tool "min" median "max" "vs wrk median"
printf '|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..37})" "---------:" "---------:" "---------:" "----------------"
printf '| %-35s | %8s | %8s | %8s | %-14s |\n' "wrk -t1 -c$USERS" "$wmin" "$wmed" "$wmax" "1"
printf '| %-35s | %8s | %8s | %8s | %-14s |\n' "stampede (1 local worker, $USERS users)" "$smin" "$smed" "$smax" "$ratio"
echo
echo "req/s; stampede = total.requests / duration_s from --json (ramp and stop included)."
echo "ratio stampede/wrk = $ratio: $verdict the target of >= $TARGET_RATIO x wrk per core"
for n in "${notes[@]}"; do echo "note: $n"; done
exit 0
