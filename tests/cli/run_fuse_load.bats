#!/usr/bin/env bats
# The in-process FUSE server under parallel load, as the unprivileged user (root reads the
# image through a loop device instead; checked once for comparison): 4 concurrent md5sum of
# a 64 MiB file of random bytes in the image, and 4 concurrent readers of its quarters, all
# give the right checksums.

load helpers
load ../lib/runtime/rt

setup_file() {
	rt_setup_file big
}

teardown_file() {
	rt_teardown_file
}

setup() {
	rt_setup
	use_image big
	mapfile -t SUMS <"$IMG.md5"
}

# check_parallel_md5 WHO: 4 concurrent md5sum of the whole file in one container.
check_parallel_md5() {
	local who=$1 s
	need "$who"
	lrun "$who" exec "$IMG" sh -c \
		'for i in 1 2 3 4; do md5sum /data/big.bin >/tmp/.md5.$$.$i & done; wait; cat /tmp/.md5.$$.*; rm -f /tmp/.md5.$$.*
		grep -Eq " - fuse(\.| )" /proc/self/mountinfo && echo "through FUSE"; true'
	expect_ok
	s=${SUMS[0]}
	expect_stdout_has "$s  /data/big.bin
$s  /data/big.bin
$s  /data/big.bin
$s  /data/big.bin"
	# as the user the image must be served by litho's FUSE server (not an --unsquash fallback)
	if [[ $who == user ]]; then
		expect_stdout_has "through FUSE"
		[[ $stderr != *unsquash* && $stderr != *sandbox* ]] || fail "litho fell back: $stderr"
	fi
}

@test "FUSE under load: 4 concurrent md5sum of a 64 MiB file, user" { check_parallel_md5 user; }
@test "loop mount: 4 concurrent md5sum of a 64 MiB file, root" { check_parallel_md5 root; }

@test "FUSE under load: 4 concurrent readers of different quarters, then the whole, user" {
	need user
	lrun user exec "$IMG" sh -c '
		for q in 0 1 2 3; do
			dd if=/data/big.bin bs=1M skip=$((q * 16)) count=16 2>/dev/null | md5sum >/tmp/.q.$$.$q &
		done
		md5sum </data/big.bin >/tmp/.q.$$.all &
		wait
		for q in 0 1 2 3 all; do cut -d" " -f1 /tmp/.q.$$.$q; done
		rm -f /tmp/.q.$$.*'
	expect_ok
	expect_output "${SUMS[1]}
${SUMS[2]}
${SUMS[3]}
${SUMS[4]}
${SUMS[0]}"
}

@test "FUSE under load: 4 containers at once read the same image, user" {
	need user
	local i pids=() rc=0
	for i in 1 2 3 4; do
		as user "$LITHO" exec "$IMG" md5sum /data/big.bin >"$WORK/c$i.out" 2>"$WORK/c$i.err" &
		pids+=($!)
	done
	for i in 0 1 2 3; do
		wait "${pids[$i]}" || { rc=$?; echo "container $((i + 1)) failed with $rc:" >&2; cat "$WORK/c$((i + 1)).err" >&2; }
	done
	[[ $rc -eq 0 ]] || return 1
	for i in 1 2 3 4; do
		[[ $(<"$WORK/c$i.out") == "${SUMS[0]}  /data/big.bin" ]] ||
			fail "container $i: $(<"$WORK/c$i.out")" || return 1
	done
}
