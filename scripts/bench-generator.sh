#!/usr/bin/env bash
# Generator throughput: Stampede's plain HTTP user (with each HTTP client) and scripted
# user (a one-task Starlark script) against wrk, one generator core each, all aimed at a
# single-worker nginx on loopback pinned to another core.
#
#   BENCH_REPEATS   runs per tool (default 3)
#   BENCH_DURATION  length of each run: 10s, 1m, or plain seconds (default 10s)
#   BENCH_GEN_CPU / BENCH_TARGET_CPU   cores for the generator / nginx (default 0 / 1)
#   BENCH_MASTER    the master binary to measure (default bin/master)
#   BENCH_VARIANTS  which Stampede runs, space-separated (default "plain scripted plain-nethttp"):
#                   plain = plain HTTP user (default client, fasthttp), plain-nethttp = the same
#                   with --http-client nethttp, scripted = one-task Starlark user
#
# Called by `make bench` after `make build`. Load goes to 127.0.0.1 only and every run
# is bounded in time. Exits non-zero on a setup failure only, never because of a figure:
# the targets (plain user >= 0.7 x wrk per core, scripted user >= 0.5 x wrk) are reported,
# not enforced, both as the ratio of median req/s and as the ratio of requests per
# generator CPU-second. Each run notes the load average, for a shared machine.
# Method and measured figures: docs/benchmarks.md, "Generator throughput".
set -euo pipefail

REPEATS=${BENCH_REPEATS:-3}
DURATION=${BENCH_DURATION:-10s}
GEN_CPU=${BENCH_GEN_CPU:-0}
TARGET_CPU=${BENCH_TARGET_CPU:-1}
USERS=50
SPAWN_RATE=1000 # all 50 users in 50 ms
VARIANTS=${BENCH_VARIANTS:-plain scripted plain-nethttp}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MASTER=${BENCH_MASTER:-$ROOT/bin/master}

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
for v in $VARIANTS; do
	case $v in plain | plain-nethttp | scripted) ;; *) die "BENCH_VARIANTS: unknown variant '$v' (plain, plain-nethttp, scripted)" ;; esac
done
[[ $secs =~ ^[1-9][0-9]*$ ]] || die "BENCH_DURATION must be whole seconds or minutes (10s, 1m, 10), got '$DURATION'"
DURATION=${secs}s
RUN_LIMIT=$((secs + 60)) # hard bound on one run: duration + start and final reports

# --- tools -------------------------------------------------------------------------
[[ -x $MASTER ]] || die "$MASTER not found: run 'make build' first"
MASTER_VERSION=$("$MASTER" version 2>/dev/null || echo "unknown version")
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
# Besides req/s, each run records the CPU the generator itself used (user + sys of its
# process tree, from bash's `time`), how busy nginx's worker was, and how much of the
# generator's core went to other processes. Requests per generator CPU-second is the
# cost per request and stays meaningful when the machine is shared or the target limits.
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1)
[[ -n $NGINX_WORKER ]] || die "no nginx worker process under pid $NGINX_PID"
GEN_CORE_LINE=cpu$GEN_CPU TARGET_CORE_LINE=cpu$TARGET_CPU
((cores >= 2)) || GEN_CORE_LINE=cpu TARGET_CORE_LINE=cpu # unpinned: the whole machine

core_busy() { # core_busy LINE: clock ticks the core (or machine) spent not idle
	awk -v c="$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure NAME CMD...: runs CMD with its stdout and stderr in $TMP/NAME.out and sets
# M_WALL, M_CPU (generator CPU-seconds), M_NGINX (% of a core), M_OTHER and M_OTHER_T
# (% of the generator's and of nginx's core used by other processes). Returns CMD's status.
measure() {
	local name=$1 b0 n0 t0 b1 n1 t1 t rc=0 tck
	shift
	tck=$(getconf CLK_TCK)
	b0=$(core_busy "$GEN_CORE_LINE") t0=$(core_busy "$TARGET_CORE_LINE") n0=$(proc_ticks "$NGINX_WORKER")
	local TIMEFORMAT='%3R %3U %3S'
	{ time "$@" >"$TMP/$name.out" 2>&1; } 2>"$TMP/$name.time" || rc=$?
	b1=$(core_busy "$GEN_CORE_LINE") t1=$(core_busy "$TARGET_CORE_LINE") n1=$(proc_ticks "$NGINX_WORKER")
	read -r M_WALL t M_CPU <"$TMP/$name.time" || return 1
	M_CPU=$(awk -v u="$t" -v s="$M_CPU" 'BEGIN { print u + s }')
	M_NGINX=$(awk -v d=$((n1 - n0)) -v t="$tck" -v w="$M_WALL" 'BEGIN { printf "%.0f", 100 * d / t / w }')
	if ((cores >= 2)); then
		M_OTHER=$(awk -v d=$((b1 - b0)) -v t="$tck" -v c="$M_CPU" -v w="$M_WALL" \
			'BEGIN { o = (d / t - c) / w; printf "%.0f", (o > 0) ? 100 * o : 0 }')
		M_OTHER_T=$(awk -v d=$((t1 - t0)) -v x=$((n1 - n0)) -v t="$tck" -v w="$M_WALL" \
			'BEGIN { o = (d - x) / t / w; printf "%.0f", (o > 0) ? 100 * o : 0 }')
	else # whole machine: everything but the generator and nginx, per core
		M_OTHER=$(awk -v d=$((b1 - b0)) -v x=$((n1 - n0)) -v t="$tck" -v c="$M_CPU" -v w="$M_WALL" \
			-v n="$(nproc --all)" 'BEGIN { o = ((d - x) / t - c) / w / n; printf "%.0f", (o > 0) ? 100 * o : 0 }')
		M_OTHER_T=$M_OTHER
	fi
	return $rc
}

WRK_CPU=() NGINX_PCT=() OTHER_PCT=() LOADS=() notes=()
declare -A RPS EFF # per tool: space-separated figures of its runs

report_run() { # report_run TOOL N RPS REQUESTS EXTRA
	local eff load
	eff=$(awk -v r="$4" -v c="$M_CPU" 'BEGIN { printf "%.0f", (c > 0) ? r / c : 0 }')
	load=$(cut -d' ' -f1 /proc/loadavg)
	NGINX_PCT+=("$M_NGINX") OTHER_PCT+=("$M_OTHER" "$M_OTHER_T") LOADS+=("$load")
	RPS[$1]+="$3 " EFF[$1]+="$eff "
	[[ $1 == wrk ]] && WRK_CPU+=("$(awk -v c="$M_CPU" -v w="$M_WALL" 'BEGIN { printf "%.0f", 100 * c / w }')")
	printf '  %-13s run %d: %8.0f req/s  %8s req/CPU-s  generator CPU %3.0f%%  nginx %3s%%  others on gen/nginx core %3s%%/%s%%  load %s%s\n' \
		"$1" "$2" "$3" "$eff" "$(awk -v c="$M_CPU" -v w="$M_WALL" 'BEGIN { print 100 * c / w }')" \
		"$M_NGINX" "$M_OTHER" "$M_OTHER_T" "$load" "$5" >&2
}

run_wrk() { # run_wrk N
	local out rps reqs
	measure "wrk-$1" timeout "$RUN_LIMIT" "${PIN_GEN[@]}" wrk -t1 -c"$USERS" -d"$DURATION" "$URL" ||
		die "wrk run $1 failed: $(cat "$TMP/wrk-$1.out")"
	out=$(cat "$TMP/wrk-$1.out")
	rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	reqs=$(awk '/ requests in / { print $1 }' <<<"$out")
	[[ -n $rps && -n $reqs ]] || die "wrk run $1: no Requests/sec in its output: $out"
	if grep -Eq 'Non-2xx|Socket errors' <<<"$out"; then
		notes+=("wrk run $1: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | paste -sd';')")
	fi
	report_run wrk "$1" "$rps" "$reqs" ""
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

# The scripted user: what DESIGN.md's 2.3 µs Starlark iteration does (format a URL, call
# a Go builtin with a keyword argument, test the status), one request per task.
cat >"$TMP/bench.star" <<-'EOF'
	def item(u):
	    r = u.http.get("/item/%d" % (u.id % 10), name="/item/[id]")
	    check(r.status == 200, "status")

	Bench = user(tasks=[item])
EOF

# stampede_args VARIANT: the master's arguments that differ between variants.
stampede_args() {
	case $1 in
	plain) echo "" ;;
	plain-nethttp) echo "--http-client nethttp" ;;
	scripted) echo "--script $TMP/bench.star" ;;
	esac
}

run_stampede() { # run_stampede VARIANT N
	local v=$1 n=$2 json=$TMP/stampede-$1-$2.json reqs fails dur rps
	# shellcheck disable=SC2046 # word splitting of the variant's arguments is meant
	measure "stampede-$v-$n" env GOMAXPROCS=1 timeout "$RUN_LIMIT" "${PIN_GEN[@]}" "$MASTER" --headless -H "$URL" \
		-u "$USERS" -r "$SPAWN_RATE" -t "$DURATION" --local-workers 1 --listen 127.0.0.1:0 \
		--db "$TMP/stampede-$v-$n.db" --json "$json" --exit-code-on-error 0 $(stampede_args "$v") ||
		die "stampede $v run $n failed: $(tail -20 "$TMP/stampede-$v-$n.out")"
	set -- "$n"
	[[ -s $json ]] || die "stampede run $1 wrote no $json"
	reqs=$(json_field "$json" total requests)
	fails=$(json_field "$json" total failures)
	dur=$(json_field "$json" "" duration_s)
	[[ $reqs =~ ^[0-9]+$ && $fails =~ ^[0-9]+$ && $dur =~ ^[0-9.e+-]+$ ]] ||
		die "stampede run $1: cannot read total.requests / duration_s from $json"
	# duration_s runs from the start command to the last final report: it includes the
	# 50 ms ramp and the stop, so requests / duration_s slightly understates the rate.
	# The CPU figure covers the whole process (start-up, store, report) for the same reason.
	rps=$(awk -v r="$reqs" -v d="$dur" 'BEGIN { printf "%.1f", r / d }')
	((fails == 0)) || notes+=("stampede $v run $1: $fails of $reqs requests failed")
	report_run "$v" "$1" "$rps" "$reqs" "$(printf '  (%d requests / %.2f s)' "$reqs" "$dur")"
}

say "measuring $MASTER ($MASTER_VERSION)"
say "target $URL (nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), 1 worker process); $pinning"
say "$REPEATS x $DURATION per tool, $USERS connections/users, wrk and each variant in turn ($VARIANTS):"
say "  ${PIN_GEN[*]} wrk -t1 -c$USERS -d$DURATION $URL"
say "  GOMAXPROCS=1 ${PIN_GEN[*]} $MASTER --headless -H $URL -u $USERS -r $SPAWN_RATE -t $DURATION --local-workers 1 --listen 127.0.0.1:0 --db TMP/stampede-N.db --json TMP/stampede-N.json --exit-code-on-error 0 [VARIANT ARGS]"
for v in $VARIANTS; do
	a=$(stampede_args "$v")
	say "    $v: ${a:-(none)}"
done
for i in $(seq "$REPEATS"); do
	run_wrk "$i"
	for v in $VARIANTS; do run_stampede "$v" "$i"; done
done

# --- table ------------------------------------------------------------------------------
stats() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
	m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.0f %.0f %.0f\n", v[1], m, v[NR] }'; }
read -r wmin wmed wmax <<<"$(stats ${RPS[wrk]})"
read -r _ weff _ <<<"$(stats ${EFF[wrk]})"
read -r _ _ nginx_max <<<"$(stats "${NGINX_PCT[@]}")"
read -r _ _ other_max <<<"$(stats "${OTHER_PCT[@]}")"
read -r load_min load_med load_max <<<"$(printf '%s\n' "${LOADS[@]}" | sort -g | awk '{ v[NR] = $1 } END {
	printf "%s %s %s\n", v[1], v[int((NR + 1) / 2)], v[NR] }')"
target() { case $1 in scripted) echo 0.5 ;; plain) echo 0.7 ;; *) echo "" ;; esac; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t) ? "meets" : "BELOW" }'; }
if ((other_max > 50)); then
	notes+=("UNRELIABLE: up to $other_max% of the generator's or nginx's core went to other processes; rerun on a quiet machine")
elif ((other_max > 10)); then
	notes+=("up to $other_max% of the generator's or nginx's core went to other processes: the machine was shared, req/s figures are noisy (req/CPU-s less so)")
fi
((nginx_max < 90)) ||
	notes+=("nginx's worker reached $nginx_max% of its core: the target, not the generator, may cap the req/s of the faster tool")
read -r _ wcpu _ <<<"$(stats "${WRK_CPU[@]}")"
((wcpu >= 90 || cores < 2)) ||
	notes+=("wrk used a median $wcpu% of its core: it was not CPU-bound (waiting on the target or on wake-ups), so req/s understates wrk's per-core rate and the req/s ratio flatters stampede; req/CPU-s compares cost per request")

row() { printf '| %-36s | %9s | %8s | %8s | %6s | %10s | %6s |\n' "$@"; }
label() {
	case $1 in
	plain) echo "stampede plain user (fasthttp)" ;;
	plain-nethttp) echo "stampede plain user (nethttp)" ;;
	scripted) echo "stampede scripted user" ;;
	esac
}
echo
echo "Generator throughput: $USERS connections, $REPEATS x $DURATION, $cores cores, $pinning, stampede GOMAXPROCS=1"
echo "$MASTER_VERSION; $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///')"
echo "load average (1 min) at the end of each run: min $load_min, median $load_med, max $load_max"
echo
row "tool" "req/s min" "median" "max" "vs wrk" "req/CPU-s" "vs wrk"
echo "|--------------------------------------|----------:|---------:|---------:|-------:|-----------:|-------:|"
row "wrk -t1 -c$USERS" "$wmin" "$wmed" "$wmax" "1" "$weff" "1"
summary=()
for v in $VARIANTS; do
	read -r smin smed smax <<<"$(stats ${RPS[$v]})"
	read -r _ seff _ <<<"$(stats ${EFF[$v]})"
	ratio=$(awk -v s="$smed" -v w="$wmed" 'BEGIN { printf "%.2f", (w > 0) ? s / w : 0 }')
	ratio_cpu=$(awk -v s="$seff" -v w="$weff" 'BEGIN { printf "%.2f", (w > 0) ? s / w : 0 }')
	row "$(label "$v")" "$smin" "$smed" "$smax" "$ratio" "$seff" "$ratio_cpu"
	t=$(target "$v")
	if [[ -n $t ]]; then
		summary+=("$v/wrk: median req/s $ratio ($(verdict "$ratio" "$t") >= $t), median req/CPU-s $ratio_cpu ($(verdict "$ratio_cpu" "$t") >= $t)")
	else
		summary+=("$v/wrk: median req/s $ratio, median req/CPU-s $ratio_cpu (no target: the alternative client)")
	fi
done
echo
echo "min/median/max: req/s over $REPEATS runs; req/CPU-s: median requests per CPU-second of the generator's own process."
echo "stampede req/s = total.requests / duration_s from --json (ramp and stop included)."
for l in "${summary[@]}"; do echo "$l"; done
for n in "${notes[@]}"; do echo "note: $n"; done
exit 0
