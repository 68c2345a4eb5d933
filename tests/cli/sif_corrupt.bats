#!/usr/bin/env bats
# Truncated and corrupted SIF files, made from a valid litho-made image. Every reader command
# must fail cleanly: exit status 1 (never a signal, >= 128), an error on stderr that names the
# file, nothing on stdout, and no crash or sanitizer report.

load helpers

# Layout of the base image (see setup_file):
#   header 0..127, descriptor table at 4096 (48 x 585 bytes), data at 32176
#   object 1: Def.FILE 32176..32207 (31 bytes), group 1
#   object 2: FS Squashfs/PrimSys/amd64 32768..42768 (10000 bytes), group 1
#   object 3: JSON.Generic 42768..42776 (8 bytes), name meta.json
BASE_SIZE=42776
DESC=4096   # descriptor table offset
DSIZE=585   # descriptor size

setup_file() {
	export BASE="$BATS_FILE_TMPDIR/base.sif"
	rm -f "$BASE"
	printf 'bootstrap: docker\nfrom: alpine\n' >"$BATS_FILE_TMPDIR/def.txt"
	yes 'partition data' | head -c 10000 >"$BATS_FILE_TMPDIR/part.bin"
	printf '{"a":1}\n' >"$BATS_FILE_TMPDIR/meta.json"
	"$LITHO" sif new "$BASE"
	"$LITHO" sif add --datatype 1 --groupid 1 "$BASE" "$BATS_FILE_TMPDIR/def.txt"
	"$LITHO" sif add --datatype 4 --partfs 1 --parttype 2 --partarch 2 --groupid 1 "$BASE" "$BATS_FILE_TMPDIR/part.bin"
	"$LITHO" sif add --datatype 6 --filename meta.json "$BASE" "$BATS_FILE_TMPDIR/meta.json"
}

setup() {
	common_setup
	require_cmd "$PYTHON"
}

# Offset of field byte FIELD in the descriptor of object (slot) N, 1-based.
d_off() {
	echo $((DESC + ($1 - 1) * DSIZE + $2))
}

# patch SRC DST OFFSET FORMAT VALUE [OFFSET FORMAT VALUE ...]: writes SRC to DST with
# struct.pack_into('<FORMAT', ..., OFFSET, VALUE) applied for each triple. FORMAT is a struct
# code (q, i, I, B, ...) or Ns for a byte string. Fails when the patches change nothing.
patch() {
	"$PYTHON" - "$@" <<'EOF'
import struct, sys

src, dst, args = sys.argv[1], sys.argv[2], sys.argv[3:]
orig = open(src, "rb").read()
b = bytearray(orig)
for i in range(0, len(args), 3):
    off, fmt, val = int(args[i], 0), args[i + 1], args[i + 2]
    if off < 0 or off + struct.calcsize("<" + fmt) > len(b):
        raise SystemExit("patch at %d outside the %d-byte file" % (off, len(b)))
    if fmt.endswith("s"):
        struct.pack_into("<" + fmt, b, off, val.encode())
    else:
        struct.pack_into("<" + fmt, b, off, int(val, 0))
open(dst, "wb").write(b)
if b == orig and src != dst:
    raise SystemExit("patch %s did not change anything" % " ".join(args))
EOF
}

# corrupt NAME OFFSET FORMAT VALUE ...: NAME.sif = the base image with the patches applied;
# sets IMG to its path.
corrupt() {
	local name="$1"
	shift
	IMG="$TMP_DIR/$name.sif"
	patch "$BASE" "$IMG" "$@"
}

# Every reader must reject FILE: status 1, stderr naming FILE, empty stdout, no crash.
# (Runs the commands directly rather than with `run`, which costs three times as much.)
assert_rejected() {
	local f="$1" cmd rc err
	for cmd in "list" "header" "info 1" "dump 1"; do
		rc=0
		# shellcheck disable=SC2086
		"$LITHO" sif $cmd "$f" >stdout.txt 2>stderr.txt || rc=$?
		err=""
		IFS= read -r -d '' err <stderr.txt || true
		if [[ $rc -ne 1 ]]; then
			echo "'litho sif $cmd $f': exit status $rc, expected 1" >&2
			echo "stderr: $err" >&2
			return 1
		fi
		if [[ $err != *"$f"* ]]; then
			echo "'litho sif $cmd $f': stderr does not name the file: $err" >&2
			return 1
		fi
		if [[ -s stdout.txt ]]; then
			echo "'litho sif $cmd $f': unexpected stdout:" >&2
			head -c 2000 stdout.txt >&2
			return 1
		fi
		refute_crash_output "$err"
	done
}

# ------------------------------------------------------------------------------------------

@test "the base image is valid (so the rejections below are due to the corruption)" {
	[[ $(stat -c %s "$BASE") -eq $BASE_SIZE ]]
	cp "$BASE" ok.sif
	run -0 lsif list ok.sif
	[[ ${#lines[@]} -eq 6 ]]
	[[ ${lines[4]} == "2    |1       |NONE    |32768-42768               |FS (Squashfs/*System/amd64)" ]]
	run -0 lsif header ok.sif
	run -0 lsif info 3 ok.sif
	cmp <(lsif dump 2 ok.sif) "$BATS_FILE_TMPDIR/part.bin"
	# and the patch helper itself works: a no-op patch keeps the file as it is, and a patch
	# changes exactly the bytes it names.
	patch ok.sif ok.sif 0x2A 3s 01 "$(d_off 1 5)" I 1
	cmp ok.sif "$BASE"
	run ! patch "$BASE" same.sif 0x2A 3s 01
	patch "$BASE" p.sif 0x58 q 0x0102030405060708 "$(d_off 2 4)" B 7
	[[ $(cmp -l "$BASE" p.sif | awk '{ printf "%d:%s ", $1 - 1, $3 }') == "88:10 89:7 90:6 91:5 92:4 93:3 94:2 95:1 4685:7 " ]]
}

@test "empty file" {
	: >empty.sif
	assert_rejected "$TMP_DIR/empty.sif"
}

@test "truncated at 10, 127, 128, 4096 and 4096+2*585 bytes" {
	local n
	for n in 10 127 128 4096 $((4096 + 585 * 2)); do
		head -c "$n" "$BASE" >"trunc-$n.sif"
		assert_rejected "$TMP_DIR/trunc-$n.sif"
	done
}

@test "truncated in the middle of the descriptor table and of the data" {
	local n
	for n in 20000 32176 32200 37000 $((BASE_SIZE - 1)); do
		head -c "$n" "$BASE" >"trunc-$n.sif"
		assert_rejected "$TMP_DIR/trunc-$n.sif"
	done
}

@test "bad magic" {
	corrupt magic 0x20 10s SIF_MAGIX
	assert_rejected "$IMG"
	corrupt magic2 0x20 1s x
	assert_rejected "$IMG"
}

@test "bad version 02" {
	corrupt version 0x2A 3s 02
	assert_rejected "$IMG"
	corrupt version2 0x2A 3s 1
	assert_rejected "$IMG"
}

@test "descriptors_total negative" {
	corrupt total-neg 0x58 q -1
	assert_rejected "$IMG"
	corrupt total-min 0x58 q -0x8000000000000000
	assert_rejected "$IMG"
}

@test "descriptors_total huge (2^40)" {
	corrupt total-huge 0x58 q $((1 << 40))
	assert_rejected "$IMG"
	# also with a matching descriptors_size and free count
	corrupt total-huge2 0x58 q $((1 << 40)) 0x68 q $(((1 << 40) * 585)) 0x50 q $(((1 << 40) - 3))
	assert_rejected "$IMG"
}

@test "descriptors_total not matching descriptors_size" {
	corrupt total-47 0x58 q 47 0x50 q 44
	assert_rejected "$IMG"
	corrupt size-off 0x68 q $((48 * 585 + 1))
	assert_rejected "$IMG"
	corrupt size-0 0x68 q 0
	assert_rejected "$IMG"
}

@test "descriptors_offset 0, 64 (overlapping the header), and beyond EOF" {
	corrupt doff-0 0x60 q 0
	assert_rejected "$IMG"
	corrupt doff-64 0x60 q 64
	assert_rejected "$IMG"
	corrupt doff-eof 0x60 q $((BASE_SIZE + 1))
	assert_rejected "$IMG"
	corrupt doff-max 0x60 q 0x7fffffffffffffff
	assert_rejected "$IMG"
	corrupt doff-neg 0x60 q -4096
	assert_rejected "$IMG"
}

@test "data_offset inside the descriptor table" {
	corrupt dataoff-table 0x70 q 5000
	assert_rejected "$IMG"
	corrupt dataoff-0 0x70 q 0
	assert_rejected "$IMG"
}

@test "data_size past EOF" {
	corrupt datasize-eof 0x78 q $((BASE_SIZE - 32176 + 1))
	assert_rejected "$IMG"
	corrupt datasize-max 0x78 q 0x7fffffffffffffff
	assert_rejected "$IMG"
	corrupt dataoff-max 0x70 q 0x7fffffffffffffff
	assert_rejected "$IMG"
}

@test "descriptors_free larger than the total, and inconsistent with the used count" {
	corrupt free-big 0x50 q 49
	assert_rejected "$IMG"
	corrupt free-neg 0x50 q -1
	assert_rejected "$IMG"
	corrupt free-low 0x50 q 44
	assert_rejected "$IMG"
	corrupt free-high 0x50 q 46
	assert_rejected "$IMG"
}

@test "object offset or size outside the file" {
	corrupt off-eof "$(d_off 3 17)" q $((BASE_SIZE + 100))
	assert_rejected "$IMG"
	corrupt size-eof "$(d_off 3 25)" q 9
	assert_rejected "$IMG"
	corrupt size-huge "$(d_off 2 25)" q $((1 << 40))
	assert_rejected "$IMG"
}

@test "object offset or size negative" {
	corrupt off-neg "$(d_off 3 17)" q -1
	assert_rejected "$IMG"
	corrupt size-neg "$(d_off 3 25)" q -8
	assert_rejected "$IMG"
	corrupt both-neg "$(d_off 1 17)" q -32176 "$(d_off 1 25)" q -31
	assert_rejected "$IMG"
}

@test "object offset or size overflowing int64" {
	corrupt off-max "$(d_off 1 17)" q 0x7fffffffffffffff
	assert_rejected "$IMG"
	corrupt off-max-size0 "$(d_off 1 17)" q 0x7fffffffffffffff "$(d_off 1 25)" q 0
	assert_rejected "$IMG"
	corrupt size-max "$(d_off 1 25)" q 0x7fffffffffffffff
	assert_rejected "$IMG"
	corrupt both-max "$(d_off 1 17)" q 0x7fffffffffffffff "$(d_off 1 25)" q 0x7fffffffffffffff
	assert_rejected "$IMG"
}

@test "object overlapping the header" {
	corrupt obj-hdr0 "$(d_off 1 17)" q 0
	assert_rejected "$IMG"
	corrupt obj-hdr100 "$(d_off 1 17)" q 100
	assert_rejected "$IMG"
}

@test "object overlapping the descriptor table" {
	corrupt obj-table "$(d_off 1 17)" q 4096
	assert_rejected "$IMG"
	corrupt obj-table-start "$(d_off 1 17)" q 4080
	assert_rejected "$IMG"
	corrupt obj-table-end "$(d_off 1 17)" q 32170
	assert_rejected "$IMG"
}

@test "two objects overlapping" {
	corrupt overlap-same "$(d_off 3 17)" q 32768
	assert_rejected "$IMG"
	corrupt overlap-part "$(d_off 1 17)" q 32760 "$(d_off 1 25)" q 9
	assert_rejected "$IMG"
	corrupt overlap-inside "$(d_off 3 17)" q 40000
	assert_rejected "$IMG"
}

@test "duplicate object IDs" {
	corrupt dup-id "$(d_off 3 5)" I 1
	assert_rejected "$IMG"
	corrupt dup-id2 "$(d_off 2 5)" I 3
	assert_rejected "$IMG"
}

@test "used flag of 2" {
	corrupt used-2 "$(d_off 2 4)" B 2
	assert_rejected "$IMG"
	corrupt used-255 "$(d_off 1 4)" B 255
	assert_rejected "$IMG"
	# a used flag in an otherwise empty slot
	corrupt used-empty "$(d_off 4 4)" B 2
	assert_rejected "$IMG"
}

@test "200 random single-byte corruptions (seeded): status 0 or 1, never a crash" {
	# Offsets in the first 4096+3*585 bytes: mostly the header and the three used descriptors,
	# a few in the padding between them. The manifest names, per file, the commands that read
	# what was corrupted: `list` always (all readers share its validation), `header` for the
	# header, `info` of the object whose descriptor was hit, and `dump` of it when the byte was
	# in its offset or size.
	"$PYTHON" - "$BASE" "$TMP_DIR" >manifest <<'EOF'
import random, sys

base, out = sys.argv[1], sys.argv[2]
data = open(base, "rb").read()
rng = random.Random(0x5EED51F)
for i in range(200):
    if i % 10 == 9:
        off = rng.randrange(128, 4096)
    elif i % 3 == 0:
        off = rng.randrange(0, 128)
    else:
        off = rng.randrange(4096, 4096 + 3 * 585)
    b = bytearray(data)
    v = rng.randrange(256)
    if v == b[off]:
        v ^= 0xFF
    b[off] = v
    name = "rnd-%03d.sif" % i
    open("%s/%s" % (out, name), "wb").write(b)
    if off < 128:
        print(name, "header")
    elif off >= 4096:
        slot, field = divmod(off - 4096, 585)
        # offset (17..24) and size (25..32) decide what dump reads
        print(name, "dump" if 17 <= field < 33 else "info", slot + 1)
    else:
        print(name, "padding")
EOF
	[[ $(wc -l <manifest) -eq 200 ]]
	# The loop runs in a child shell: bats' per-command DEBUG trap would slow it down.
	# shellcheck disable=SC2016
	run -0 bash -c '
		litho="$1" files=0 rejected=0 accepted=0 bad=0
		while read -r f kind id; do
			cmds=(list)
			case $kind in
			header) cmds+=(header) ;;
			info) cmds+=("info $id") ;;
			dump) cmds+=("info $id" "dump $id") ;;
			esac
			for cmd in "${cmds[@]}"; do
				rc=0
				"$litho" sif $cmd "$f" >/dev/null 2>>stderr.log || rc=$?
				case $rc in
				0) accepted=$((accepted + 1)) ;;
				1) rejected=$((rejected + 1)) ;;
				*) bad=$((bad + 1)); echo "BAD: $f: sif $cmd exited with $rc" ;;
				esac
				if [[ $cmd == list && $rc -ne 0 ]]; then
					break
				fi
			done
			files=$((files + 1))
		done <manifest
		echo "files=$files accepted=$accepted rejected=$rejected bad=$bad"
	' _ "$LITHO"
	echo "$output"
	[[ ${lines[-1]} =~ ^files=200\ accepted=([0-9]+)\ rejected=([0-9]+)\ bad=0$ ]]
	# sanity: the corruptions hit both checked and unchecked bytes
	((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] > 0))
	refute_crash_output "$(cat stderr.log)"
}
