#!/usr/bin/env bats
# `litho build` of an image built by buildah 1.28 (vfs storage, chroot isolation, --layers):
# a busybox-static base from `buildah from scratch` + `buildah copy` + `buildah commit`, then a
# Dockerfile whose RUN steps rm, mv, make hard and soft links, set up a usrmerge layout
# (/lib -> usr/lib in one step, files written through /lib in a later one) and chmod u+s.
# Pushed to oci: and docker-archive: (tests/lib/mkimages.sh buildah).

load helpers
load ../lib/build_common

setup_file() {
	fixtures_setup_file buildah
	local d=$BATS_FILE_TMPDIR fix
	fix="$(fixture_root)/buildah"
	[[ -d $fix ]] || return 0
	(cd "$d" && "$LITHO" build b.sif "oci:$fix/oci:latest") >"$d/b.log" 2>&1 || true
	if [[ -f $d/b.sif && $EUID -eq 0 ]]; then
		dump_part "$d/b.sif" "$d/b.sqfs" &&
			unsquashfs -q -n -d "$d/b.x" "$d/b.sqfs" >/dev/null 2>&1 &&
			"$PYTHON" "$TREEDUMP" dump "$d/b.x" >"$d/b.dump" || true
	fi
}

setup() {
	common_setup
	use_fixture buildah
}

need_build() {
	require_root
	require_cmd siftool unsquashfs
	if [[ ! -s $BATS_FILE_TMPDIR/b.dump ]]; then
		echo "litho build of the buildah image failed:" >&2
		cat "$BATS_FILE_TMPDIR/b.log" >&2
		return 1
	fi
	SIF=$BATS_FILE_TMPDIR/b.sif
	XDIR=$BATS_FILE_TMPDIR/b.x
	DUMP=$BATS_FILE_TMPDIR/b.dump
}

@test "buildah image: one layer per step, gzip, OCI media types" {
	run -0 "$PYTHON" - "$FIX/oci" <<-'EOF'
		import json, os, sys
		sys.path.insert(0, os.environ["LIB_DIR"])
		from tarlib import read_layout
		d, m, cfg, blobs = read_layout(sys.argv[1], "latest")
		print(d["mediaType"])
		for l in m["layers"]:
		    print(l["mediaType"])
		print(len(json.loads(cfg)["rootfs"]["diff_ids"]))
	EOF
	[[ ${lines[0]} == application/vnd.oci.image.manifest.v1+json ]]
	[[ ${lines[-1]} -eq 4 ]]
	[[ $(grep -c '^application/vnd.oci.image.layer.v1.tar+gzip$' <<<"$output") -eq 4 ]]
}

@test "buildah image: litho's tree equals umoci unpack" {
	require_cmd umoci
	need_build
	umoci_unpack "$FIX/oci:latest" ref
	explicit_dirs "$FIX/oci" latest dirs
	# The image has /etc/hosts and /etc/resolv.conf (empty placeholders from the RUN steps,
	# mode 0755). Apptainer's makeFile (base_environment.go) chmods an existing file to 0644 and
	# truncates it; owner and xattrs stay, mtime becomes the build time. Expect exactly that.
	local f
	for f in etc/hosts etc/resolv.conf; do
		[[ -f ref/rootfs/$f ]]
		: >"ref/rootfs/$f"
		chmod 0644 "ref/rootfs/$f"
	done
	tree_compare ref/rootfs "$XDIR" --image-meta --explicit-dirs dirs \
		--no-mtime /etc/hosts --no-mtime /etc/resolv.conf
}

@test "buildah image: rm, mv, hard and soft links, usrmerge and setuid from the RUN steps" {
	need_build
	refute_entry "$DUMP" /opt/gone
	refute_entry "$DUMP" /opt/app/sub/two
	refute_entry "$DUMP" /opt/mvme
	assert_entry "$DUMP" /opt/app/moved "sha256=$(sha_of $'mv\n')"
	# hard link made in RUN 2, its first name removed in RUN 3
	refute_entry "$DUMP" /opt/app/hard
	assert_entry "$DUMP" /opt/app/hard2 type=reg "sha256=$(sha_of $'hard\n')"
	assert_entry "$DUMP" /opt/app/soft type=sym target=../app/one
	# usrmerge: /lib -> usr/lib (RUN 1), files written through /lib (RUN 2) live in usr/lib
	assert_entry "$DUMP" /lib type=sym target=usr/lib
	assert_entry "$DUMP" /usr/lib/vialib "sha256=$(sha_of $'via-lib\n')"
	assert_entry "$DUMP" /usr/lib/deeper/f "sha256=$(sha_of $'d\n')"
	assert_entry "$DUMP" /usrbin-link type=sym target=usr/bin
	assert_entry "$DUMP" /usr/bin/tool "sha256=$(sha_of $'x\n')"
	assert_entry "$DUMP" /opt/app/one mode=4644
	assert_entry "$DUMP" /opt/app/sub type=dir mode=1777
	assert_entry "$DUMP" /bin/busybox mode=0755
	assert_entry "$DUMP" /bin/sh type=sym target=busybox
	assert_entry "$DUMP" /etc/hosts size=0 mode=0644
}

@test "buildah image: docker-archive gives the same tree as oci: (SOURCE_DATE_EPOCH)" {
	require_root
	require_cmd siftool unsquashfs
	export SOURCE_DATE_EPOCH=$SDE
	litho_build o.sif "oci:$FIX/oci:latest"
	cp "$FIX/docker-archive.tar" img.tar
	litho_build d.sif docker-archive:img.tar
	extract_sif o.sif o
	extract_sif d.sif d
	# only the two files that record the source differ
	run "$PYTHON" "$TREEDUMP" compare o d
	[[ $status -eq 1 ]]
	local changed
	changed=$(grep -E '^[-+]/' <<<"$output" | awk '{print $1}' | cut -c2- | sort -u)
	[[ $changed == $'/.singularity.d/Singularity\n/.singularity.d/labels.json' ]]
	[[ $(sed -n 's/^from: //p' d/.singularity.d/Singularity) == img.tar ]]
	[[ $(sed -n 's/^bootstrap: //p' d/.singularity.d/Singularity) == docker-archive ]]
}

@test "buildah image: runscript, environment and labels from the buildah config" {
	need_build
	grep -qxF "OCI_ENTRYPOINT='\"/bin/sh\" \"-c\"'" "$XDIR/.singularity.d/runscript"
	grep -qxF "OCI_CMD='\"echo hello\"'" "$XDIR/.singularity.d/runscript"
	run -0 cat "$XDIR/.singularity.d/env/10-docker2singularity.sh"
	[[ $output == $'#!/bin/sh\nexport PATH="/usr/sbin:/usr/bin:/sbin:/bin"\nexport APPVAR="${APPVAR:-"from-buildah"}"' ]]
	run -0 "$PYTHON" -c 'import json,sys; l=json.load(open(sys.argv[1]));
print(l["org.example.builder"], l["io.buildah.version"])' "$XDIR/.singularity.d/labels.json"
	[[ $output == "buildah 1.28"* ]]
	# the runscript runs: sh -c "echo hello"
	run -0 sh "$XDIR/.singularity.d/runscript"
	[[ $output == hello ]]
}
