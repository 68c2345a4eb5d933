# shellcheck shell=bash
# Shared helpers of the `litho build` command tests (tests/cli/build_*.bats).
#
# Load after tests/cli/helpers.bash:
#     load helpers
#     load ../lib/build_common
#
# Fixture images are made once per run by tests/lib/mkimages.sh and shared by every build_*.bats
# file of the run (under $BATS_RUN_TMPDIR). Set LITHO_FIXTURE_CACHE=DIR to keep them across runs:
# they then live in DIR/<hash of tests/lib and the busybox binary>, so editing a script under
# tests/lib makes fresh ones. Fixtures are made under a lock, so `bats -j` is fine.
#
# Most checks need root: `umoci unpack` keeps owners, devices and xattrs only as root, and so
# does `unsquashfs -d`.

LIB_DIR="$(cd "$BATS_TEST_DIRNAME/../lib" && pwd)"
MKIMAGES="$LIB_DIR/mkimages.sh"
TREEDUMP="$LIB_DIR/treedump.py"
export LIB_DIR MKIMAGES TREEDUMP

# A fixed SOURCE_DATE_EPOCH for the reproducible builds.
SDE=1700000000

# fixture_root: the folder of this run's fixtures (setup_file exports it as
# LITHO_FIXTURE_DIR for the tests of the file).
fixture_root() {
	if [[ -n ${LITHO_FIXTURE_DIR:-} ]]; then
		echo "$LITHO_FIXTURE_DIR"
	elif [[ -n ${LITHO_FIXTURE_CACHE:-} ]]; then
		local key
		key=$(cat "$LIB_DIR"/*.py "$LIB_DIR"/*.sh "$(command -v busybox 2>/dev/null || echo /dev/null)" |
			sha256sum | cut -c1-16)
		echo "$LITHO_FIXTURE_CACHE/$key"
	else
		echo "${BATS_RUN_TMPDIR:?}/litho-fixtures"
	fi
}

# fixture_missing NAME: prints why NAME cannot be made here (nothing when it can).
fixture_missing() {
	local need=() t
	case $1 in
	umoci) need=(umoci busybox) ;;
	edge) need=(tar gzip) ;;
	meta | bad) need=() ;;
	skopeo) need=(umoci busybox skopeo) ;;
	docker-save) need=(umoci busybox) ;;
	buildah) need=(buildah busybox) ;;
	esac
	for t in "$PYTHON" "${need[@]}"; do
		if ! command -v "$t" >/dev/null 2>&1; then
			echo "$t is not installed"
			return
		fi
	done
	if [[ $1 != edge && $1 != meta && $1 != bad && $EUID -ne 0 ]]; then
		echo "making the $1 fixture needs root"
	fi
}

# fixtures_setup_file NAME...: for setup_file: makes the fixtures NAME... (those that can be made
# here) and exports LITHO_FIXTURE_DIR.
fixtures_setup_file() {
	LITHO_FIXTURE_DIR=$(fixture_root)
	export LITHO_FIXTURE_DIR
	local n
	for n in "$@"; do
		make_fixture "$n"
	done
}

# make_fixture NAME: makes fixture NAME (and what it is made from) unless it exists or cannot be
# made here. For setup_file; tests call use_fixture.
make_fixture() {
	local name=$1 root dir input=() why
	why=$(fixture_missing "$name")
	[[ -z $why ]] || return 0
	root=$(fixture_root)
	dir=$root/$name
	[[ -d $dir ]] && return 0
	case $name in
	skopeo | docker-save)
		make_fixture umoci
		input=("$root/umoci/layout")
		;;
	esac
	mkdir -p "$root"
	(
		flock 9
		if [[ ! -d $dir ]]; then
			rm -rf "$dir.part"
			if ! PYTHON=$PYTHON "$MKIMAGES" "$name" "$dir.part" "${input[@]}" >"$root/$name.log" 2>&1; then
				echo "making the $name fixture failed:" >&2
				cat "$root/$name.log" >&2
				exit 1
			fi
			mv "$dir.part" "$dir"
		fi
	) 9>"$root/.lock-$name"
}

# use_fixture NAME: sets FIX to the fixture's folder; skips the test when a tool is missing.
use_fixture() {
	local why
	why=$(fixture_missing "$1")
	if [[ -n $why ]]; then
		skip "$why"
	fi
	FIX="$(fixture_root)/$1"
	if [[ ! -d $FIX ]]; then
		echo "fixture $1 was not made (see setup_file)" >&2
		return 1
	fi
}

require_root() {
	if [[ $EUID -ne 0 ]]; then
		skip "needs root"
	fi
}

# litho_build ARGS...: `litho build ARGS` with stdout and stderr in $BATS_TEST_TMPDIR/build.log;
# prints the log and fails when litho fails.
litho_build() {
	local rc=0
	"$LITHO" build "$@" >"$BATS_TEST_TMPDIR/build.log" 2>&1 || rc=$?
	if [[ $rc -ne 0 ]]; then
		echo "litho build $* failed with status $rc:" >&2
		cat "$BATS_TEST_TMPDIR/build.log" >&2
		return 1
	fi
}

# part_id SIF: the descriptor ID of the SquashFS partition (from siftool list).
part_id() {
	siftool list "$1" | awk -F'|' '/FS \(Squashfs/ { gsub(/ /, "", $1); print $1; exit }'
}

# part_offset SIF: the partition's offset in the file.
part_offset() {
	local id
	id=$(part_id "$1") || return 1
	siftool info "$id" "$1" | awk '/^ *Offset:/ { print $2 }'
}

# dump_part SIF OUT.sqfs: copies the SquashFS partition out of SIF.
dump_part() {
	local id
	id=$(part_id "$1")
	if [[ -z $id ]]; then
		echo "no SquashFS partition in $1:" >&2
		siftool list "$1" >&2
		return 1
	fi
	siftool dump "$id" "$1" >"$2"
}

# extract_sif SIF DIR: extracts the SquashFS partition of SIF into DIR (owners, devices and
# xattrs kept: run as root).
extract_sif() {
	local sqfs="${2%/}.sqfs"
	dump_part "$1" "$sqfs" || return 1
	if ! unsquashfs -q -n -d "$2" "$sqfs" >"$BATS_TEST_TMPDIR/unsquashfs.log" 2>&1; then
		echo "unsquashfs of $1 failed:" >&2
		cat "$BATS_TEST_TMPDIR/unsquashfs.log" >&2
		return 1
	fi
}

# umoci_unpack LAYOUT:TAG DIR: `umoci unpack` (as root), the rootfs in DIR/rootfs.
umoci_unpack() {
	if ! (umask 022 && umoci unpack --image "$1" "$2") >"$BATS_TEST_TMPDIR/umoci.log" 2>&1; then
		echo "umoci unpack $1 failed:" >&2
		cat "$BATS_TEST_TMPDIR/umoci.log" >&2
		return 1
	fi
}

# tree_compare REF ACT [treedump options]: fails with the difference when the trees differ.
tree_compare() {
	local out rc=0
	out=$("$PYTHON" "$TREEDUMP" compare "$@") || rc=$?
	if [[ $rc -ne 0 ]]; then
		echo "trees differ (- $1, + $2):" >&2
		printf '%s\n' "$out" >&2
		return 1
	fi
}

# tree_dump DIR OUT: the treedump listing of DIR.
tree_dump() {
	"$PYTHON" "$TREEDUMP" dump "$1" >"$2"
}

# explicit_dirs LAYOUT TAG OUT: the directories that the image's layers define.
explicit_dirs() {
	"$PYTHON" "$TREEDUMP" explicit-dirs "$1" "$2" >"$3"
}

# load_dump DUMP: reads a treedump listing into the associative array DUMP_LINES (path -> line)
# so that entry/assert_entry/refute_entry on it need no process.
declare -gA DUMP_LINES=()
DUMP_LOADED=""
load_dump() {
	[[ $DUMP_LOADED == "$1" ]] && return 0
	DUMP_LINES=()
	local line
	while IFS= read -r line; do
		DUMP_LINES["${line%% type=*}"]=$line
	done <"$1"
	DUMP_LOADED=$1
}

# entry DUMP PATH: prints the dump line of PATH (fails when there is none).
entry() {
	load_dump "$1"
	if [[ -z ${DUMP_LINES[$2]+set} ]]; then
		echo "no $2 in the tree" >&2
		return 1
	fi
	printf '%s\n' "${DUMP_LINES[$2]}"
}

# assert_entry DUMP PATH FIELD...: PATH exists and its line holds every FIELD (" f=v" words).
assert_entry() {
	local dump=$1 path=$2 line f
	shift 2
	load_dump "$dump"
	if [[ -z ${DUMP_LINES[$path]+set} ]]; then
		echo "no $path in the tree" >&2
		return 1
	fi
	line=${DUMP_LINES[$path]}
	for f in "$@"; do
		if [[ " $line " != *" $f "* ]]; then
			echo "$path: expected $f in:" >&2
			echo "  $line" >&2
			return 1
		fi
	done
}

# refute_entry DUMP PATH: PATH is absent.
refute_entry() {
	load_dump "$1"
	if [[ -n ${DUMP_LINES[$2]+set} ]]; then
		echo "$2 should not exist, but the tree has:" >&2
		echo "  ${DUMP_LINES[$2]}" >&2
		return 1
	fi
}

# sha_of TEXT: the sha256 of TEXT.
sha_of() {
	printf '%s' "$1" | sha256sum | cut -d' ' -f1
}

# assert_clean_dir DIR [ALLOWED...]: DIR holds nothing but the ALLOWED names (no output, no
# leftover temporary file).
assert_clean_dir() {
	local dir=$1 f name ok
	shift
	for f in "$dir"/* "$dir"/.[!.]*; do
		[[ -e $f || -L $f ]] || continue
		name=${f##*/}
		ok=0
		for a in "$@"; do
			[[ $name == "$a" ]] && ok=1
		done
		if [[ $ok -eq 0 ]]; then
			echo "unexpected file left in $dir: $name" >&2
			ls -la "$dir" >&2
			return 1
		fi
	done
}

# assert_failed_cleanly DIR OUTNAME REF [ALLOWED...]: the last `run` failed with status 255 (a
# fatal error, as in Apptainer), its output is one clear error naming REF (no crash, no usage text), and DIR has no OUTNAME and no
# temporary file left.
assert_failed_cleanly() {
	local dir=$1 outname=$2 ref=$3
	shift 3
	if [[ $status -ne 255 ]]; then
		echo "expected exit status 255, got $status; output:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
	refute_crash_output "$output" || return 1
	if [[ $output != *"$ref"* ]]; then
		echo "the message does not name $ref:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
	if [[ $output == *"Usage:"* ]]; then
		echo "a build error should not print the usage text:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
	if [[ -e $dir/$outname ]]; then
		echo "$dir/$outname exists after a failed build" >&2
		return 1
	fi
	assert_clean_dir "$dir" "$@"
}

# assert_layer_digest_in_message TEXT DIGEST: TEXT names the layer by a prefix of DIGEST
# ("sha256:<at least 12 hex digits>" that the real digest starts with).
assert_layer_digest_in_message() {
	local text=$1 digest=$2 shown
	if [[ ! $text =~ sha256:([0-9a-f]+) ]]; then
		echo "no layer digest in the message: $text" >&2
		return 1
	fi
	shown=${BASH_REMATCH[1]}
	if [[ ${#shown} -lt 12 || ${digest#sha256:} != "$shown"* ]]; then
		echo "the message shows sha256:$shown, which is not a prefix of $digest:" >&2
		echo "  $text" >&2
		return 1
	fi
}

# layer_digest LAYOUT TAG N: the digest of layer N (1-based) of the image.
layer_digest() {
	"$PYTHON" - "$1" "$2" "$3" <<-'EOF'
		import json, os, sys
		sys.path.insert(0, os.environ["LIB_DIR"])
		from tarlib import read_layout
		_, manifest, _, _ = read_layout(sys.argv[1], sys.argv[2])
		print(manifest["layers"][int(sys.argv[3]) - 1]["digest"])
	EOF
}
