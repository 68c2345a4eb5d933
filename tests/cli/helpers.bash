# shellcheck shell=bash
# Shared setup for the command-level bats tests of `litho sif`.
#
# Load it from a .bats file with `load helpers` and call `common_setup` from setup().
#
# Environment:
#   LITHO          litho binary to test (default: the normal build). The sanitizer build runs
#                  the same tests with LITHO pointing at its own binary.
#   LITHO_INTEROP  folder with the reference images (sif-spec/, images/); default
#                  ../../../shared/interop relative to this folder.

# `run --separate-stderr` and `run -N` need bats-core >= 1.5.
bats_require_minimum_version 1.5.0

LITHO="${LITHO:-$BATS_TEST_DIRNAME/../../_build/src/cli/litho}"
INTEROP="${LITHO_INTEROP:-$BATS_TEST_DIRNAME/../../../shared/interop}"
# The tests run in temporary folders: make relative paths absolute, look bare names up in PATH.
if [[ $LITHO != */* ]]; then
	LITHO="$(command -v "$LITHO" || echo "$LITHO")"
elif [[ $LITHO != /* ]]; then
	LITHO="$PWD/$LITHO"
fi
if [[ $INTEROP != /* ]]; then
	INTEROP="$PWD/$INTEROP"
fi
export LITHO INTEROP

# python3 for the byte-patching helpers. A pyenv shim takes a quarter of a second to start, so
# the system interpreter is preferred; set PYTHON to choose another one.
if [[ -z ${PYTHON:-} ]]; then
	if [[ -x /usr/bin/python3 ]]; then
		PYTHON=/usr/bin/python3
	else
		PYTHON="$(command -v python3 || echo python3)"
	fi
fi
export PYTHON

# Per-test setup: checks the binary and moves into a fresh temporary folder ($TMP_DIR) that
# bats removes after the test.
common_setup() {
	if [[ ! -x $LITHO ]]; then
		echo "litho binary not found or not executable: $LITHO" >&2
		echo "(build it with 'ninja -C _build' or set LITHO)" >&2
		return 1
	fi
	if [[ -n ${BATS_TEST_TMPDIR:-} ]]; then
		TMP_DIR="$BATS_TEST_TMPDIR" # fresh for every test, removed by bats
	else
		TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/litho-cli.XXXXXX")"
	fi
	export TMP_DIR
	cd "$TMP_DIR" || return 1
}

# Skips the current test when one of the named commands is not installed.
require_cmd() {
	local c
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			skip "$c is not installed"
		fi
	done
}

# A lighter `run --separate-stderr CMD...` (bats' run costs several extra processes): sets
# status, output and stderr (trailing newlines removed, as run does).
# shellcheck disable=SC2034 # status, output and stderr are read by the tests
run_split() {
	status=0
	"$@" >"$TMP_DIR/.run.out" 2>"$TMP_DIR/.run.err" || status=$?
	read_file_into output "$TMP_DIR/.run.out"
	read_file_into stderr "$TMP_DIR/.run.err"
	while [[ $output == *$'\n' ]]; do output="${output%$'\n'}"; done
	while [[ $stderr == *$'\n' ]]; do stderr="${stderr%$'\n'}"; done
}

# Runs `litho sif ARGS...`.
lsif() {
	"$LITHO" sif "$@"
}

# Fails when TEXT looks like the output of a crash or of a sanitizer report.
refute_crash_output() {
	local text="$1"
	case "$text" in
	*Sanitizer* | *"runtime error:"* | *Segmentation* | *"Aborted"* | *"core dumped"*)
		echo "output looks like a crash:" >&2
		printf '%s\n' "$text" >&2
		return 1
		;;
	esac
	return 0
}

# Fails with a diff when the two files differ.
assert_same_file() {
	if ! cmp -s "$1" "$2"; then
		echo "files differ: $1 $2" >&2
		diff -u "$1" "$2" >&2 || true
		return 1
	fi
}

# Reads the whole of FILE into the variable named VAR, trailing newlines included (no fork).
read_file_into() {
	local -n _var="$1"
	_var=""
	IFS= read -r -d '' _var <"$2" || true
}

# Runs `siftool ARGS` and `litho sif ARGS` (text output only) and fails with a diff when their
# stdout differs (trailing newlines included), when either fails, or when both print nothing.
# With FILTER set to a function name, litho's output goes through it first. Sets SIFTOOL_OUT
# and LITHO_OUT. (Written to spawn as few processes as possible: the suite runs it a lot.)
compare_text_output() {
	local s="$TMP_DIR/.siftool.out" l="$TMP_DIR/.litho.out" rc=0
	siftool "$@" >"$s" || rc=$?
	if [[ $rc -ne 0 ]]; then
		echo "siftool $* failed with status $rc" >&2
		return 1
	fi
	"$LITHO" sif "$@" >"$l" || rc=$?
	if [[ $rc -ne 0 ]]; then
		echo "litho sif $* failed with status $rc" >&2
		return 1
	fi
	if [[ -n ${FILTER:-} ]]; then
		"$FILTER" <"$l" >"$l.filtered"
		l="$l.filtered"
	fi
	read_file_into SIFTOOL_OUT "$s"
	read_file_into LITHO_OUT "$l"
	if [[ $SIFTOOL_OUT != "$LITHO_OUT" ]]; then
		echo "'$*' differs between siftool (-) and litho (+):" >&2
		diff -u "$s" "$l" >&2 || true
		return 1
	fi
	if [[ -z $SIFTOOL_OUT ]]; then
		echo "'$*' printed nothing" >&2
		return 1
	fi
}

# Sets the array SIFTOOL_IDS to the IDs of the listing in SIFTOOL_OUT (first column after the 3
# title lines); no process is spawned, as the suites call it once per image.
siftool_listed_ids() {
	local line n=0
	SIFTOOL_IDS=()
	while IFS= read -r line; do
		n=$((n + 1))
		((n > 3)) || continue
		SIFTOOL_IDS+=("${line%% *}")
	done <<<"${SIFTOOL_OUT%$'\n'}"
}

# Fails when `siftool dump ID FILE` and `litho sif dump ID FILE` write different bytes.
compare_dump() {
	siftool dump "$1" "$2" >siftool.bin
	"$LITHO" sif dump "$1" "$2" >litho.bin
	if ! cmp siftool.bin litho.bin; then
		echo "dump $1 $2 differs" >&2
		return 1
	fi
}

# Prints the IDs listed by `litho sif list FILE` (first column after the 3 header lines).
list_ids() {
	local out
	out="$("$LITHO" sif list "$1")" || return 1
	awk 'NR > 3 { print $1 }' <<<"$out"
}
