#!/usr/bin/env bats
# One image, many containers: the umoci fixture (tag dup: 4 layers, the last one repeating
# layer 3, so one diff_id occurs twice) as
#   oci: (umoci), oci-archive: and docker-archive: written by skopeo, an oci: dir with Docker
#   v2s2 media types, an oci: dir with zstd layers (skopeo), and the three `docker save` styles
#   (legacy <= 24, moby 25+, containerd store; tests/lib/docker_save.py), each plain and
#   gzip-compressed as a whole.
# Every form must give the same tree (treedump, mtimes included) with SOURCE_DATE_EPOCH set;
# only /.singularity.d/Singularity and labels.json may differ, in their bootstrap/from values.
# The docker-archive forms, built from the same relative file name, must give identical bytes.

load helpers
load ../lib/build_common

setup_file() {
	fixtures_setup_file umoci skopeo docker-save
	local d=$BATS_FILE_TMPDIR fix
	fix="$(fixture_root)/umoci"
	[[ -d $fix && $EUID -eq 0 ]] || return 0
	# The reference: the oci: build, extracted and dumped.
	(cd "$d" && SOURCE_DATE_EPOCH=$SDE "$LITHO" build oci.sif "oci:$fix/layout:dup") \
		>"$d/oci.log" 2>&1 || return 0
	dump_part "$d/oci.sif" "$d/oci.sqfs" &&
		unsquashfs -q -n -d "$d/oci.x" "$d/oci.sqfs" >/dev/null 2>&1 || true
}

setup() {
	common_setup
	export SOURCE_DATE_EPOCH=$SDE
}

need_reference() {
	require_root
	require_cmd siftool unsquashfs
	if [[ ! -d $BATS_FILE_TMPDIR/oci.x ]]; then
		echo "the reference build from oci: failed:" >&2
		cat "$BATS_FILE_TMPDIR/oci.log" >&2
		return 1
	fi
	REF=$BATS_FILE_TMPDIR/oci.x
}

# same_tree_as_oci SIF: SIF's tree equals the oci: build's, except for the two files that
# record the source, which must differ only in their bootstrap/from values.
same_tree_as_oci() {
	rm -rf x x.sqfs
	extract_sif "$1" x
	local f
	touch -r x/.singularity.d dir.stamp
	for f in Singularity labels.json; do
		mv "x/.singularity.d/$f" "$f.act"
		cp -p "$REF/.singularity.d/$f" "x/.singularity.d/$f"
	done
	touch -r dir.stamp x/.singularity.d
	tree_compare "$REF" x
	sed -E -e 's/^(bootstrap|from): .*/\1: X/' "$REF/.singularity.d/Singularity" >def.ref
	sed -E -e 's/^(bootstrap|from): .*/\1: X/' Singularity.act >def.act
	assert_same_file def.ref def.act
	sed -E -e 's/("org.label-schema.usage.singularity.deffile.(bootstrap|from)": ).*/\1X/' \
		"$REF/.singularity.d/labels.json" >labels.ref
	sed -E -e 's/("org.label-schema.usage.singularity.deffile.(bootstrap|from)": ).*/\1X/' \
		labels.json.act >labels.act
	assert_same_file labels.ref labels.act
}

# build_in_dir SRCFILE DIR TRANSPORT[:SUFFIX]: copies SRCFILE to DIR/img.tar and builds
# DIR/out.sif from TRANSPORT:img.tar[SUFFIX] inside DIR.
build_in_dir() {
	mkdir -p "$2"
	cp "$1" "$2/img.tar"
	(cd "$2" && litho_build out.sif "$3")
}

@test "oci-archive (skopeo) gives the same tree as oci:" {
	use_fixture skopeo
	need_reference
	build_in_dir "$FIX/oci-archive.tar" a oci-archive:img.tar:dup
	same_tree_as_oci a/out.sif
}

@test "docker-archive (skopeo) gives the same tree as oci:" {
	use_fixture skopeo
	need_reference
	build_in_dir "$FIX/docker-archive.tar" a docker-archive:img.tar
	same_tree_as_oci a/out.sif
	# the tar really is skopeo's style: layer.tar symlinks to <diffid>.tar at the top
	run -0 tar -tvf "$FIX/docker-archive.tar"
	[[ $output == *"/layer.tar -> ../"*".tar"* ]]
	[[ $output == *manifest.json* ]]
}

@test "an oci: dir with Docker v2s2 media types gives the same tree as oci:" {
	use_fixture skopeo
	need_reference
	grep -q '"mediaType":"application/vnd.docker.distribution.manifest.v2+json"' "$FIX/v2s2/index.json"
	litho_build v2.sif "oci:$FIX/v2s2:dup"
	same_tree_as_oci v2.sif
}

@test "an oci: dir with zstd layers (skopeo) gives the same tree as oci:" {
	use_fixture skopeo
	need_reference
	# the layers really are zstd: magic 28 b5 2f fd and the +zstd media type
	run -0 "$PYTHON" - "$FIX/zstd" <<-'EOF'
		import json, os, sys
		sys.path.insert(0, os.environ["LIB_DIR"])
		from tarlib import read_layout
		_, m, _, blobs = read_layout(sys.argv[1], "dup")
		for d, b in zip(m["layers"], blobs):
		    print(d["mediaType"], b[:4].hex())
	EOF
	[[ $(wc -l <<<"$output") -eq 4 ]]
	[[ $(grep -c '^application/vnd.oci.image.layer.v1.tar+zstd 28b52ffd$' <<<"$output") -eq 4 ]]
	litho_build z.sif "oci:$FIX/zstd:dup"
	same_tree_as_oci z.sif
}

@test "docker save, legacy (<= 24) style, plain and gzip: same tree as oci:" {
	use_fixture docker-save
	need_reference
	# the repeated layer is a symlink member, as Docker writes it
	run -0 tar -tvf "$FIX/legacy.tar"
	[[ $output == *"/layer.tar -> ../"*"/layer.tar"* ]]
	build_in_dir "$FIX/legacy.tar" p docker-archive:img.tar
	same_tree_as_oci p/out.sif
	build_in_dir "$FIX/legacy.tar.gz" g docker-archive:img.tar
	same_tree_as_oci g/out.sif
}

@test "docker save, moby 25+ style, plain and gzip: same tree as oci:" {
	use_fixture docker-save
	need_reference
	# blobs/ come before manifest.json in the tar
	run -0 tar -tf "$FIX/moby25.tar"
	[[ $(grep -n '^blobs/sha256/.' <<<"$output" | head -1 | cut -d: -f1) -lt \
		$(grep -n '^manifest.json$' <<<"$output" | cut -d: -f1) ]]
	build_in_dir "$FIX/moby25.tar" p docker-archive:img.tar
	same_tree_as_oci p/out.sif
	build_in_dir "$FIX/moby25.tar.gz" g docker-archive:img.tar
	same_tree_as_oci g/out.sif
}

@test "docker save, containerd style (compressed blobs), plain and gzip: same tree as oci:" {
	use_fixture docker-save
	need_reference
	build_in_dir "$FIX/containerd.tar" p docker-archive:img.tar
	same_tree_as_oci p/out.sif
	build_in_dir "$FIX/containerd.tar.gz" g docker-archive:img.tar
	same_tree_as_oci g/out.sif
}

@test "a moby 25+ docker save tar also reads as oci-archive:" {
	use_fixture docker-save
	need_reference
	build_in_dir "$FIX/moby25.tar" a oci-archive:img.tar
	same_tree_as_oci a/out.sif
}

@test "docker-archive: NAME:TAG picks the image, short and docker.io names alike" {
	use_fixture docker-save
	need_reference
	# legacy.tar says fixtures/umoci:dup, containerd.tar docker.io/fixtures/umoci:dup
	build_in_dir "$FIX/legacy.tar" a docker-archive:img.tar:fixtures/umoci:dup
	same_tree_as_oci a/out.sif
	build_in_dir "$FIX/containerd.tar" b docker-archive:img.tar:fixtures/umoci:dup
	same_tree_as_oci b/out.sif
	build_in_dir "$FIX/legacy.tar" c docker-archive:img.tar:docker.io/fixtures/umoci:dup
	same_tree_as_oci c/out.sif
}

@test "every docker-archive form gives the same SIF bytes (same relative name, SOURCE_DATE_EPOCH)" {
	use_fixture docker-save
	local ds=$FIX
	use_fixture skopeo
	local f n first="" ok=1 id
	for f in "$ds"/{legacy,moby25,containerd}.tar{,.gz} "$FIX/docker-archive.tar"; do
		n=${f##*/}
		[[ $f == "$FIX/docker-archive.tar" ]] && n=skopeo.tar
		build_in_dir "$f" "$n" docker-archive:img.tar
		sha256sum "$n/out.sif" >>sums
		if [[ -z $first ]]; then
			first=$n
		elif ! cmp -s "$first/out.sif" "$n/out.sif"; then
			ok=0
			for id in 1 2 3 4; do
				if ! cmp -s <(siftool dump "$id" "$first/out.sif") <(siftool dump "$id" "$n/out.sif"); then
					echo "$n: object $id differs from $first's" >>sums
				fi
			done
		fi
	done
	if [[ $ok -ne 1 ]]; then
		echo "the SIF files differ:" >&2
		cat sums >&2
		return 1
	fi
}
