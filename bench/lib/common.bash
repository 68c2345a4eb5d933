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

# ---- added for bench/pull and bench/start ---------------------------------------------------
#   bench_free_port           a TCP port on 127.0.0.1 that nothing listens on now
#   bench_wait_http URL [S]   waits (S seconds, default 10) until URL answers any HTTP status
#   bench_proc_cpu PID        CPU seconds (user + sys) a running process has used so far
#   bench_sif_squashfs LITHO SIF OUT      the SquashFS partition of SIF as a plain file
#   bench_sif_squashfs_offset LITHO SIF   byte offset of that partition inside SIF
#   bench_sqfs_compare REF NEW DIR        compares two SquashFS images (sqfsdiff -T and
#                             unsquashfs -lln listings) ignoring litho's Apptainer metadata paths;
#                             prints "paths differences encoding-notes", details in DIR/report.txt
#                             and DIR/encoding.txt
#   bench_ms_stats            "median p10 p90 min n" of the numbers on stdin

bench_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

bench_wait_http() {
	local url=$1 max=${2:-10} i code
	for ((i = 0; i < max * 10; i++)); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null || true)
		if [ -n "$code" ] && [ "$code" != 000 ]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

bench_proc_cpu() {
	# fields 14 and 15 of /proc/PID/stat (after the command name, which may hold spaces)
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' \
		"/proc/$1/stat" 2>/dev/null || echo 0
}

bench_sif_squashfs_id() { # LITHO SIF: descriptor id of the first SquashFS partition
	"$1" sif list "$2" | awk -F'|' '/FS \(Squashfs/ { gsub(/ /, "", $1); print $1; exit }'
}

bench_sif_squashfs() {
	local id
	id=$(bench_sif_squashfs_id "$1" "$2")
	[ -n "$id" ] || bench_die "no SquashFS partition in $2"
	"$1" sif dump "$id" "$2" >"$3"
}

bench_sif_squashfs_offset() {
	"$1" sif list "$2" | awk -F'|' '/FS \(Squashfs/ { split($4, p, "-"); gsub(/ /, "", p[1]); print p[1]; exit }'
}

bench_ms_stats() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan nan nan nan 0"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		lo = int(0.1 * (NR - 1) + 1.5); hi = int(0.9 * (NR - 1) + 1.5)
		print m, v[lo], v[hi], v[1], NR }'
}

# Paths litho adds to an image as Apptainer's build does (its metadata), not the image's content.
bench_litho_extras_re='^/?(\.singularity\.d(/.*)?|singularity|\.run|\.exec|\.test|\.shell|environment|etc/hosts|etc/resolv\.conf)$'

bench_sqfs_compare() {
	local ref=$1 new=$2 v=$3 rc=0
	mkdir -p "$v"
	sqfsdiff -T -a "$ref" -b "$new" >"$v/sqfsdiff.txt" 2>&1 || rc=$?
	if [ $rc -gt 1 ]; then
		tail -20 "$v/sqfsdiff.txt" >&2
		bench_die "sqfsdiff failed"
	fi
	unsquashfs -lln "$ref" >"$v/ref.list" 2>&1
	unsquashfs -lln "$new" >"$v/new.list" 2>&1
	python3 - "$v" "$bench_litho_extras_re" <<'PYEOF'
import re, sys
v, extras = sys.argv[1], re.compile(sys.argv[2])
# "crw-rw-rw- 0/0     1,  3 2024-01-01 00:00 squashfs-root/dev/null"
# "lrwxrwxrwx 0/0         7 2024-01-01 00:00 squashfs-root/bin -> usr/bin"
line_re = re.compile(r"^(\S+) (\d+/\d+) +(\d+|\d+, *\d+) (\S+ \S+) squashfs-root(/(.*))?$")
def listing(name):
    out = {}
    for line in open(f"{v}/{name}.list"):
        m = line_re.match(line.rstrip("\n"))
        if not m:
            continue
        mode, owner, size, mtime, path = m.group(1), m.group(2), m.group(3), m.group(4), m.group(6) or ""
        target = ""
        if mode.startswith("l"):
            path, target = path.split(" -> ", 1)
        if extras.match(path):
            continue
        if mode.startswith("d"):
            size = "-"  # a listing's byte size depends on directory header layout, not content
            if path in ("", "etc"):
                mtime = "-"  # litho adds entries here, as Apptainer's build does
        out[path] = (mode, owner, size, mtime, target)
    return out
ref, new = listing("ref"), listing("new")
bad, encoding = [], []
for p in sorted(set(ref) | set(new)):
    if p not in new or p not in ref:
        bad.append(f"only in {'the reference' if p in ref else 'the litho image'}: /{p}")
    elif ref[p] != new[p]:
        bad.append(f"differs: /{p}: reference {ref[p]} litho {new[p]}")
# sqfsdiff: "< PATH" only in the reference, "> PATH" only in litho's, "/PATH has ..." otherwise.
for line in open(f"{v}/sqfsdiff.txt"):
    line = line.rstrip("\n")
    if not line.strip():
        continue
    m = re.match(r"^[<>] (.*)$", line) or re.match(r"^(\S*) has ", line)
    path = m.group(1).strip("/") if m else None
    if path is not None and extras.match(path):
        continue
    if path in ("", "etc") and "timestamp" in line:
        continue
    if re.search(r" has an? (basic|extended) type$", line):
        encoding.append(line)  # basic vs extended inode: an encoding choice, same content
        continue
    bad.append("sqfsdiff: " + line)
open(f"{v}/report.txt", "w").write("\n".join(bad) + "\n")
open(f"{v}/encoding.txt", "w").write("\n".join(encoding) + "\n")
print(len(ref), len(bad), len(encoding))
PYEOF
}
