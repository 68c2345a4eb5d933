#!/usr/bin/env bats
# Cross-checks `litho sif` against the reference siftool (Debian siftool 2.8.3) in both
# directions:
#   (a) files written by litho: `siftool` and `litho sif` list/info/header/dump give
#       byte-identical stdout;
#   (b) files written by siftool: the same comparison;
#   (c) the same `new` + `add`/`del`/`setprim` sequence run with both tools gives files that are
#       byte-identical once the image ID (header 0x30-0x3F) and the timestamps (header 0x40-0x4F,
#       bytes 41-56 of each used 585-byte descriptor) are masked.
#
# Known, intended differences, kept out of the comparisons on purpose (nothing else is masked):
#   - OCI.RootIndex (0x400A) and OCI.Blob (0x400B): siftool 2.8.3 prints both as "Unknown",
#     litho prints their names and a "Digest:" line. No OCI objects are used here; see
#     sif_interop.bats and sif_cli.bats for them.
#   - setprim: siftool 2.8.3 writes the first three bytes of the Go architecture name ("arm" for
#     arm64, "s39" for s390x) into the promoted partition's arch field instead of the SIF code; a
#     siftool bug. litho writes the SIF code ("04"). The setprim case therefore compares each
#     tool's own output read by both tools in (a)/(b) (where siftool's file reads back as arch
#     "unknown" in both tools), and masks the arch field (descriptor bytes 209-211) of the
#     promoted partitions only in the byte-level comparison (c).

load helpers

# The object files the sequences add, written to the current folder.
make_inputs() {
	printf 'bootstrap: docker\nfrom: alpine\n' >def.txt
	printf 'export A=1\n' >env.sh
	printf '{"org.label":"v"}\n' >labels.json
	printf '{"generic":true}\n' >generic.json
	yes 'partition data' | head -c 1500 >part.bin
	yes 'signature' | head -c 300 >sig.bin
	yes 'blob' | head -c 77 >raw.bin
}

SEQUENCES="types partitions empty_last signatures sboms options del setprim"

# Builds every sequence once with each tool, as $BATS_FILE_TMPDIR/SEQ-siftool.sif and
# SEQ-litho.sif; any failing command fails setup_file (errexit). Without siftool it builds
# nothing and setup() skips the tests (bats 1.8 cannot skip from setup_file).
setup_file() {
	command -v siftool >/dev/null 2>&1 || return 0
	cd "$BATS_FILE_TMPDIR" || return 1
	make_inputs
	local seq tool
	for seq in $SEQUENCES; do
		for tool in siftool litho; do
			"seq_$seq" "$tool" "$seq-$tool.sif"
		done
	done
}

setup() {
	require_cmd siftool "$PYTHON"
	common_setup
}

# Runs a SIF command with TOOL (siftool or litho).
sifcmd() {
	local tool="$1"
	shift
	if [[ $tool == siftool ]]; then
		siftool "$@"
	else
		"$LITHO" sif "$@"
	fi
}

# ------------------------------------------------------------------------------------------
# The sequences: seq_NAME TOOL FILE builds FILE with TOOL. Together they use every data type
# 1-9 and every `siftool add` option and value range.

seq_types() {
	local t="$1" f="$2"
	sifcmd "$t" new "$f"
	sifcmd "$t" add --datatype 1 "$f" def.txt
	sifcmd "$t" add --datatype 2 "$f" env.sh
	sifcmd "$t" add --datatype 3 "$f" labels.json
	sifcmd "$t" add --datatype 4 --partfs 1 --parttype 2 --partarch 2 "$f" part.bin
	sifcmd "$t" add --datatype 5 --signhash 1 --signentity 433FE984155206BD962725E20E8713472A879943 "$f" sig.bin
	sifcmd "$t" add --datatype 6 "$f" generic.json
	sifcmd "$t" add --datatype 7 "$f" raw.bin
	sifcmd "$t" add --datatype 8 "$f" sig.bin
	sifcmd "$t" add --datatype 9 --sbomformat cyclonedx-json "$f" generic.json
}

# --partarch 1-12, --partfs 1-4, --parttype 1-4 (one PrimSys).
seq_partitions() {
	local t="$1" f="$2" a
	local -a fs=(1 2 3 4 4 3 2 1 1 2 3 4)
	local -a pt=(1 2 3 4 1 3 4 1 3 4 1 3)
	sifcmd "$t" new "$f"
	for a in {1..12}; do
		sifcmd "$t" add --datatype 4 --partfs "${fs[a - 1]}" --parttype "${pt[a - 1]}" --partarch "$a" "$f" part.bin
	done
}

# A zero-length partition as the last object: its 4096-alignment padding makes the data
# section (DataOffset + DataSize) end past the end of the file siftool writes.
seq_empty_last() {
	local t="$1" f="$2"
	sifcmd "$t" new "$f"
	sifcmd "$t" add --datatype 1 "$f" def.txt
	sifcmd "$t" add --datatype 4 --partfs 4 --parttype 3 --partarch 2 "$f" /dev/null
}

# --signhash 1-5, --signentity (upper and lower case hex), with links and groups.
seq_signatures() {
	local t="$1" f="$2"
	sifcmd "$t" new "$f"
	sifcmd "$t" add --datatype 4 --partfs 1 --parttype 2 --partarch 2 --groupid 1 "$f" part.bin
	sifcmd "$t" add --datatype 5 --signhash 1 --signentity 433FE984155206BD962725E20E8713472A879943 --link 1 "$f" sig.bin
	sifcmd "$t" add --datatype 5 --signhash 2 --signentity 0123456789abcdef0123456789abcdef01234567 --link 1 "$f" sig.bin
	sifcmd "$t" add --datatype 5 --signhash 3 --signentity FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF --groupid 2 "$f" sig.bin
	sifcmd "$t" add --datatype 5 --signhash 4 --signentity 0000000000000000000000000000000000000001 "$f" sig.bin
	sifcmd "$t" add --datatype 5 --signhash 5 --signentity 8000000000000000000000000000000000000000 --link 4026531841 "$f" sig.bin
}

# --sbomformat: all 8 names.
seq_sboms() {
	local t="$1" f="$2" s
	sifcmd "$t" new "$f"
	for s in cyclonedx-json cyclonedx-xml github-json spdx-json spdx-rdf spdx-tag-value spdx-yaml syft-json; do
		sifcmd "$t" add --datatype 9 --sbomformat "$s" "$f" generic.json
	done
}

# --groupid, --link (object and raw group link), --alignment (incl. 0, 1 and non-powers of
# two), --filename (incl. spaces and the 128-byte maximum).
seq_options() {
	local t="$1" f="$2" long
	long="$(printf 'n%.0s' {1..128})"
	sifcmd "$t" new "$f"
	sifcmd "$t" add --datatype 1 --groupid 1 --filename Singularity "$f" def.txt
	sifcmd "$t" add --datatype 7 --alignment 100 --groupid 2 --link 1 "$f" raw.bin
	sifcmd "$t" add --datatype 7 --alignment 0 --filename "with space.bin" "$f" raw.bin
	sifcmd "$t" add --datatype 7 --alignment 1 --groupid 268435455 "$f" raw.bin
	sifcmd "$t" add --datatype 7 --alignment 3 --groupid 4294967295 "$f" raw.bin
	sifcmd "$t" add --datatype 6 --alignment 4096 --link 2 --filename "$long" "$f" generic.json
	sifcmd "$t" add --datatype 7 --alignment 65536 --link 268435455 "$f" raw.bin
	sifcmd "$t" add --datatype 4 --partfs 1 --parttype 1 --partarch 2 --alignment 100 "$f" part.bin
	sifcmd "$t" add --datatype 4 --partfs 2 --parttype 4 --partarch 4 --alignment 0 --groupid 3 "$f" part.bin
	sifcmd "$t" add --datatype 4 --partfs 3 --parttype 3 --partarch 11 --alignment 12345 --link 4026531843 "$f" part.bin
	sifcmd "$t" add --datatype 3 --groupid 3 --link 4026531842 --filename labels.json "$f" labels.json
	sifcmd "$t" add --datatype 2 --groupid 0 --filename "x" "$f" /dev/null
}

# del: middle object, primary partition, slot reuse, last object.
seq_del() {
	local t="$1" f="$2"
	sifcmd "$t" new "$f"
	sifcmd "$t" add --datatype 1 --groupid 1 "$f" def.txt
	sifcmd "$t" add --datatype 4 --partfs 1 --parttype 2 --partarch 6 --groupid 1 "$f" part.bin
	sifcmd "$t" add --datatype 6 --link 2 "$f" generic.json
	sifcmd "$t" add --datatype 7 "$f" raw.bin
	sifcmd "$t" del 3 "$f"
	sifcmd "$t" del 2 "$f"
	sifcmd "$t" add --datatype 3 --filename labels "$f" labels.json
	sifcmd "$t" add --datatype 4 --partfs 1 --parttype 2 --partarch 12 "$f" part.bin
	sifcmd "$t" del 4 "$f"
	sifcmd "$t" add --datatype 2 "$f" env.sh
}

# setprim: objects 2 and 3 get promoted (see the header comment for the arch field).
seq_setprim() {
	local t="$1" f="$2"
	sifcmd "$t" new "$f"
	sifcmd "$t" add --datatype 4 --partfs 1 --parttype 2 --partarch 2 "$f" part.bin
	sifcmd "$t" add --datatype 4 --partfs 1 --parttype 1 --partarch 4 "$f" part.bin
	sifcmd "$t" add --datatype 4 --partfs 1 --parttype 1 --partarch 11 "$f" part.bin
	sifcmd "$t" add --datatype 4 --partfs 4 --parttype 3 --partarch 2 "$f" part.bin
	sifcmd "$t" add --datatype 1 "$f" def.txt
	sifcmd "$t" setprim 2 "$f"
	sifcmd "$t" setprim 3 "$f"
}
SETPRIM_PROMOTED_IDS="2 3"

# ------------------------------------------------------------------------------------------
# Comparisons

# Runs `CMD ARGS` with siftool and litho and fails with a diff when stdout differs.
compare_cmd() {
	compare_text_output "$@"
}

# header, list, and info + dump of every object of FILE, which must hold COUNT objects.
compare_reads() {
	local f="$1" want="$2" id n=0
	compare_cmd header "$f"
	compare_cmd list "$f"
	# The listings are equal: take the IDs from them.
	siftool_listed_ids
	for id in "${SIFTOOL_IDS[@]}"; do
		[[ $id =~ ^[0-9]+$ ]]
		compare_cmd info "$id" "$f"
		compare_dump "$id" "$f" || return 1
		n=$((n + 1))
	done
	if [[ $n -ne $want ]]; then
		echo "$f: expected $want objects, found $n" >&2
		return 1
	fi
}

# Writes a copy of SIF to OUT with the image ID (header 0x30-0x3F), the header times
# (0x40-0x4F) and the times of every used descriptor (bytes 41-56) zeroed; with further
# arguments (object IDs), also zeroes those descriptors' partition arch field (bytes 209-211).
sif_masked() {
	"$PYTHON" - "$@" <<'EOF'
import struct, sys

src, dst, arch_ids = sys.argv[1], sys.argv[2], [int(a) for a in sys.argv[3:]]
b = bytearray(open(src, "rb").read())
b[0x30:0x50] = bytes(0x20)
total, offset = struct.unpack_from("<qq", b, 0x58)
for i in range(total):
    d = offset + i * 585
    if b[d + 4]:
        b[d + 41:d + 57] = bytes(16)
    if i + 1 in arch_ids:
        b[d + 209:d + 212] = bytes(3)
open(dst, "wb").write(b)
EOF
}

# (c): compares the masked files of SEQ built by both tools; further arguments are object IDs
# whose arch field is masked too.
compare_bytes() {
	local seq="$1" s l
	shift
	s="$BATS_FILE_TMPDIR/$seq-siftool.sif"
	l="$BATS_FILE_TMPDIR/$seq-litho.sif"
	[[ $(stat -c %s "$s") -eq $(stat -c %s "$l") ]] || {
		echo "sizes differ: siftool $(stat -c %s "$s"), litho $(stat -c %s "$l")" >&2
		return 1
	}
	sif_masked "$s" s.masked "$@"
	sif_masked "$l" l.masked "$@"
	if ! cmp s.masked l.masked; then
		cmp -l s.masked l.masked | head -20 >&2
		return 1
	fi
}

# ------------------------------------------------------------------------------------------

@test "mask helper: only masks the ID, the timestamps and the named arch fields" {
	cp "$BATS_FILE_TMPDIR/types-litho.sif" a.sif
	sif_masked a.sif a.masked
	cmp -l a.sif a.masked >diffs || true
	# 0-based offsets of the differing bytes, all inside the masked ranges.
	local off _x _y n=0
	while read -r off _x _y; do
		off=$((off - 1))
		if ((off >= 0x30 && off < 0x50)); then
			:
		elif ((off >= 4096 && (off - 4096) % 585 >= 41 && (off - 4096) % 585 < 57)); then
			:
		else
			echo "unexpected masked byte at $off" >&2
			return 1
		fi
		n=$((n + 1))
	done <diffs
	((n > 16))
	# A difference elsewhere is not hidden.
	cp a.sif b.sif
	printf 'X' | dd of=b.sif bs=1 seek=$((4096 + 73)) conv=notrunc status=none
	sif_masked b.sif b.masked
	run ! cmp -s a.masked b.masked
	# The arch mask only touches bytes 209-211 of the named descriptor.
	sif_masked a.sif c.masked 4
	[[ $(cmp -l a.masked c.masked | awk '{ print $1 - 1 }' | tr '\n' ' ') == "$((4096 + 3 * 585 + 209)) $((4096 + 3 * 585 + 210)) " ]]
}

@test "(a) litho-written: every data type 1-9 reads the same with siftool" {
	compare_reads "$BATS_FILE_TMPDIR/types-litho.sif" 9
}

@test "(b) siftool-written: every data type 1-9 reads the same with litho" {
	compare_reads "$BATS_FILE_TMPDIR/types-siftool.sif" 9
}

@test "(c) every data type 1-9: same bytes from siftool and litho" {
	compare_bytes types
}

@test "(a) litho-written: partitions (partfs 1-4, parttype 1-4, partarch 1-12)" {
	compare_reads "$BATS_FILE_TMPDIR/partitions-litho.sif" 12
}

@test "(b) siftool-written: partitions (partfs 1-4, parttype 1-4, partarch 1-12)" {
	compare_reads "$BATS_FILE_TMPDIR/partitions-siftool.sif" 12
}

@test "(c) partitions (partfs 1-4, parttype 1-4, partarch 1-12): same bytes" {
	compare_bytes partitions
}

@test "(b) siftool-written: a zero-length partition at the end" {
	compare_reads "$BATS_FILE_TMPDIR/empty_last-siftool.sif" 2
}

@test "(a) litho-written: a zero-length partition at the end" {
	compare_reads "$BATS_FILE_TMPDIR/empty_last-litho.sif" 2
}

@test "(c) a zero-length partition at the end: same bytes" {
	compare_bytes empty_last
}

@test "(a) litho-written: signatures (signhash 1-5, signentity)" {
	compare_reads "$BATS_FILE_TMPDIR/signatures-litho.sif" 6
}

@test "(b) siftool-written: signatures (signhash 1-5, signentity)" {
	compare_reads "$BATS_FILE_TMPDIR/signatures-siftool.sif" 6
}

@test "(c) signatures (signhash 1-5, signentity): same bytes" {
	compare_bytes signatures
}

@test "(a) litho-written: SBOMs (all 8 formats)" {
	compare_reads "$BATS_FILE_TMPDIR/sboms-litho.sif" 8
}

@test "(b) siftool-written: SBOMs (all 8 formats)" {
	compare_reads "$BATS_FILE_TMPDIR/sboms-siftool.sif" 8
}

@test "(c) SBOMs (all 8 formats): same bytes" {
	compare_bytes sboms
}

@test "(a) litho-written: groupid, link, alignment, filename" {
	compare_reads "$BATS_FILE_TMPDIR/options-litho.sif" 12
}

@test "(b) siftool-written: groupid, link, alignment, filename" {
	compare_reads "$BATS_FILE_TMPDIR/options-siftool.sif" 12
}

@test "(c) groupid, link, alignment, filename: same bytes" {
	compare_bytes options
}

@test "(a) litho-written: del" {
	compare_reads "$BATS_FILE_TMPDIR/del-litho.sif" 4
}

@test "(b) siftool-written: del" {
	compare_reads "$BATS_FILE_TMPDIR/del-siftool.sif" 4
}

@test "(c) del: same bytes" {
	compare_bytes del
}

@test "(a) litho-written: setprim" {
	compare_reads "$BATS_FILE_TMPDIR/setprim-litho.sif" 5
	# litho stores the SIF arch code of the promoted partitions.
	cp "$BATS_FILE_TMPDIR/setprim-litho.sif" img.sif
	run -0 siftool info 3 img.sif
	[[ $output == *"Partition Type:   *System"* && $output == *"Architecture:     s390x"* ]]
	run -0 siftool info 2 img.sif
	[[ $output == *"Partition Type:   System"* && $output == *"Architecture:     arm64"* ]]
	run -0 siftool header img.sif
	[[ $output == *"Primary Architecture: s390x"* ]]
}

@test "(b) siftool-written: setprim" {
	compare_reads "$BATS_FILE_TMPDIR/setprim-siftool.sif" 5
}

@test "(c) setprim: same bytes apart from the arch field siftool writes wrongly" {
	# shellcheck disable=SC2086
	compare_bytes setprim $SETPRIM_PROMOTED_IDS
}

@test "(a)/(b) empty images read the same" {
	sifcmd litho new l.sif
	sifcmd siftool new s.sif
	compare_cmd header l.sif
	compare_cmd list l.sif
	compare_cmd header s.sif
	compare_cmd list s.sif
	sif_masked l.sif l.masked
	sif_masked s.sif s.masked
	cmp l.masked s.masked
}

@test "(a) litho-only layouts (--legacy, --descriptors, deterministic) read the same with siftool" {
	make_inputs
	lsif new --legacy --launch-script '#!/usr/bin/env run-singularity' a.sif
	lsif add --datatype 1 a.sif def.txt
	lsif add --datatype 4 --partfs 1 --parttype 2 --partarch 2 a.sif part.bin
	compare_reads a.sif 2
	lsif new --descriptors 2 --deterministic b.sif
	lsif add --datatype 6 --linkgroup 1 b.sif generic.json
	lsif add --datatype 8 --cryptformat 1 --cryptmessage 256 b.sif sig.bin
	compare_reads b.sif 2
	lsif del --compact 2 b.sif
	compare_reads b.sif 1
}

@test "(b) siftool-written files edited by litho read the same, and vice versa" {
	make_inputs
	cp "$BATS_FILE_TMPDIR/types-siftool.sif" img.sif
	lsif del 3 img.sif
	lsif add --datatype 3 --filename l img.sif labels.json
	lsif add --datatype 4 --partfs 1 --parttype 1 --partarch 4 img.sif part.bin
	lsif setprim 10 img.sif
	compare_reads img.sif 10
	cp "$BATS_FILE_TMPDIR/types-litho.sif" img2.sif
	siftool del 4 img2.sif
	siftool add --datatype 4 --partfs 2 --parttype 2 --partarch 3 img2.sif part.bin
	compare_reads img2.sif 9
}

