#!/usr/bin/env bats
# Reproducible output and the SquashFS options of `litho build`: SOURCE_DATE_EPOCH, -j,
# --compression, --compression-level, --block-size. Built from the umoci fixture (busybox makes
# a multi-block file).

load helpers
load ../lib/build_common

setup_file() {
	fixtures_setup_file umoci
}

setup() {
	common_setup
	use_fixture umoci
	SRC="oci:$FIX/layout:latest"
}

# sb_field SQFS FIELD: a line of `unsquashfs -s` that starts with FIELD (leading blanks removed).
sb_field() {
	unsquashfs -s "$1" | sed -n "s/^[[:space:]]*$2/&/p" | sed 's/^[[:space:]]*//'
}

@test "two builds with SOURCE_DATE_EPOCH give identical bytes and an all-zero image ID" {
	require_cmd siftool
	SOURCE_DATE_EPOCH=$SDE litho_build a.sif "$SRC"
	sleep 1.1 # a different wall clock for the second build
	SOURCE_DATE_EPOCH=$SDE litho_build b.sif "$SRC"
	cmp a.sif b.sif
	# the SIF header's ID (16 bytes at offset 48) is zero and its times are Go's zero time;
	# siftool then prints neither an ID nor a creation time
	[[ $(od -An -tx1 -j48 -N16 a.sif | tr -d ' \n') == "$(printf '0%.0s' {1..32})" ]]
	run -0 siftool header a.sif
	[[ $output != *"ID:"* ]]
	[[ $output != *"Created At:"* ]]
	# without SOURCE_DATE_EPOCH the ID is random
	litho_build c.sif "$SRC"
	run -0 siftool header c.sif
	[[ $output =~ ID:\ +[0-9a-f]{8}-[0-9a-f]{4}- ]]
}

@test "SOURCE_DATE_EPOCH dates the added files and the SquashFS, the image's files keep theirs" {
	require_root
	require_cmd siftool unsquashfs
	SOURCE_DATE_EPOCH=$SDE TZ=UTC litho_build a.sif "$SRC"
	extract_sif a.sif x
	tree_dump x dump
	assert_entry dump /.singularity.d/runscript "mtime=$SDE"
	assert_entry dump /.singularity.d "mtime=$SDE"
	assert_entry dump /singularity "mtime=$SDE"
	assert_entry dump /etc/hosts "mtime=$SDE"
	assert_entry dump /data/new.txt mtime=1600000000
	assert_entry dump /usr/pw mtime=1500000000
	run -0 "$PYTHON" "$LIB_DIR/sqfsinfo.py" x.sqfs
	[[ $output == *$'\n'"mkfs_time=$SDE"$'\n'* ]]
	grep -q '"org.label-schema.build-date": "Tuesday_14_November_2023_22:13:20_UTC"' x/.singularity.d/labels.json
}

@test "-j 1 and -j 4 give identical bytes" {
	export SOURCE_DATE_EPOCH=$SDE
	litho_build -j 1 a.sif "$SRC"
	litho_build -j 4 b.sif "$SRC"
	cmp a.sif b.sif
	litho_build -j 1 --compression xz c.sif "$SRC"
	litho_build -j 4 --compression xz d.sif "$SRC"
	cmp c.sif d.sif
}

# compressor_case NAME SHOWN: builds with --compression NAME, checks `unsquashfs -s` says SHOWN
# and that the extracted tree equals the default (zstd) build's.
compressor_case() {
	require_root
	require_cmd siftool unsquashfs
	export SOURCE_DATE_EPOCH=$SDE
	litho_build ref.sif "$SRC"
	litho_build --compression "$1" c.sif "$SRC"
	extract_sif ref.sif ref
	extract_sif c.sif c
	[[ $(sb_field c.sqfs Compression) == "Compression $2" ]]
	tree_compare ref c
}

@test "--compression zstd (the default) extracts with identical content" {
	compressor_case zstd zstd
	[[ $(sb_field ref.sqfs Compression) == "Compression zstd" ]]
}

@test "--compression gzip extracts with identical content" {
	compressor_case gzip gzip
}

@test "--compression xz extracts with identical content" {
	compressor_case xz xz
}

@test "--compression lz4 extracts with identical content" {
	compressor_case lz4 lz4
}

@test "--compression lzo extracts with identical content" {
	compressor_case lzo lzo
}

@test "--block-size 65536 and --compression-level are honoured" {
	require_cmd siftool unsquashfs
	litho_build --block-size 65536 --compression gzip --compression-level 1 a.sif "$SRC"
	dump_part a.sif a.sqfs
	[[ $(sb_field a.sqfs "Block size") == "Block size 65536" ]]
	[[ $(sb_field a.sqfs Compression) == "Compression gzip" ]]
	[[ $(sb_field a.sqfs compression-level) == "compression-level 1" ]]
	litho_build --block-size 64K --compression zstd --compression-level 19 b.sif "$SRC"
	dump_part b.sif b.sqfs
	[[ $(sb_field b.sqfs "Block size") == "Block size 65536" ]]
	[[ $(sb_field b.sqfs compression-level) == "compression-level 19" ]]
	litho_build --block-size 1M c.sif "$SRC"
	dump_part c.sif c.sqfs
	[[ $(sb_field c.sqfs "Block size") == "Block size 1048576" ]]
	[[ $(sb_field c.sqfs compression-level) == "compression-level 3" ]]
	# the defaults: 131072, zstd level 3; gzip level 9
	litho_build d.sif "$SRC"
	dump_part d.sif d.sqfs
	[[ $(sb_field d.sqfs "Block size") == "Block size 131072" ]]
	litho_build --compression gzip e.sif "$SRC"
	dump_part e.sif e.sqfs
	# level 9 is gzip's default: no compressor options are stored (as with mksquashfs)
	[[ -z $(sb_field e.sqfs compression-level) ]]
	# busybox spans 16 blocks of 128 KiB, 31 of 64 KiB: the data really is cut differently
	unsquashfs -lls a.sqfs >/dev/null
	[[ $(stat -c %s a.sqfs) -ne $(stat -c %s e.sqfs) ]]
}

@test "block sizes that SquashFS cannot use are refused" {
	local bs
	for bs in 100000 2048 2M 3K abc; do
		run "$LITHO" build --block-size "$bs" o.sif "$SRC"
		[[ $status -ne 0 ]]
		[[ $output == *"--block-size"* ]]
		[[ ! -e o.sif ]]
	done
	run "$LITHO" build --compression nope o.sif "$SRC"
	[[ $status -ne 0 ]]
	[[ $output == *nope* ]]
	assert_clean_dir .
}
