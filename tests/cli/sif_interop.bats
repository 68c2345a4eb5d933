#!/usr/bin/env bats
# `litho sif header|list|info|dump` on the reference images ($INTEROP/sif-spec: the test images
# of the SIF library; $INTEROP/images: images built by Apptainer) must print exactly what
# siftool prints.
#
# One known, intended difference: siftool 2.8.3 predates the OCI data types and prints
# OCI.RootIndex (0x400A) and OCI.Blob (0x400B) objects as "Unknown", while litho prints their
# names and an extra "Digest:" line. For those objects only, litho's output is compared after
# replacing the type name by "Unknown" and dropping the Digest line, and the digest is checked
# separately against the sha256 of the dumped bytes.

load helpers

setup() {
	require_cmd siftool
	common_setup
}

# Lists the *.sif files of $INTEROP/SUBDIR, skipping the test when the folder is absent and
# failing when it holds no image.
interop_images() {
	local dir="$INTEROP/$1"
	if [[ ! -d $dir ]]; then
		skip "interop folder $dir is absent"
	fi
	shopt -s nullglob
	IMAGES=("$dir"/*.sif)
	shopt -u nullglob
	if [[ ${#IMAGES[@]} -eq 0 ]]; then
		echo "no *.sif files in $dir" >&2
		return 1
	fi
}

# Rewrites litho's `list`/`info` output the way siftool 2.8.3 prints OCI objects.
as_siftool_2_8_3() {
	sed -e 's/|OCI\.Blob$/|Unknown/' -e 's/|OCI\.RootIndex$/|Unknown/' \
		-e 's/^\(  Data Type: *\)OCI\.Blob$/\1Unknown/' \
		-e 's/^\(  Data Type: *\)OCI\.RootIndex$/\1Unknown/' \
		-e '/^  Digest: /d'
}

# Compares `litho sif ARGS` with `siftool ARGS`; NORMALIZE=1 applies as_siftool_2_8_3 first.
compare_one() {
	local normalize="$1"
	shift
	if [[ $normalize == 1 ]]; then
		FILTER=as_siftool_2_8_3 compare_text_output "$@"
	else
		FILTER='' compare_text_output "$@"
	fi
}

# header, list, info and dump of every object of FILE.
compare_image() {
	local f="$1" id oci=0 n=0 list
	list="$("$LITHO" sif list "$f")"
	if [[ $list =~ \|OCI\.(Blob|RootIndex)($'\n'|$) ]]; then
		oci=1
		OCI_FILES+=("$f")
	fi
	compare_one 0 header "$f"
	compare_one "$oci" list "$f"
	# IDs from siftool's listing
	siftool_listed_ids
	for id in "${SIFTOOL_IDS[@]}"; do
		[[ $id =~ ^[0-9]+$ ]]
		compare_one "$oci" info "$id" "$f"
		compare_dump "$id" "$f" || return 1
		n=$((n + 1))
	done
	CHECKED=$((CHECKED + 1))
	OBJECTS=$((OBJECTS + n))
}

@test "sif-spec images: header, list, info and dump match siftool" {
	interop_images sif-spec
	local f
	CHECKED=0 OBJECTS=0 OCI_FILES=()
	for f in "${IMAGES[@]}"; do
		compare_image "$f"
	done
	[[ $CHECKED -eq ${#IMAGES[@]} ]]
	((OBJECTS > 0))
	# Only the two OCI test images needed the OCI normalisation.
	[[ ${#OCI_FILES[@]} -le 2 ]]
	local o
	for o in "${OCI_FILES[@]}"; do
		[[ $o == */one-object-oci-blob.sif || $o == */one-object-oci-root-index.sif ]]
	done
}

@test "Apptainer-built images: header, list, info and dump match siftool" {
	interop_images images
	local f
	CHECKED=0 OBJECTS=0 OCI_FILES=()
	for f in "${IMAGES[@]}"; do
		compare_image "$f"
	done
	[[ $CHECKED -eq ${#IMAGES[@]} ]]
	((OBJECTS > 0))
	[[ ${#OCI_FILES[@]} -eq 0 ]]
}

@test "OCI test images: litho names the type and its Digest is the sha256 of the data" {
	interop_images sif-spec
	local name f id ids sum n=0
	for name in one-object-oci-blob:OCI.Blob one-object-oci-root-index:OCI.RootIndex; do
		f="$INTEROP/sif-spec/${name%%:*}.sif"
		if [[ ! -f $f ]]; then
			continue
		fi
		ids="$(list_ids "$f")"
		[[ -n $ids ]]
		for id in $ids; do
			run -0 "$LITHO" sif info "$id" "$f"
			[[ ${lines[0]} =~ ^\ \ Data\ Type:\ +${name#*:}$ ]]
			sum="$("$LITHO" sif dump "$id" "$f" | sha256sum | cut -d' ' -f1)"
			[[ ${#sum} -eq 64 ]]
			[[ $(grep -c '^  Digest: ' <<<"$output") -eq 1 ]]
			[[ $output =~ $'\n'\ \ Digest:\ +sha256:$sum($'\n'|$) ]]
			n=$((n + 1))
		done
	done
	if [[ $n -eq 0 ]]; then
		skip "no OCI test image in $INTEROP/sif-spec"
	fi
}
