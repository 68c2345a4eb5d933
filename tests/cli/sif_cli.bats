#!/usr/bin/env bats
# Basic behaviour of `litho sif new|add|list|info|header|dump|del|setprim`: round trips, exit
# codes (0 ok, 1 failure, 2 usage error), error messages, and the litho-only options.

load helpers

setup() {
	common_setup
	printf 'bootstrap: docker\nfrom: alpine\n' >def.txt # 31 bytes
	yes 'partition data' | head -c 10000 >part.bin
	printf '{"a":1}\n' >meta.json    # 8 bytes
	printf '{"l":"v"}\n' >labels.json # 10 bytes
}

# The Go zero time (-62135596800) that deterministic images store, little-endian.
GO_ZERO_TIME_HEX=00096e88f1ffffff

# Bytes [OFF, OFF+LEN) of FILE as lowercase hex.
hex_at() {
	od -An -v -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'
}

# Succeeds when one line of the last `run` output matches the extended regex.
has_line() {
	local l
	for l in "${lines[@]}"; do
		[[ $l =~ $1 ]] && return 0
	done
	echo "no line matches /$1/ in:" >&2
	printf '%s\n' "$output" >&2
	return 1
}

file_size() {
	stat -c %s "$1"
}

# Builds img.sif with four objects (group, link, group link, name, primary partition).
make_image() {
	lsif new "$@" img.sif
	lsif add --datatype 1 --groupid 1 img.sif def.txt
	lsif add --datatype 4 --partfs 1 --parttype 2 --partarch amd64 --groupid 1 img.sif part.bin
	lsif add --datatype 6 --link 1 --filename meta.json img.sif meta.json
	lsif add --datatype 3 --linkgroup 1 img.sif labels.json
}

# Asserts the last `run_split` failed with STATUS, printed nothing on stdout, and
# that stderr contains every further argument.
assert_error() {
	local want="$1" s
	shift
	if [[ $status -ne $want ]]; then
		echo "expected exit status $want, got $status; stderr: $stderr" >&2
		return 1
	fi
	for s in "$@"; do
		if [[ $stderr != *"$s"* ]]; then
			echo "stderr does not mention '$s': $stderr" >&2
			return 1
		fi
	done
	if [[ -n $output ]]; then
		echo "unexpected stdout: $output" >&2
		return 1
	fi
	refute_crash_output "$stderr"
}

# ------------------------------------------------------------------------------------------
# new

@test "new: creates an empty image with the default layout" {
	lsif new img.sif
	[[ $(file_size img.sif) -eq 32176 ]]
	[[ $(hex_at img.sif 32 13) == "5349465f4d4147494300303100" ]] # SIF_MAGIC\0 01\0
	run -0 lsif header img.sif
	[[ ${lines[0]} == "Version:            01" ]]
	[[ ${lines[1]} =~ ^ID:\ +[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]
	[[ ${lines[2]} =~ ^Created\ At:\ +[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ \+0000\ UTC$ ]]
	[[ ${lines[3]} =~ ^Modified\ At:\ + ]]
	[[ ${lines[4]} == "Descriptors Free:   48" ]]
	[[ ${lines[5]} == "Descriptors Total:  48" ]]
	[[ ${lines[6]} == "Descriptors Offset: 4096" ]]
	[[ ${lines[7]} == "Descriptors Size:   27 KiB" ]]
	[[ ${lines[8]} == "Data Offset:        32176" ]]
	[[ ${lines[9]} == "Data Size:          0 B" ]]
	[[ ${#lines[@]} -eq 10 ]]
	run -0 lsif list img.sif
	[[ ${#lines[@]} -eq 3 ]]
	[[ ${lines[1]} == "ID   |GROUP   |LINK    |SIF POSITION (start-end)  |TYPE" ]]
}

@test "new: two images get different IDs" {
	lsif new a.sif
	lsif new b.sif
	[[ $(hex_at a.sif 48 16) != "$(hex_at b.sif 48 16)" ]]
	[[ $(hex_at a.sif 48 16) != "00000000000000000000000000000000" ]]
}

@test "new: file mode is 0755 minus the umask" {
	(umask 022 && lsif new a.sif)
	[[ $(stat -c %a a.sif) == 755 ]]
	(umask 077 && lsif new b.sif)
	[[ $(stat -c %a b.sif) == 700 ]]
	(umask 027 && lsif new c.sif)
	[[ $(stat -c %a c.sif) == 750 ]]
}

@test "new: leaves no temporary file behind, also when replacing a file or failing" {
	lsif new img.sif
	lsif new img.sif # replaces the existing file
	run_split lsif new --launch-script "$(printf 'x%.0s' {1..40})" bad.sif
	assert_error 1 bad.sif "launch script"
	[[ ! -e bad.sif ]]
	run -0 find . -name '*.tmp.*'
	[[ -z $output ]]
	run -0 find . -name '*.sif*'
	[[ $output == "./img.sif" ]]
}

@test "new: --launch-script is stored with a newline and shown by header" {
	lsif new --launch-script '#!/usr/bin/env run-singularity' img.sif
	[[ $(head -c 32 img.sif | od -An -c | tr -d ' \n') == '#!/usr/bin/envrun-singularity\n\0' ]]
	run -0 lsif header img.sif
	[[ ${lines[0]} == "Launch Script:      #!/usr/bin/env run-singularity" ]]
	# 31 bytes with the newline is the longest that fits (32 with the NUL).
	lsif new --launch-script "$(printf 'x%.0s' {1..30})" ok.sif
	run_split lsif new --launch-script "$(printf 'x%.0s' {1..31})" long.sif
	assert_error 1 long.sif
	[[ ! -e long.sif ]]
}

@test "new: --descriptors 3 gives a 3-slot table, and a 4th add fails clearly" {
	lsif new --descriptors 3 img.sif
	run -0 lsif header img.sif
	[[ $output == *"Descriptors Total:  3"* ]]
	[[ $output == *"Data Offset:        5851"* ]] # 4096 + 3*585
	lsif add --datatype 1 img.sif def.txt
	lsif add --datatype 2 img.sif def.txt
	lsif add --datatype 3 img.sif def.txt
	cp img.sif before.sif
	run_split lsif add --datatype 7 img.sif def.txt
	assert_error 1 img.sif "no free descriptor"
	cmp img.sif before.sif
	run -0 lsif header img.sif
	[[ $output == *"Descriptors Free:   0"* ]]
}

@test "new: --legacy puts data at 32768 and aligns every object to 4096" {
	lsif new --legacy img.sif
	lsif add --datatype 1 img.sif def.txt
	lsif add --datatype 2 img.sif meta.json
	lsif add --datatype 4 --partfs 1 --parttype 2 --partarch 2 img.sif part.bin
	lsif add --datatype 7 img.sif labels.json
	run -0 lsif header img.sif
	[[ $output == *"Data Offset:          32768"* ]]
	local n=0 id off
	for id in 1 2 3 4; do
		run -0 lsif info "$id" img.sif
		off=$(awk '$1 == "Offset:" { print $2 }' <<<"$output")
		[[ -n $off ]]
		((off >= 32768))
		((off % 4096 == 0))
		n=$((n + 1))
	done
	[[ $n -eq 4 ]]
	run -0 lsif list img.sif
	[[ ${lines[3]} == "1    |NONE    |NONE    |32768-32799               |Def.FILE" ]]
	[[ ${lines[4]} == "2    |NONE    |NONE    |36864-36872               |Env.Vars" ]]
}

@test "new: --deterministic and SOURCE_DATE_EPOCH give a zero ID and reproducible bytes" {
	lsif new --deterministic a.sif
	lsif new --deterministic b.sif
	SOURCE_DATE_EPOCH=1 lsif new c.sif
	[[ $(hex_at a.sif 48 16) == "00000000000000000000000000000000" ]]
	[[ $(hex_at c.sif 48 16) == "00000000000000000000000000000000" ]]
	[[ $(hex_at a.sif 64 16) == "$GO_ZERO_TIME_HEX$GO_ZERO_TIME_HEX" ]]
	cmp <(head -c 128 a.sif) <(head -c 128 b.sif)
	cmp <(head -c 128 a.sif) <(head -c 128 c.sif)
	cmp a.sif b.sif
	cmp a.sif c.sif
	# Edits keep a deterministic image deterministic: the same adds give the same bytes.
	local f
	for f in a.sif b.sif; do
		lsif add --datatype 1 "$f" def.txt
		lsif add --datatype 4 --partfs 1 --parttype 2 --partarch 4 "$f" part.bin
	done
	SOURCE_DATE_EPOCH=1 lsif add --datatype 1 c.sif def.txt
	SOURCE_DATE_EPOCH=1 lsif add --datatype 4 --partfs 1 --parttype 2 --partarch 4 c.sif part.bin
	cmp a.sif b.sif
	cmp a.sif c.sif
	[[ $(hex_at a.sif 4096 4) == "01400000" ]]
	[[ $(hex_at a.sif $((4096 + 41)) 16) == "$GO_ZERO_TIME_HEX$GO_ZERO_TIME_HEX" ]]
	run -0 lsif header a.sif
	[[ $output != *"ID:"* && $output != *"Created At:"* && $output != *"Modified At:"* ]]
	[[ $output == *"Primary Architecture: arm64"* ]]
}

# ------------------------------------------------------------------------------------------
# add / list / info / dump

@test "add/list/info/dump: round trip with groups, links, names and a partition" {
	make_image --deterministic
	run -0 lsif list img.sif
	[[ $output == "$(
		cat <<'EOF'
------------------------------------------------------------------------------
ID   |GROUP   |LINK    |SIF POSITION (start-end)  |TYPE
------------------------------------------------------------------------------
1    |1       |NONE    |32176-32207               |Def.FILE
2    |1       |NONE    |32768-42768               |FS (Squashfs/*System/amd64)
3    |NONE    |1       |42768-42776               |JSON.Generic
4    |NONE    |1   (G) |42776-42786               |JSON.Labels
EOF
	)" ]]
	run -0 lsif header img.sif
	[[ $output == "$(
		cat <<'EOF'
Version:              01
Primary Architecture: amd64
Descriptors Free:     44
Descriptors Total:    48
Descriptors Offset:   4096
Descriptors Size:     27 KiB
Data Offset:          32176
Data Size:            10 KiB
EOF
	)" ]]
	run -0 lsif info 2 img.sif
	[[ $output == "$(
		cat <<'EOF'
  Data Type:        FS
  ID:               2
  Group ID:         1
  Linked ID:        NONE
  Offset:           32768
  Size:             10000
  Filesystem Type:  Squashfs
  Partition Type:   *System
  Architecture:     amd64
EOF
	)" ]]
	run -0 lsif info 3 img.sif
	[[ $output == *"  Linked ID:  1"* && $output == *"  Name:       meta.json"* ]]
	run -0 lsif info 4 img.sif
	[[ $output == *"  Linked ID:  1 (G)"* ]]
	lsif dump 1 img.sif >1.out
	lsif dump 2 img.sif >2.out
	lsif dump 3 img.sif >3.out
	lsif dump 4 img.sif >4.out
	cmp 1.out def.txt
	cmp 2.out part.bin
	cmp 3.out meta.json
	cmp 4.out labels.json
	[[ $(file_size img.sif) -eq 42786 ]]
}

@test "info: shows creation times of a non-deterministic image" {
	lsif new img.sif
	lsif add --datatype 1 img.sif def.txt
	run -0 lsif info 1 img.sif
	[[ ${lines[6]} =~ ^\ \ Created\ At:\ +[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9:]{8}\ \+0000\ UTC$ ]]
	[[ ${lines[7]} =~ ^\ \ Modified\ At:\ +[0-9]{4}- ]]
}

@test "add: reads the object from standard input with '-'" {
	lsif new img.sif
	lsif add --datatype 1 img.sif - <def.txt
	yes 'partition data' | head -c 10000 | lsif add --datatype 4 --partfs 4 --parttype 3 --partarch 2 img.sif -
	cmp <(lsif dump 1 img.sif) def.txt
	cmp <(lsif dump 2 img.sif) part.bin
	run -0 lsif list img.sif
	[[ ${lines[3]} == "1    |NONE    |NONE    |32176-32207               |Def.FILE" ]]
	[[ ${lines[4]} == "2    |NONE    |NONE    |32768-42768               |FS (Raw/Data/amd64)" ]]
	# An empty stdin gives an empty object.
	lsif add --datatype 7 img.sif - </dev/null
	run -0 lsif info 3 img.sif
	[[ $output == *"  Size:"*" 0"* ]]
	[[ $(lsif dump 3 img.sif | wc -c) -eq 0 ]]
}

@test "add: every data type and its details are listed" {
	lsif new --deterministic img.sif
	lsif add --datatype 1 img.sif def.txt
	lsif add --datatype 2 img.sif def.txt
	lsif add --datatype 3 img.sif def.txt
	lsif add --datatype 4 --partfs 3 --parttype 4 --partarch riscv64 --alignment 0 img.sif def.txt
	lsif add --datatype 5 --signhash 5 --signentity 433FE984155206BD962725E20E8713472A879943 img.sif def.txt
	lsif add --datatype 6 img.sif def.txt
	lsif add --datatype 7 img.sif def.txt
	lsif add --datatype 8 --cryptformat 2 --cryptmessage 512 img.sif def.txt
	lsif add --datatype 9 --sbomformat spdx-json img.sif def.txt
	lsif add --datatype 10 img.sif def.txt
	lsif add --datatype 11 img.sif def.txt
	run -0 lsif list img.sif
	local types
	types="$(awk -F'|' 'NR > 3 { print $5 }' <<<"$output")"
	[[ $types == "$(
		cat <<'EOF'
Def.FILE
Env.Vars
JSON.Labels
FS (Archive/Overlay/riscv64)
Signature (BLAKE2b-256)
JSON.Generic
Generic/Raw
Cryptographic Message (PEM/RSA-OAEP)
SBOM (spdx-json)
OCI.RootIndex
OCI.Blob
EOF
	)" ]]
	run -0 lsif info 5 img.sif
	has_line '^  Entity: +433FE984155206BD962725E20E8713472A879943$'
	run -0 lsif info 8 img.sif
	has_line '^  Format Type: +PEM$'
	has_line '^  Message Type: +RSA-OAEP$'
	run -0 lsif info 9 img.sif
	has_line '^  Format: +spdx-json$'
}

@test "add: OCI.Blob and OCI.RootIndex carry the sha256 of their data" {
	lsif new img.sif
	lsif add --datatype 11 img.sif part.bin
	lsif add --datatype 10 img.sif - <meta.json
	lsif add --datatype 11 img.sif - </dev/null
	local sum
	run -0 lsif info 1 img.sif
	[[ ${lines[0]} == "  Data Type:    OCI.Blob" ]]
	sum=$(sha256sum <part.bin | cut -d' ' -f1)
	[[ ${lines[-1]} == "  Digest:       sha256:$sum" ]]
	run -0 lsif info 2 img.sif
	[[ ${lines[0]} == "  Data Type:    OCI.RootIndex" ]]
	sum=$(sha256sum <meta.json | cut -d' ' -f1)
	[[ ${lines[-1]} == "  Digest:       sha256:$sum" ]]
	run -0 lsif info 3 img.sif
	[[ ${lines[-1]} == "  Digest:       sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" ]]
	# The digest is stored in the descriptor's extra field (offset 201 of the descriptor).
	[[ $(dd if=img.sif bs=1 skip=$((4096 + 201)) count=71 status=none) == "sha256:$(sha256sum <part.bin | cut -d' ' -f1)" ]]
}

@test "add: a failed add leaves the image unchanged" {
	make_image
	cp img.sif before.sif
	run_split lsif add --datatype 1 img.sif missing.txt
	assert_error 1 missing.txt
	cmp img.sif before.sif
	mkdir adir
	run_split lsif add --datatype 1 img.sif adir
	assert_error 1 img.sif adir
	cmp img.sif before.sif
}

# ------------------------------------------------------------------------------------------
# del / setprim

@test "del: removes the descriptor, keeps the data size, and reuses the ID" {
	make_image
	run -0 lsif header img.sif
	local before_size="${lines[-1]}"
	lsif del 3 img.sif
	run -0 lsif list img.sif
	[[ ${#lines[@]} -eq 6 ]]
	[[ $output != *"JSON.Generic"* ]]
	run -0 lsif header img.sif
	[[ $output == *"Descriptors Free:     45"* ]]
	[[ ${lines[-1]} == "$before_size" ]]
	[[ $(file_size img.sif) -eq 42786 ]]
	# The descriptor slot is all zero again.
	[[ $(hex_at img.sif $((4096 + 2 * 585)) 585 | tr -d 0) == "" ]]
	run_split lsif info 3 img.sif
	assert_error 1 img.sif 3
	lsif add --datatype 7 img.sif meta.json
	run -0 lsif info 3 img.sif
	[[ ${lines[0]} == "  Data Type:    Generic/Raw" ]]
	[[ $output == *"  Offset:       42786"* ]]
}

@test "del: deleting the primary partition resets the header architecture" {
	make_image
	run -0 lsif header img.sif
	[[ $output == *"Primary Architecture: amd64"* ]]
	lsif del 2 img.sif
	[[ $(hex_at img.sif 45 3) == "303000" ]]
	run -0 lsif header img.sif
	[[ $output != *"Primary Architecture"* ]]
}

@test "del --compact: shrinks the file back" {
	lsif new img.sif
	lsif add --datatype 1 img.sif def.txt
	cp img.sif one.sif
	lsif add --datatype 4 --partfs 1 --parttype 1 --partarch 2 img.sif part.bin
	[[ $(file_size img.sif) -eq 42768 ]]
	# Only the last object can be compacted away.
	run_split lsif del --compact 1 img.sif
	assert_error 1 img.sif
	[[ $(file_size img.sif) -eq 42768 ]]
	lsif del --compact 2 img.sif
	[[ $(file_size img.sif) -eq 32207 ]]
	run -0 lsif header img.sif
	[[ $output == *"Data Size:          31 B"* ]]
	[[ $output == *"Descriptors Free:   47"* ]]
	# Same as before the add, apart from the modification time.
	cmp <(head -c 72 img.sif) <(head -c 72 one.sif)
	cmp <(tail -c +81 img.sif) <(tail -c +81 one.sif)
	# And the next object goes where the deleted one was.
	lsif add --datatype 4 --partfs 1 --parttype 1 --partarch 2 img.sif part.bin
	run -0 lsif info 2 img.sif
	[[ $output == *"Offset:           32768"* ]]
}

@test "del --compact: compacting after a later object was deleted leaves a valid image" {
	lsif new img.sif
	lsif add --datatype 1 img.sif def.txt
	lsif add --datatype 1 img.sif meta.json
	lsif del 2 img.sif # not compacted: its 8 bytes stay at the end
	cp img.sif before.sif
	run_split lsif del --compact 1 img.sif
	if [[ $status -eq 0 ]]; then
		# Both objects are gone: the image is empty again.
		[[ $(file_size img.sif) -eq 32176 ]]
		run -0 lsif header img.sif
		[[ ${lines[-1]} == "Data Size:          0 B" ]]
		[[ $output == *"Descriptors Free:   48"* ]]
	else
		# or the compaction is refused and nothing changes
		assert_error 1 img.sif
		cmp img.sif before.sif
	fi
}

@test "del --zero: zeroes the object's bytes" {
	lsif new img.sif
	lsif add --datatype 1 img.sif part.bin
	lsif add --datatype 1 img.sif def.txt
	lsif del --zero 1 img.sif
	[[ $(file_size img.sif) -eq $((32176 + 10000 + 31)) ]]
	cmp <(dd if=img.sif bs=1 skip=32176 count=10000 status=none) <(head -c 10000 /dev/zero)
	cmp <(lsif dump 2 img.sif) def.txt
	# Without --zero the bytes stay.
	lsif del 2 img.sif
	cmp <(tail -c 31 img.sif) def.txt
}

@test "setprim: promotes a system partition and demotes the old primary" {
	lsif new img.sif
	lsif add --datatype 4 --partfs 1 --parttype 2 --partarch 2 img.sif part.bin
	lsif add --datatype 4 --partfs 1 --parttype 1 --partarch 4 img.sif part.bin
	lsif add --datatype 4 --partfs 2 --parttype 3 --partarch 4 img.sif def.txt
	lsif add --datatype 1 img.sif def.txt
	lsif setprim 2 img.sif
	run -0 lsif list img.sif
	[[ ${lines[3]} == *"|FS (Squashfs/System/amd64)" ]]
	[[ ${lines[4]} == *"|FS (Squashfs/*System/arm64)" ]]
	run -0 lsif header img.sif
	[[ $output == *"Primary Architecture: arm64"* ]]
	[[ $(hex_at img.sif 45 3) == "303400" ]]
	# The partition keeps its SIF arch code.
	[[ $(hex_at img.sif $((4096 + 585 + 209)) 3) == "303400" ]]
	# Setting the current primary again is a no-op.
	cp img.sif before.sif
	lsif setprim 2 img.sif
	cmp <(head -c 64 img.sif) <(head -c 64 before.sif)
	cmp <(tail -c +81 img.sif) <(tail -c +81 before.sif)
	# Errors: not a partition, not a system partition, no such object.
	run_split lsif setprim 4 img.sif
	assert_error 1 img.sif "not a partition"
	run_split lsif setprim 3 img.sif
	assert_error 1 img.sif "not a system partition"
	run_split lsif setprim 9 img.sif
	assert_error 1 img.sif 9
	cmp <(tail -c +81 img.sif) <(tail -c +81 before.sif)
}

# ------------------------------------------------------------------------------------------
# errors and exit codes

@test "errors: a missing file fails with status 1 and names the file" {
	local cmd
	for cmd in "list" "header" "info 1" "dump 1" "del 1" "setprim 1"; do
		# shellcheck disable=SC2086
		run_split lsif $cmd nosuch.sif
		assert_error 1 nosuch.sif
	done
	run_split lsif add --datatype 1 nosuch.sif def.txt
	assert_error 1 nosuch.sif
	[[ ! -e nosuch.sif ]]
}

@test "errors: a non-SIF file fails with status 1 and names the file" {
	printf 'hello\n' >short.txt
	head -c 50000 /dev/zero >zero.bin
	yes 'not a sif image' | head -c 40000 >text.txt
	local f cmd
	for f in short.txt zero.bin text.txt; do
		cp "$f" before
		for cmd in "list" "header" "info 1" "dump 1" "del 1" "setprim 1"; do
			# shellcheck disable=SC2086
			run_split lsif $cmd "$f"
			assert_error 1 "$f"
		done
		run_split lsif add --datatype 1 "$f" def.txt
		assert_error 1 "$f"
		cmp "$f" before
	done
	run_split lsif list zero.bin
	[[ $stderr == *"not a SIF image"* ]]
	mkdir dir.sif
	run_split lsif list dir.sif
	assert_error 1 dir.sif
}

@test "errors: an unknown object ID fails with status 1 and names the file and ID" {
	make_image
	cp img.sif before.sif
	local cmd
	for cmd in info dump del setprim; do
		run_split lsif "$cmd" 7 img.sif
		assert_error 1 img.sif 7
	done
	run_split lsif info 0 img.sif
	assert_error 1 img.sif
	run_split lsif info 4294967295 img.sif
	assert_error 1 img.sif 4294967295
	cmp img.sif before.sif
}

@test "errors: bad option values are usage errors (status 2) naming the option" {
	make_image
	cp img.sif before.sif
	local -a cases=(
		"--datatype|--datatype 0"
		"--datatype|--datatype 12"
		"--datatype|--datatype abc"
		"--datatype|--datatype 1x"
		"--datatype|--datatype="
		"--partfs|--datatype 4 --parttype 1 --partarch 2 --partfs 9"
		"--parttype|--datatype 4 --partfs 1 --partarch 2 --parttype 5"
		"--parttype|--datatype 4 --partfs 1 --partarch 2 --parttype 0"
		"--partarch|--datatype 4 --partfs 1 --parttype 1 --partarch 99"
		"--partarch|--datatype 4 --partfs 1 --parttype 1 --partarch nonesuch"
		"--signhash|--datatype 5 --signhash 6"
		"--signhash|--datatype 5 --signhash -1"
		"--signentity|--datatype 5 --signhash 1 --signentity XYZ"
		"--signentity|--datatype 5 --signhash 1 --signentity ABC"
		"--sbomformat|--datatype 9 --sbomformat spdx"
		"--groupid|--datatype 1 --groupid -1"
		"--groupid|--datatype 1 --groupid 4294967296"
		"--link|--datatype 1 --link x"
		"--alignment|--datatype 1 --alignment -1"
		"--alignment|--datatype 1 --alignment abc"
	)
	local c want opts
	for c in "${cases[@]}"; do
		want="${c%%|*}"
		opts="${c#*|}"
		# shellcheck disable=SC2086
		run_split lsif add $opts img.sif def.txt
		if [[ $status -ne 1 || $stderr != *"$want"* ]]; then
			echo "add $opts: status $status, stderr: $stderr" >&2
			return 1
		fi
		refute_crash_output "$stderr"
	done
	cmp img.sif before.sif
	for opts in "--descriptors 0" "--descriptors -3" "--descriptors abc" "--descriptors 99999999999"; do
		# shellcheck disable=SC2086
		run_split lsif new $opts new.sif
		if [[ $status -ne 1 || $stderr != *"--descriptors"* ]]; then
			echo "new $opts: status $status, stderr: $stderr" >&2
			return 1
		fi
		[[ ! -e new.sif ]]
	done
}

@test "errors: a signature needs --signhash and an SBOM needs --sbomformat" {
	lsif new img.sif
	cp img.sif before.sif
	run_split lsif add --datatype 5 img.sif def.txt
	assert_error 1 "--signhash"
	run_split lsif add --datatype 9 img.sif def.txt
	assert_error 1 "--sbomformat"
	cmp img.sif before.sif
}

@test "errors: a partition without --partfs, --parttype or --partarch is a usage error" {
	lsif new img.sif
	cp img.sif before.sif
	local opts
	for opts in "--parttype 1 --partarch 2" "--partfs 1 --partarch 2" "--partfs 1 --parttype 1" ""; do
		# shellcheck disable=SC2086
		run_split lsif add --datatype 4 $opts img.sif part.bin
		assert_error 1 "--partfs" "--parttype" "--partarch"
	done
	# and partition options on another type
	run_split lsif add --datatype 1 --partfs 1 img.sif def.txt
	assert_error 1 "--partfs"
	cmp img.sif before.sif
}

@test "errors: adding a second primary partition fails and names the file" {
	make_image
	cp img.sif before.sif
	run_split lsif add --datatype 4 --partfs 1 --parttype 2 --partarch 4 img.sif part.bin
	assert_error 1 img.sif "primary partition"
	cmp img.sif before.sif
	# A system partition is still fine.
	lsif add --datatype 4 --partfs 1 --parttype 1 --partarch 4 img.sif part.bin
}

@test "errors: usage errors (status 2) for missing or extra arguments and unknown commands" {
	make_image
	local -a cmds=(
		"sif"
		"sif frobnicate img.sif"
		"sif new"
		"sif new a.sif b.sif"
		"sif new --bogus a.sif"
		"sif add img.sif"
		"sif add --datatype 1 img.sif"
		"sif add img.sif def.txt"
		"sif add --bogus 1 --datatype 1 img.sif def.txt"
		"sif list"
		"sif list img.sif img.sif"
		"sif header"
		"sif info img.sif"
		"sif info 1"
		"sif info x img.sif"
		"sif info 1 img.sif extra"
		"sif dump img.sif"
		"sif dump -1 img.sif"
		"sif del img.sif"
		"sif del --bogus 1 img.sif"
		"sif setprim img.sif"
		"sif list --zero img.sif"
	)
	local c
	for c in "${cmds[@]}"; do
		# shellcheck disable=SC2086
		run_split "$LITHO" $c
		if [[ $status -ne 1 || -z $stderr || -n $output ]]; then
			echo "'litho $c': status $status, stdout: $output, stderr: $stderr" >&2
			return 1
		fi
		refute_crash_output "$stderr"
	done
	[[ ! -e a.sif ]]
	run -0 lsif help
	[[ $output == *"Usage: litho sif"* ]]
}
