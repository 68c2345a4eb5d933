#!/usr/bin/env bats
# Bad input to `litho build`: every failure must exit with status 1, print one clear error that
# names the source reference, and leave neither OUT.sif nor a temporary file (OUT.sif.tmp.*) in
# the output directory. Broken images come from tests/lib/mkbad.py (no root needed).

load helpers
load ../lib/build_common

setup_file() {
	fixtures_setup_file bad meta
}

setup() {
	common_setup
	use_fixture bad
	B=$FIX
	DIGEST=$(cat "$B/good.digest")
	mkdir out
}

# fails_cleanly REF [ARGS...]: runs `litho build ARGS out/o.sif REF` and checks the failure.
fails_cleanly() {
	local ref=$1
	shift
	run "$LITHO" build "$@" out/o.sif "$ref"
	assert_failed_cleanly out o.sif "$ref"
}

# layer_numbers_are N: every "layer K" in $output says K = N (or K/… = N/…): one image layer
# must not be called by two numbers in one message.
layer_numbers_are() {
	local rest=$output n
	while [[ $rest =~ layer\ ([0-9]+) ]]; do
		n=${BASH_REMATCH[1]}
		if [[ $n != "$1" ]]; then
			echo "the message calls layer $1 \"layer $n\":" >&2
			printf '%s\n' "$output" >&2
			return 1
		fi
		rest=${rest#*"${BASH_REMATCH[0]}"}
	done
}

# context_once TEXT: TEXT occurs at most once in $output (no repeated error context).
context_once() {
	local rest=${output#*"$1"}
	if [[ $rest != "$output" && $rest == *"$1"* ]]; then
		echo "\"$1\" is repeated in the message:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

@test "the control image builds" {
	litho_build out/o.sif "oci:$B/layout:good"
	[[ -s out/o.sif ]]
	assert_clean_dir out o.sif
}

@test "a missing tag: the message lists the tags there are (oci:, oci-archive:, docker-archive:)" {
	use_fixture meta
	fails_cleanly "oci:$FIX/layout:nope"
	[[ $output == *nope* ]]
	[[ $output == *both* && $output == *ep-only* && $output == *cmd-only* && $output == *env* ]]
	tar -C "$FIX/layout" -cf img.tar .
	fails_cleanly oci-archive:img.tar:nope
	[[ $output == *both* && $output == *env* ]]
	"$PYTHON" "$LIB_DIR/docker_save.py" "$FIX/layout" both legacy d.tar fixtures/meta:both
	fails_cleanly docker-archive:d.tar:fixtures/meta:nope
	[[ $output == *fixtures/meta:both* ]]
	# a layout with several images and no tag given: which one is ambiguous
	fails_cleanly "oci:$FIX/layout"
	[[ $output == *both* ]]
}

@test "a path that does not exist" {
	fails_cleanly oci:/nonexistent/layout
	[[ $output == *"No such file"* ]]
	fails_cleanly oci-archive:/nonexistent/img.tar
	[[ $output == *"No such file"* ]]
	fails_cleanly docker-archive:/nonexistent/img.tar
	[[ $output == *"No such file"* ]]
	fails_cleanly /nonexistent/sandbox/
}

@test "an unknown transport" {
	fails_cleanly foo:bar
	[[ $output == *"unknown source"* ]]
	fails_cleanly "docker-daemon:x:latest"
	[[ $output == *"unknown source"* ]]
}

@test "a flipped byte in a layer blob is a digest mismatch naming the blob" {
	# the byte is in the gzip header's mtime field, which gzip itself does not check
	fails_cleanly "oci:$B/flip-header:good"
	[[ $output == *"digest mismatch"* ]]
	[[ $output == *"$DIGEST"* ]]
}

@test "a flipped byte inside the compressed data fails the layer" {
	fails_cleanly "oci:$B/flip-data:good"
	[[ $output == *"layer 2/2"* ]]
	[[ $output == *"$DIGEST"* || $output == *"${DIGEST:0:19}"* ]]
}

@test "a truncated gzip layer (its digest matching) fails the layer" {
	fails_cleanly "oci:$B/layout:trunc-gzip"
	[[ $output == *"layer 2/2"* ]]
	[[ $output == *gzip* ]]
	[[ $output == *truncated* || $output == *"unexpected end"* ]]
}

@test "a truncated plain tar layer fails the layer" {
	fails_cleanly "oci:$B/layout:trunc-tar"
	[[ $output == *"layer 2/2"* ]]
	[[ $output == *runcated* ]]
}

@test "a layer whose content does not match the config's diff_id" {
	fails_cleanly "oci:$B/layout:diffid-mismatch"
	[[ $output == *"diff_id"* ]]
	[[ $output == *"layer 2/2"* ]]
}

@test "a missing blob and a blob of the wrong size" {
	fails_cleanly "oci:$B/missing-blob:good"
	[[ $output == *"$DIGEST"* ]]
	[[ $output == *missing* ]]
	fails_cleanly "oci:$B/short-blob:good"
	[[ $output == *"$DIGEST"* ]]
	[[ $output == *size* ]]
}

@test "messages number the failing layer one way and say each context once" {
	local src
	for src in "oci:$B/flip-header:good" "oci:$B/flip-data:good" "oci:$B/missing-blob:good" \
		"oci:$B/short-blob:good" "oci:$B/layout:trunc-gzip" "oci:$B/layout:diffid-mismatch"; do
		run "$LITHO" build out/o.sif "$src"
		[[ $status -eq 255 ]]
		layer_numbers_are 2
		context_once "layer 2/2"
		context_once "$src"
	done
}

@test "an existing output is refused without -F and left untouched" {
	printf 'not a SIF\n' >out/o.sif
	touch -d @1000000000 out/o.sif
	cp -p out/o.sif keep
	run "$LITHO" build out/o.sif "oci:$B/layout:good"
	[[ $status -eq 255 ]]
	[[ $output == *out/o.sif* ]]
	[[ $output == *exists* ]]
	cmp out/o.sif keep
	[[ $(stat -c %Y out/o.sif) == 1000000000 ]]
	assert_clean_dir out o.sif
	# a failed -F build also leaves the old file alone
	run "$LITHO" build -F out/o.sif "oci:$B/layout:trunc-gzip"
	[[ $status -eq 255 ]]
	cmp out/o.sif keep
	assert_clean_dir out o.sif
}

@test "-F overwrites an existing output" {
	require_cmd siftool
	printf 'not a SIF\n' >out/o.sif
	litho_build -F out/o.sif "oci:$B/layout:good"
	run -0 siftool list out/o.sif
	[[ $output == *"FS (Squashfs"* ]]
	assert_clean_dir out o.sif
	# also a symlink in the way is replaced by the file, not written through
	ln -sf ../elsewhere out/l.sif
	litho_build -F out/l.sif "oci:$B/layout:good"
	[[ -f out/l.sif && ! -L out/l.sif ]]
	[[ ! -e elsewhere ]]
}

@test "an output directory that does not exist" {
	run "$LITHO" build out/missing/o.sif "oci:$B/layout:good"
	[[ $status -eq 255 ]]
	[[ $output == *out/missing/o.sif* ]]
	refute_crash_output "$output"
	assert_clean_dir out
}

@test "a full disk in the middle of the output: a clear error, the old file kept, no temporary" {
	[[ $EUID -eq 0 ]] || skip "mounting a small tmpfs needs root"
	mkdir full
	mount -t tmpfs -o size=40k tmpfs full
	printf 'not a SIF\n' >full/o.sif
	cp full/o.sif keep
	run "$LITHO" build -F full/o.sif "oci:$B/layout:good"
	local listing kept=no
	listing=$(ls -A full)
	cmp -s full/o.sif keep && kept=yes
	umount full
	[[ $status -eq 255 ]]
	[[ $output == *full/o.sif* ]]
	[[ $output == *"No space left on device"* ]]
	refute_crash_output "$output"
	[[ $listing == o.sif ]]
	[[ $kept == yes ]]
}
