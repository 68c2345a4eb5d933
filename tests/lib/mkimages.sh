#!/usr/bin/env bash
# Makes the test images of the `litho build` tests with the real tools.
#
# usage: mkimages.sh KIND OUT [INPUT]
#   umoci OUT         OUT/layout, an OCI layout made with umoci (needs root):
#                       tag base1  layer 1: busybox-static, files, dirs, symlinks, a hard link,
#                                  a setuid file, a capability, a sticky dir, a device, a FIFO
#                       tag latest + layer 2: `umoci unpack`, rm files and a directory, repack
#                                  (explicit whiteouts) + layer 3: `umoci raw add-layer` of a
#                                  hand-made tar holding data/.wh..wh..opq and new data/ content;
#                                  config Entrypoint + Cmd + Env + Labels set with `umoci config`
#                       tag cmd-only   latest without the Entrypoint
#                       tag ep-only    latest without the Cmd
#                       tag dup    latest + layer 4 = layer 3 again (a repeated diff_id)
#   edge OUT          OUT/layout from mkedge.py (hand-made tars), OUT/work/sparse.bin
#   meta OUT          OUT/layout from mkmeta.py (configs for the Apptainer metadata)
#   bad OUT           broken images from mkbad.py (corrupt, truncated, missing blobs)
#   skopeo OUT SRC    copies of SRC (an oci layout, tag dup) made by skopeo 1.9:
#                       OUT/oci-archive.tar, OUT/docker-archive.tar (skopeo style),
#                       OUT/v2s2 (oci: dir with Docker v2s2 media types),
#                       OUT/zstd (oci: dir with zstd layers)
#   docker-save OUT SRC   OUT/<style>.tar and OUT/<style>.tar.gz for style legacy, moby25,
#                       containerd, made by docker_save.py from SRC (tag dup)
#   buildah OUT       OUT/oci (oci: layout, tag latest) and OUT/docker-archive.tar of an image
#                       built by buildah 1.28 (vfs storage, chroot isolation, --layers) from a
#                       busybox-static base
#
# Everything is made below OUT, which must not exist yet.
set -euo pipefail
umask 022

LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"
BUSYBOX="${BUSYBOX:-$(command -v busybox)}"
unset SOURCE_DATE_EPOCH

die() {
	echo "mkimages: $*" >&2
	exit 1
}

mk_umoci() {
	local out=$1 L=$1/layout B=$1/bundle R
	umoci init --layout "$L"
	umoci new --image "$L:base1"
	umoci unpack --image "$L:base1" "$B" >/dev/null
	R=$B/rootfs
	mkdir -p "$R"/{bin,etc,data/sub,data/keep,gone/deep/er,tmp,usr/bin,usr/lib,dev,var/empty}
	cp "$BUSYBOX" "$R/bin/busybox"
	local a
	for a in sh ls cat echo true env; do
		ln -s busybox "$R/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n' >"$R/etc/passwd"
	printf 'root:x:0:\nuser:x:1000:\n' >"$R/etc/group"
	echo hello >"$R/data/hello.txt"
	chown 1234:5678 "$R/data/hello.txt"
	"$PY" -c 'import os,sys; os.setxattr(sys.argv[1], "user.color", b"blue")' "$R/data/hello.txt"
	echo sub >"$R/data/sub/s.txt"
	echo keep >"$R/data/keep/k"
	echo bye >"$R/gone/deep/er/x"
	echo "delete me" >"$R/etc/deleteme"
	echo "hard linked" >"$R/etc/hl1"
	ln "$R/etc/hl1" "$R/usr/hl2"
	ln "$R/etc/hl1" "$R/usr/lib/hl3"
	printf '#!/bin/sh\necho suid\n' >"$R/usr/bin/suid"
	chmod 4755 "$R/usr/bin/suid"
	printf 'cap\n' >"$R/usr/bin/capped"
	"$PY" -c 'import os,sys; os.setxattr(sys.argv[1], "security.capability",
	  bytes.fromhex("0100000200200000000000000000000000000000"))' "$R/usr/bin/capped"
	chmod 2755 "$R/var/empty"
	chmod 1777 "$R/tmp"
	ln -s ../etc/passwd "$R/usr/pw"
	ln -s /data/hello.txt "$R/usr/abs-link"
	mknod "$R/dev/null" c 1 3
	mknod "$R/dev/sda9" b 8 9
	mkfifo "$R/dev/fifo"
	touch -h -d @1500000000 "$R/usr/pw"
	touch -d @1400000000 "$R/etc/passwd"
	umoci repack --image "$L:base1" "$B" >/dev/null
	rm -rf "$B"

	# Layer 2: deletions (umoci writes explicit .wh. entries), a changed file, a chmod.
	umoci unpack --image "$L:base1" "$B" >/dev/null
	rm -rf "$R/gone" "$R/etc/deleteme" "$R/data/sub/s.txt" "$R/usr/hl2" "$R/bin/true"
	echo "changed in layer 2" >>"$R/etc/passwd"
	chmod 0700 "$R/data/keep"
	echo "new in layer 2" >"$R/etc/new2"
	umoci repack --image "$L:base2" "$B" >/dev/null
	rm -rf "$B"

	# Layer 3: opaque data/ (the marker after the new entries) from a hand-made tar.
	"$PY" "$LIB/mktar.py" "$out/opaque.tar" <<-'EOF'
		dir data/ mode=0755 mtime=1600000000
		file data/new.txt mtime=1600000000 data=new data
		dir data/sub2/ mode=0750 mtime=1600000000
		file data/sub2/x uid=3000000 gid=3000000 mtime=1600000000 data=x
		symlink data/link link=new.txt mtime=1600000000
		file data/.wh..wh..opq mtime=1600000000
	EOF
	umoci raw add-layer --image "$L:base2" --tag base3 "$out/opaque.tar"
	umoci config --image "$L:base3" --tag latest \
		--config.entrypoint /bin/echo --config.entrypoint 'it'"'"'s "$HOME" `x` \y' \
		--config.cmd hello --config.cmd 'two words' \
		--config.env 'PATH=/usr/local/bin:/usr/bin:/bin' \
		--config.env 'GREETING=hi "there" $USER `cmd` \n' \
		--config.env 'EMPTY=' \
		--config.env '1BAD=skipped' \
		--config.env 'WITH=equals=sign' \
		--config.label 'org.example.name=umoci fixture' \
		--config.label 'org.example.quote=say "hi"' \
		--config.workingdir /data \
		--architecture amd64 --os linux
	umoci config --image "$L:latest" --tag cmd-only --clear=config.entrypoint
	umoci config --image "$L:latest" --tag ep-only --clear=config.cmd
	umoci raw add-layer --image "$L:latest" --tag dup "$out/opaque.tar"
	umoci gc --layout "$L"
}

mk_skopeo() {
	local out=$1 src=$2
	mkdir -p "$out"
	skopeo copy -q "oci:$src:dup" "oci-archive:$out/oci-archive.tar:dup"
	skopeo copy -q "oci:$src:dup" "docker-archive:$out/docker-archive.tar:fixtures/umoci:dup"
	skopeo copy -q --format v2s2 "oci:$src:dup" "oci:$out/v2s2:dup"
	skopeo copy -q --dest-compress-format zstd "oci:$src:dup" "oci:$out/zstd:dup"
}

mk_docker_save() {
	local out=$1 src=$2 style
	mkdir -p "$out"
	for style in legacy moby25 containerd; do
		"$PY" "$LIB/docker_save.py" "$src" dup "$style" "$out/$style.tar" fixtures/umoci:dup
		"$PY" "$LIB/docker_save.py" "$src" dup "$style" "$out/$style.tar.gz" \
			fixtures/umoci:dup --gzip
	done
}

mk_buildah() {
	local out=$1 S=$1/storage ctx=$1/ctx c
	local -a B=(buildah --storage-driver vfs --root "$S/root" --runroot "$S/runroot")
	mkdir -p "$ctx/base/bin"
	cp "$BUSYBOX" "$ctx/base/bin/busybox"
	"$ctx/base/bin/busybox" --install -s "$ctx/base/bin"
	# busybox --install -s writes absolute links to the host's busybox path: make them relative.
	local l
	for l in "$ctx/base/bin"/*; do
		[[ -L $l ]] && ln -sfn busybox "$l"
	done
	mkdir -p "$ctx/base/etc" "$ctx/base/tmp"
	chmod 1777 "$ctx/base/tmp"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ctx/base/etc/passwd"
	c=$("${B[@]}" from scratch)
	"${B[@]}" copy "$c" "$ctx/base/" / >/dev/null
	"${B[@]}" config --env PATH=/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/sh "$c"
	"${B[@]}" commit -q "$c" localhost/bbase:latest >/dev/null
	"${B[@]}" rm "$c" >/dev/null
	cat >"$ctx/Dockerfile" <<-'EOF'
		FROM localhost/bbase:latest
		RUN mkdir -p /usr/lib /opt/app/sub /opt/gone/deep && echo one >/opt/app/one \
		 && echo two >/opt/app/sub/two && echo bye >/opt/gone/deep/f && echo mv >/opt/mvme \
		 && echo hard >/opt/app/hard && ln -s usr/lib /lib && ln -s usr/bin /usrbin-link
		RUN rm -rf /opt/gone && rm /opt/app/sub/two && mv /opt/mvme /opt/app/moved \
		 && ln /opt/app/hard /opt/app/hard2 && ln -s ../app/one /opt/app/soft \
		 && echo via-lib >/lib/vialib && mkdir -p /lib/deeper && echo d >/lib/deeper/f
		RUN chmod u+s /opt/app/one && chmod 1777 /opt/app/sub && rm /opt/app/hard \
		 && mkdir /usr/bin && echo x >/usrbin-link/tool
		ENV APPVAR=from-buildah
		LABEL org.example.builder=buildah
		ENTRYPOINT ["/bin/sh", "-c"]
		CMD ["echo hello"]
	EOF
	"${B[@]}" build -q --isolation chroot --layers -t localhost/bapp:latest \
		-f "$ctx/Dockerfile" "$ctx" >/dev/null
	"${B[@]}" push -q localhost/bapp:latest "oci:$out/oci:latest"
	"${B[@]}" push -q localhost/bapp:latest "docker-archive:$out/docker-archive.tar:fixtures/bapp:latest"
	"${B[@]}" rmi -a -f >/dev/null 2>&1 || true
	rm -rf "$S"
}

kind=${1:-}
out=${2:-}
[[ -n $kind && -n $out ]] || die "usage: mkimages.sh KIND OUT [INPUT]"
[[ ! -e $out ]] || die "$out exists"
mkdir -p "$out"
case $kind in
umoci) mk_umoci "$out" ;;
edge) "$PY" "$LIB/mkedge.py" "$out/layout" "$out/work" ;;
meta) "$PY" "$LIB/mkmeta.py" "$out/layout" ;;
bad) "$PY" "$LIB/mkbad.py" "$out" ;;
skopeo) mk_skopeo "$out" "${3:?input layout}" ;;
docker-save) mk_docker_save "$out" "${3:?input layout}" ;;
buildah) mk_buildah "$out" ;;
*) die "unknown kind $kind" ;;
esac
