# shellcheck shell=bash
# Subordinate id ranges of a test user in /etc/subuid and /etc/subgid, changed for one test and
# put back afterwards (root only). Load after rt.bash:
#     load ../lib/runtime/subid
#
# subid_set USER START COUNT   USER's lines in both files become USER:START:COUNT
# subid_clear USER             USER has no range (lines by name and by uid are removed)
# subid_restore                USER's original lines back (call it from teardown)
# subid_has USER               whether USER has a range in both files now
# subid_range USER             "START COUNT" of USER's first range in /etc/subuid
#
# Only the lines of that user are touched, under a lock, so that other users' lines (and other
# test files doing the same for other users) are left alone. The originals are kept in
# $BATS_TEST_TMPDIR.

SUBID_FILES=(/etc/subuid /etc/subgid)
SUBID_LOCK=/tmp/.litho-test-subid.lock

# _subid_pattern USER: an extended regex for the lines of USER (by name or by uid)
_subid_pattern() {
	local user=$1 uid
	uid=$(id -u "$user" 2>/dev/null || echo "-")
	printf '^(%s|%s):' "$user" "$uid"
}

# _subid_rewrite USER [LINE]: removes USER's lines from both files, then appends LINE to both.
_subid_rewrite() {
	local user=$1 line=${2:-} pat f
	pat=$(_subid_pattern "$user")
	(
		flock 9
		for f in "${SUBID_FILES[@]}"; do
			touch "$f"
			{
				grep -Ev -- "$pat" "$f" || true
				[[ -z $line ]] || echo "$line"
			} >"$f.litho-test.$$"
			# in place: the file keeps its inode, owner and mode
			cat "$f.litho-test.$$" >"$f"
			rm -f "$f.litho-test.$$"
		done
	) 9>"$SUBID_LOCK"
}

_subid_save() {
	local user=$1 pat f i=0
	[[ -f $BATS_TEST_TMPDIR/subid.user ]] && return 0
	pat=$(_subid_pattern "$user")
	for f in "${SUBID_FILES[@]}"; do
		grep -E -- "$pat" "$f" >"$BATS_TEST_TMPDIR/subid.$i" 2>/dev/null || true
		i=$((i + 1))
	done
	echo "$user" >"$BATS_TEST_TMPDIR/subid.user"
}

subid_set() {
	local user=$1 start=$2 count=$3
	[[ $EUID -eq 0 ]] || return 1
	_subid_save "$user"
	_subid_rewrite "$user" "$user:$start:$count"
}

subid_clear() {
	local user=$1
	[[ $EUID -eq 0 ]] || return 1
	_subid_save "$user"
	_subid_rewrite "$user"
}

subid_restore() {
	[[ -f ${BATS_TEST_TMPDIR:-/nonexistent}/subid.user ]] || return 0
	local user pat f i=0
	user=$(<"$BATS_TEST_TMPDIR/subid.user")
	pat=$(_subid_pattern "$user")
	(
		flock 9
		for f in "${SUBID_FILES[@]}"; do
			{
				grep -Ev -- "$pat" "$f" || true
				cat "$BATS_TEST_TMPDIR/subid.$i"
			} >"$f.litho-test.$$"
			cat "$f.litho-test.$$" >"$f"
			rm -f "$f.litho-test.$$"
			i=$((i + 1))
		done
	) 9>"$SUBID_LOCK"
	rm -f "$BATS_TEST_TMPDIR/subid.user"
}

subid_has() {
	local pat f
	pat=$(_subid_pattern "$1")
	for f in "${SUBID_FILES[@]}"; do
		grep -Eq -- "${pat}[0-9]+:[1-9]" "$f" 2>/dev/null || return 1
	done
}

subid_range() {
	local pat
	pat=$(_subid_pattern "$1")
	grep -E -- "${pat}[0-9]+:[1-9]" /etc/subuid 2>/dev/null | head -1 | awk -F: '{ print $2, $3 }'
}
