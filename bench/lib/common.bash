# Helpers shared by the benchmarks under bench/. Source it from a bench/*/run script (bash).
#   bench_log MSG...          progress line on stderr
#   bench_die MSG...          error on stderr, exit 2
#   bench_need CMD [PKG]      fail with an apt-get hint when CMD is missing
#   bench_machine             prints nproc, CPU model, kernel, memory, OS
#   bench_timed FILE CMD...   runs CMD under GNU time, appends "wall user sys maxrss_kb" to FILE
#   bench_median              median of the numbers on stdin (mean of the two middle ones if even)
#   bench_warm PATH...        reads every regular file under PATH so it sits in the page cache
#   bench_mib BYTES           bytes -> MiB with 2 decimals
#   bench_dir_stats DIR       "MB files dirs symlinks other" of an unpacked tree (du -s --apparent)
#   bench_cpu_busy            CPU seconds all CPUs have been busy since boot (/proc/stat)
#   bench_wait_quiet MAX_S    waits (up to MAX_S) until the machine is idle, so that other jobs on
#                             a shared machine disturb the next measurement less

bench_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

bench_die() {
	printf 'bench: error: %s\n' "$*" >&2
	exit 2
}

bench_need() {
	command -v "$1" >/dev/null 2>&1 || bench_die "'$1' not found (apt-get install ${2:-$1})"
}

bench_machine() {
	local model
	model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
	echo "machine: nproc=$(nproc), CPU: ${model:-unknown}"
	echo "kernel:  $(uname -srm)"
	echo "memory:  $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)," \
		"OS: $(. /etc/os-release && echo "$PRETTY_NAME")"
}

# bench_timed FILE CMD...: GNU time writes "wall user sys maxrss" (s, s, s, KiB) into FILE.
# The command's own output goes to FILE.log. Returns the command's status.
bench_timed() {
	local file=$1
	shift
	/usr/bin/time -f '%e %U %S %M' -o "$file.tmp" "$@" >>"$file.log" 2>&1
	local rc=$?
	# GNU time prefixes "Command exited with non-zero status N" when the command fails.
	tail -n 1 "$file.tmp" >>"$file"
	rm -f "$file.tmp"
	return $rc
}

bench_median() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan"; exit }
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

bench_warm() {
	local p
	for p in "$@"; do
		if [ -f "$p" ]; then
			cat "$p" >/dev/null
		else
			find "$p" -type f -print0 | xargs -0 -r cat >/dev/null
		fi
	done
}

bench_mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }

bench_dir_stats() {
	local dir=$1 bytes
	bytes=$(du -s -b --apparent-size "$dir" | cut -f1)
	find "$dir" -mindepth 1 -printf '%y\n' | awk -v b="$bytes" '
		{ n[$1]++ } END { printf "%.1f %d %d %d %d\n", b / 1e6, n["f"], n["d"], n["l"],
			NR - n["f"] - n["d"] - n["l"] }'
}

bench_cpu_busy() {
	# user nice system idle iowait irq softirq steal: busy = all but idle and iowait
	awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f\n", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}

# Returns 0 when a 1-second sample had less than 0.15 CPU-seconds busy, 1 after MAX_S seconds.
bench_wait_quiet() {
	local max=$1 waited=0 b0 b1
	while :; do
		b0=$(bench_cpu_busy)
		sleep 1
		b1=$(bench_cpu_busy)
		awk -v a="$b0" -v b="$b1" 'BEGIN { exit !(b - a < 0.15) }' && return 0
		waited=$((waited + 1))
		if [ "$waited" -ge "$max" ]; then
			bench_log "machine still busy after ${max}s (other jobs?); measuring anyway"
			return 1
		fi
	done
}
