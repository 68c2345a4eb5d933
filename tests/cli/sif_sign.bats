#!/usr/bin/env bats
# `litho sign`, `litho verify` and `litho key`: round trips with DSSE (PEM keys) and OpenPGP
# (keyring) signatures, tampered images, and the SIF library's signed test images
# ($INTEROP/sif-spec) verified with their public keys (tests/data/sif-spec-keys).

load helpers

KEYS="$BATS_TEST_DIRNAME/../data/sif-spec-keys"
SPEC="$INTEROP/sif-spec"

# Layout of the base image (as in sif_corrupt.bats):
#   descriptor table at 4096 (585 bytes each), every object in group 1 (verify refuses
#   ungrouped objects, as the SIF library does); object 2: FS Squashfs/PrimSys/amd64 at 32768,
#   10000 bytes. Descriptor fields: extra (partition fs, type, arch) at +200.
DESC=4096
DSIZE=585
PART=32768

setup_file() {
	export BASE="$BATS_FILE_TMPDIR/base.sif"
	rm -f "$BASE"
	printf 'bootstrap: docker\nfrom: alpine\n' >"$BATS_FILE_TMPDIR/def.txt"
	yes 'partition data' | head -c 10000 >"$BATS_FILE_TMPDIR/part.bin"
	printf '{"a":1}\n' >"$BATS_FILE_TMPDIR/meta.json"
	"$LITHO" sif new "$BASE"
	"$LITHO" sif add --datatype 1 --groupid 1 "$BASE" "$BATS_FILE_TMPDIR/def.txt"
	"$LITHO" sif add --datatype 4 --partfs 1 --parttype 2 --partarch 2 --groupid 1 "$BASE" \
		"$BATS_FILE_TMPDIR/part.bin"
	"$LITHO" sif add --datatype 6 --groupid 1 --filename meta.json "$BASE" "$BATS_FILE_TMPDIR/meta.json"
	local k="$BATS_FILE_TMPDIR"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$k/ecdsa.pem" 2>/dev/null
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$k/rsa.pem" 2>/dev/null
	openssl genpkey -algorithm ED25519 -out "$k/ed25519.pem" 2>/dev/null
	local t
	for t in ecdsa rsa ed25519; do
		openssl pkey -in "$k/$t.pem" -pubout -out "$k/$t.pub"
	done
}

setup() {
	common_setup
	require_cmd openssl "$PYTHON"
	K="$BATS_FILE_TMPDIR"
	export LITHO_KEYSDIR="$TMP_DIR/keys"
	export GNUPGHOME="$TMP_DIR/gnupg"
}

# flip SRC DST OFFSET: DST = SRC with the byte at OFFSET inverted.
flip() {
	"$PYTHON" - "$@" <<'EOF'
import sys
src, dst, off = sys.argv[1], sys.argv[2], int(sys.argv[3], 0)
b = bytearray(open(src, "rb").read())
if off >= len(b):
    raise SystemExit("offset %d outside the %d-byte file" % (off, len(b)))
b[off] ^= 0xFF
open(dst, "wb").write(b)
EOF
}

# Verification of FILE with ARGS must fail: status != 0 and not a crash, a message on stderr.
refute_verifies() {
	run_split "$LITHO" verify "$@"
	if [[ $status -eq 0 || $status -ge 128 && $status -ne 255 ]]; then
		echo "verify $* exited $status: $output $stderr" >&2
		return 1
	fi
	[[ -n $stderr ]]
}

assert_verifies() {
	run_split "$LITHO" verify "$@"
	if [[ $status -ne 0 ]]; then
		echo "verify $* exited $status: $output $stderr" >&2
		return 1
	fi
}

@test "sign/verify: DSSE round trip with ECDSA P-256, RSA and Ed25519 keys; another key fails" {
	local t
	for t in ecdsa rsa ed25519; do
		cp "$BASE" "$t.sif"
		"$LITHO" sign --key "$K/$t.pem" "$t.sif"
		"$LITHO" sif list "$t.sif" | grep -q 'Signature'
		assert_verifies --key "$K/$t.pub" "$t.sif"
		[[ $output == *"Objects verified"* || $stderr == *"Verified signature"* ]]
		assert_verifies --key "$K/$t.pub" --json "$t.sif"
		"$PYTHON" -c 'import json,sys; json.loads(sys.argv[1])' "$output"
	done
	refute_verifies --key "$K/rsa.pub" ecdsa.sif
	refute_verifies --key "$K/ed25519.pub" rsa.sif
	# an unsigned image
	refute_verifies --key "$K/rsa.pub" "$BASE"
}

@test "verify: a modified object, a modified descriptor or a truncated signature fails" {
	cp "$BASE" s.sif
	"$LITHO" sign --key "$K/ed25519.pem" s.sif
	assert_verifies --key "$K/ed25519.pub" s.sif
	# partition data
	flip s.sif data.sif $((PART + 5000))
	refute_verifies --key "$K/ed25519.pub" data.sif
	[[ $stderr == *data.sif* ]]
	# signing again over a changed object needs --all
	run_split "$LITHO" sign --key "$K/rsa.pem" data.sif
	[[ $status -eq 255 && $stderr == *--all* ]]
	# partition architecture in object 2's descriptor
	flip s.sif desc.sif $((DESC + DSIZE + 208))
	refute_verifies --key "$K/ed25519.pub" desc.sif
	# group id of object 1's descriptor
	flip s.sif group.sif $((DESC + 8))
	refute_verifies --key "$K/ed25519.pub" group.sif
	# the signature object is the last data of the file: cut into it
	local size
	size=$(stat -c %s s.sif)
	head -c $((size - 40)) s.sif >trunc.sif
	refute_verifies --key "$K/ed25519.pub" trunc.sif
	# a byte inside the signature
	flip s.sif sig.sif $((size - 60))
	refute_verifies --key "$K/ed25519.pub" sig.sif
}

@test "sign/verify: OpenPGP round trip through the local keyring; an unknown key fails" {
	require_cmd gpg gpg-agent
	"$LITHO" key newpair -N 'Test User' -E test@example.com -C test -P secret -b 1024
	"$LITHO" key list | grep -q 'test@example.com'
	cp "$BASE" p.sif
	echo secret | "$LITHO" sign p.sif
	assert_verifies p.sif
	[[ "$output$stderr" == *"Test User"* ]]
	flip p.sif pdata.sif $((PART + 10))
	refute_verifies pdata.sif
	local fp
	fp=$("$LITHO" key list | sed -n 's/^ *Fingerprint: *//p' | head -n 1)
	[[ -n $fp ]]
	"$LITHO" key remove "$fp"
	refute_verifies p.sif
}

@test "verify: the SIF library's DSSE images verify with their keys, not with another" {
	[[ -d $SPEC ]] || skip "interop folder $SPEC is absent"
	local f
	for f in one-group-signed-dsse two-groups-signed-dsse; do
		assert_verifies --key "$KEYS/ed25519-public.pem" "$SPEC/$f.sif"
		assert_verifies --key "$KEYS/rsa-public.pem" "$SPEC/$f.sif"
		refute_verifies --key "$KEYS/ecdsa-public.pem" "$SPEC/$f.sif"
	done
	# each byte of the partition data of a copy
	local off
	off=$("$LITHO" sif info 2 "$SPEC/one-group-signed-dsse.sif" | sed -n 's/^  Offset: *//p')
	flip "$SPEC/one-group-signed-dsse.sif" t.sif $((off + 1))
	refute_verifies --key "$KEYS/ed25519-public.pem" t.sif
}

@test "verify: the SIF library's OpenPGP and legacy images verify with its public key" {
	[[ -d $SPEC ]] || skip "interop folder $SPEC is absent"
	require_cmd gpg gpg-agent
	"$LITHO" key import "$KEYS/pgp-public.asc"
	local f
	for f in one-group-signed-pgp two-groups-signed-pgp; do
		assert_verifies "$SPEC/$f.sif"
		[[ "$output$stderr" == *12045C8C0B1004D058DE4BEDA20C27EE7FF7BA84* ]]
	done
	for f in one-group-signed-legacy two-groups-signed-legacy two-groups-signed-legacy-all \
		one-group-signed-legacy-all; do
		assert_verifies --legacy-insecure "$SPEC/$f.sif"
		# legacy signatures are not accepted without --legacy-insecure
		refute_verifies "$SPEC/$f.sif"
	done
	assert_verifies --legacy-insecure -g 1 "$SPEC/two-groups-signed-legacy-group.sif"
	local off
	off=$("$LITHO" sif info 2 "$SPEC/one-group-signed-pgp.sif" | sed -n 's/^  Offset: *//p')
	flip "$SPEC/one-group-signed-pgp.sif" t.sif $((off + 1))
	refute_verifies t.sif
	# unknown key: an empty keyring
	export LITHO_KEYSDIR="$TMP_DIR/empty"
	refute_verifies "$SPEC/one-group-signed-pgp.sif"
}
