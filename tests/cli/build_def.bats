#!/usr/bin/env bats
# `litho build` from definition files: every section, the local bootstrap agents, stages,
# SCIF apps, build args, broken files, the fast path and the build cache; as root and as the
# unprivileged test user (whose %post runs as fake root). Images are checked by running them
# with litho and reading them with siftool. The debootstrap agent is in build_def_debian.bats.
#
# Bases: the host's busybox (busybox agent, Debian's busybox-static) and the umoci fixture
# (oci:, oci-archive:, docker-archive:, localimage).

# shellcheck disable=SC2154 # status, output and stderr are set by run_split
load helpers
load ../lib/build_common
load ../lib/runtime/rt
load ../lib/runtime/subid

setup_file() {
	rt_setup_file
	fixtures_setup_file umoci skopeo
	local fix
	fix=$(fixture_root)
	# the fixtures are read by the test user too
	[[ -d $fix ]] && chmod -R a+rX "$fix" 2>/dev/null
	chmod a+x "$(dirname "$fix")" 2>/dev/null || true
}

teardown_file() {
	rt_teardown_file
}

teardown() {
	[[ $EUID -ne 0 ]] || subid_restore
}

setup() {
	rt_setup
	require_cmd busybox siftool
	FIX=$(fixture_root)
	# every test has its own cache (owned by whoever builds)
	export LITHO_CACHEDIR=$WORK/cache
}

# build WHO ARGS...: `litho build ARGS` as WHO in $WORK.
build() {
	local who=$1
	shift
	lrun "$who" build "$@"
}

# build_ok WHO ARGS...: the build must succeed.
build_ok() {
	build "$@"
	if [[ $status -ne 0 ]]; then
		echo "litho build ${*:2} as $1 failed ($status):" >&2
		echo "$stderr" >&2
		return 1
	fi
	refute_crash_output "$stderr"
}

# build_fails WHO PATTERN ARGS...: the build must fail with PATTERN in stderr, leaving nothing.
build_fails() {
	local who=$1 pattern=$2
	shift 2
	build "$who" "$@"
	if [[ $status -eq 0 || $stderr != *$pattern* ]]; then
		echo "expected a failure with '$pattern', got status $status:" >&2
		echo "$stderr" >&2
		return 1
	fi
	refute_crash_output "$stderr"
}

# A def with every section on the host's busybox.
write_full_def() {
	mkdir -p "in dir" data
	echo "one" >"in dir/a file.txt"
	echo "two" >data/b.txt
	echo "three" >data/c.txt
	cat >full.def <<-'EOF'
		Bootstrap: busybox

		%setup
		    echo "setup $(id -u)" > "$APPTAINER_ROOTFS/setup.txt"
		    test -d "$SINGULARITY_ROOTFS/bin"

		%files
		    "in dir/a file.txt" /opt/a.txt
		    data/*.txt /opt/data/
		    data/b.txt

		%post -c /bin/sh
		    echo "post uid=$(id -u)" > /post.txt
		    chown 1234:1234 /post.txt
		    echo 'export FROM_POST=set-in-post' >> "$APPTAINER_ENVIRONMENT"
		    echo "post.label from-post" >> "$APPTAINER_LABELS"
		    test -z "$HOME_IS_CLEAN" && echo clean-env >> /post.txt
		    cat /etc/resolv.conf > /resolv.txt

		%environment
		    export GREETING="hello world"

		%runscript
		    echo "run: $GREETING $FROM_POST [$*]"

		%startscript
		    echo started

		%test
		    grep -q "post uid=0" /post.txt

		%labels
		    Maintainer someone
		    Version 1.2

		%help
		    This image says hello.
	EOF
}

# check_full WHO [subids|single]: the full def built as WHO (for the user: with or without
# subordinate ids, set up for the test).
check_full() {
	local who=$1 mode=${2:-}
	need "$who"
	if [[ $who == user && -n $mode ]]; then
		[[ $EUID -eq 0 ]] || skip "changing /etc/subuid needs root"
		if [[ $mode == subids ]]; then
			command -v newuidmap >/dev/null || skip "newuidmap is not installed"
			subid_set "$RT_USER" 300000 65536
		else
			subid_clear "$RT_USER"
		fi
	fi
	write_full_def
	HOME_IS_CLEAN=no build_ok "$who" full.sif full.def
	[[ $stderr == *"Running post scriptlet"* && $stderr == *"Running testscript"* ]]
	# siftool reads it: Def.FILE, inspect JSON, the SquashFS
	run -0 siftool list full.sif
	[[ $output == *Def.FILE* && $output == *JSON.Generic* && $output == *Squashfs* ]]
	lrun "$who" run full.sif a b
	expect_ok
	expect_output "run: hello world set-in-post [a b]"
	lrun "$who" exec full.sif cat /setup.txt /post.txt /opt/a.txt /opt/data/b.txt \
		/opt/data/c.txt
	expect_ok
	[[ $output == "setup "*$'\npost uid=0\nclean-env\none\ntwo\nthree' ]]
	# %files without a destination: the same path inside
	lrun "$who" exec full.sif cat "$WORK/data/b.txt"
	expect_ok
	expect_output two
	# the host's resolv.conf was there for %post
	lrun "$who" exec full.sif cat /resolv.txt
	[[ $output == "$(cat /etc/resolv.conf)" ]]
	# metadata
	lrun "$who" inspect --labels full.sif
	[[ $output == *"Maintainer: someone"* && $output == *"Version: 1.2"* ]]
	[[ $output == *"post.label: from-post"* ]]
	[[ $output == *"org.label-schema.usage.singularity.deffile.bootstrap: busybox"* ]]
	lrun "$who" inspect --helpfile full.sif
	[[ $output == *"This image says hello."* ]]
	lrun "$who" inspect --deffile full.sif
	[[ $output == "$(cat full.def)" ]]
	lrun "$who" inspect --test full.sif
	[[ $output == *'grep -q "post uid=0" /post.txt'* ]]
	lrun "$who" exec full.sif cat /.singularity.d/startscript
	[[ $output == *"echo started"* ]]
	# owners as the image holds them (root reads them): root's and a subordinate-id build
	# keep %post's chown; with one id the chown was faked and everything is root's
	local want=$'1234:1234\n0:0\n0:0'
	[[ $who == user && $mode == single ]] && want=$'0:0\n0:0\n0:0'
	if [[ $EUID -eq 0 ]]; then
		lrun root exec full.sif stat -c %u:%g /post.txt /opt/a.txt /bin/busybox
		expect_output "$want"
	fi
}

@test "every section, busybox agent: root" { check_full root; }
@test "every section, busybox agent: user, subordinate ids" { check_full user subids; }
@test "every section, busybox agent: user, one id (seccomp)" { check_full user single; }

check_stages() {
	local who=$1
	need "$who"
	use_fixture umoci
	cat >stages.def <<-EOF
		Bootstrap: oci
		From: $FIX/layout:dup
		Stage: build

		%post
		    mkdir -p /out/sub
		    echo built > /out/sub/result
		    ln -s sub/result /out/link

		Bootstrap: busybox
		Stage: final

		%files from build
		    /out/sub/result /result
		    /out/link /copied-link
		    /out /everything/

		%runscript
		    cat /result
	EOF
	build_ok "$who" stages.sif stages.def
	lrun "$who" run stages.sif
	expect_ok
	expect_output built
	lrun "$who" exec stages.sif sh -c 'cat /copied-link /everything/out/sub/result; test -L /everything/out/link && echo link'
	expect_ok
	expect_output $'built\nbuilt\nlink'
	# only the last stage is the image
	lrun "$who" exec stages.sif test -e /data/new.txt
	[[ $status -ne 0 ]]
}

@test "two stages and %files from a stage: root" { check_stages root; }
@test "two stages and %files from a stage: user" { check_stages user; }

@test "SCIF apps: run --app, app environment, labels and help" {
	need root
	echo "app data" >appdata.txt
	cat >apps.def <<-'EOF'
		Bootstrap: busybox

		%appinstall tool
		    echo "installed in $(pwd)" > installed.txt

		%appfiles tool
		    appdata.txt data.txt

		%appenv tool
		    export TOOL_MODE=fast

		%apprun tool
		    echo "tool runs in $SCIF_APPNAME mode $TOOL_MODE: $*"
		    cat "$SCIF_APPROOT/installed.txt" "$SCIF_APPROOT/data.txt"

		%applabels tool
		    Purpose testing

		%apphelp tool
		    Tool help.

		%apprun other-app
		    echo other
	EOF
	build_ok root apps.sif apps.def
	lrun root run --app tool apps.sif x
	expect_ok
	expect_output $'tool runs in tool mode fast: x\ninstalled in /scif/apps/tool\napp data'
	lrun root run --app other-app apps.sif
	expect_ok
	expect_output other
	lrun root exec apps.sif cat /scif/apps/tool/scif/labels.json /scif/apps/tool/scif/runscript.help
	[[ $output == *'"Purpose": "testing"'* && $output == *"Tool help."* ]]
	lrun root exec apps.sif sh -c 'echo $SCIF_APPBIN_tool $SCIF_APPDATA_other_app'
	expect_output "/scif/apps/tool/bin /scif/data/other_app"
}

@test "build args: --build-arg, --build-arg-file, %arguments defaults; errors" {
	need root
	cat >args.def <<-'EOF'
		Bootstrap: busybox

		%arguments
		    GREETING=hello
		    WHO=nobody

		%runscript
		    # {{ NOT_TEMPLATED }} stays in a comment
		    echo "{{ GREETING }} {{WHO}} {{ EXTRA }}"
	EOF
	printf 'EXTRA=from-file\nWHO=file-who\n' >args.txt
	build_ok root a.sif args.def --build-arg WHO=cli-who --build-arg-file args.txt
	lrun root run a.sif
	expect_output "hello cli-who from-file"
	# the stored definition is the templated text
	lrun root inspect --deffile a.sif
	[[ $output == *'echo "hello cli-who from-file"'* ]]
	# undefined variable: file and line
	build_fails root "args.def:9:" b.sif args.def
	[[ $stderr == *EXTRA* ]]
	[[ ! -e b.sif ]]
	# unused build arg: an error, or a warning with --warn-unused-build-args
	build_fails root "unused build args: NOPE" c.sif args.def --build-arg-file args.txt \
		--build-arg NOPE=1
	build_ok root d.sif args.def --build-arg-file args.txt --build-arg NOPE=1 \
		--warn-unused-build-args
}

@test "broken definition files: FILE:LINE errors, nothing written" {
	need root
	printf 'From: x\n' >nobootstrap.def
	build_fails root "nobootstrap.def:1:" o.sif nobootstrap.def
	printf 'Bootstrap: busybox\nFrobnicate: yes\n' >badkey.def
	build_fails root "badkey.def:2:" o.sif badkey.def
	printf 'Bootstrap: nosuchagent\n' >badagent.def
	build_fails root "badagent.def:1:" o.sif badagent.def
	printf 'Bootstrap: busybox\n\n%%runscript\n  echo\n%%bogus\n  x\n' >badsection.def
	build_fails root "badsection.def:5:" o.sif badsection.def
	printf 'Bootstrap: busybox\n\n%%post\n  exit 3\n' >failpost.def
	build_fails root "failpost.def:3: %post failed with status 3" o.sif failpost.def
	printf 'Bootstrap: busybox\n\n%%test\n  false\n' >failtest.def
	build_fails root "%test failed with status 1" o.sif failtest.def
	# --notest skips it
	build_ok root t.sif failtest.def --notest
	printf 'Bootstrap: busybox\n\n%%files\n  /nonexistent/file /x\n' >nofile.def
	build_fails root "nofile.def:4:" o.sif nofile.def
	printf 'Bootstrap: oci\nFrom: %s/nothere:tag\n' "$WORK" >noimage.def
	build_fails root "nothere" o.sif noimage.def
	[[ -z $(ls -d o.sif* 2>/dev/null) ]]
	[[ -z $(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'litho-build-*' -newer nofile.def 2>/dev/null) ]]
}

@test "agents: oci, oci-archive, docker-archive, localimage SIF and sandbox, scratch" {
	need root
	use_fixture umoci
	local sk
	sk=$(fixture_root)/skopeo
	[[ -d $sk ]] || skip "no skopeo fixture"
	local agent from
	for agent in "oci $FIX/layout:dup" "oci-archive $sk/oci-archive.tar:dup" \
		"docker-archive $sk/docker-archive.tar"; do
		from=${agent#* }
		printf 'Bootstrap: %s\nFrom: %s\n\n%%post\n  touch /marker\n' "${agent%% *}" "$from" >a.def
		build_ok root "${agent%% *}.sif" a.def
		lrun root exec "${agent%% *}.sif" sh -c 'cat /data/new.txt; test -e /marker && echo marker'
		expect_output $'new data\nmarker'
	done
	# localimage: a SIF and a sandbox
	printf 'Bootstrap: localimage\nFrom: oci.sif\n\n%%post\n  touch /second\n' >l.def
	build_ok root l.sif l.def
	lrun root exec l.sif sh -c 'test -e /marker && test -e /second && echo both'
	expect_output both
	# the older definition moved to the history
	lrun root exec l.sif ls /.singularity.d/bootstrap_history
	expect_ok
	build_ok root --sandbox lsb l.def
	printf 'Bootstrap: localimage\nFrom: lsb\n\n%%runscript\n  echo from-sandbox\n' >s.def
	build_ok root s.sif s.def
	lrun root run s.sif
	expect_output from-sandbox
	# scratch: nothing but the skeleton and what %files brings
	cp "$(command -v busybox)" bb
	printf 'Bootstrap: scratch\n\n%%files\n  bb /bin/sh\n\n%%runscript\n  echo scratch-run\n' >scratch.def
	build_ok root scratch.sif scratch.def
	lrun root run scratch.sif
	expect_output scratch-run
	lrun root exec scratch.sif /bin/sh -c 'echo *'
	[[ $output != *data* ]]
}

@test "--sandbox output, --update with --section, --force" {
	need root
	printf 'Bootstrap: busybox\n\n%%post\n  echo one > /file\n\n%%runscript\n  cat /file\n' >s.def
	build_ok root --sandbox sb s.def
	[[ -d sb && $(cat sb/file) == one ]]
	build_fails root "already exists" --sandbox sb s.def
	printf 'Bootstrap: busybox\n\n%%post\n  echo two >> /file\n' >u.def
	build_ok root --sandbox --update --section post sb u.def
	[[ $(cat sb/file) == $'one\ntwo' ]]
	lrun root run sb
	expect_output $'one\ntwo'
	build_ok root --force --sandbox sb s.def
	[[ $(cat sb/file) == one ]]
	[[ -z $(ls -d sb.tmp.* 2>/dev/null) ]]
}

@test "fast path: a def adding only metadata to an image unpacks nothing" {
	need root
	use_fixture umoci
	cat >meta.def <<-EOF
		Bootstrap: oci
		From: $FIX/layout:dup

		%environment
		    export ADDED=yes

		%runscript
		    echo "added=\$ADDED"

		%labels
		    Kind metadata-only

		%test
		    test -e /data/new.txt
	EOF
	build_ok root fast.sif meta.def
	[[ $stderr == *"without unpacking"* && $stderr == *"Running testscript"* ]]
	lrun root run fast.sif
	expect_output "added=yes"
	lrun root inspect --labels fast.sif
	[[ $output == *"Kind: metadata-only"* && $output == *"org.example.name: umoci fixture"* ]]
	# the same def through the full path gives the same tree
	printf '\n%%post\n    true\n' >>meta.def
	build_ok root slow.sif meta.def
	[[ $stderr != *"without unpacking"* ]]
	lrun root exec slow.sif sh -c 'cat /data/new.txt; echo $ADDED'
	expect_output $'new data\nyes'
}

@test "build cache: unchanged inputs reuse the image; changed %files inputs rebuild" {
	need root
	echo v1 >input.txt
	printf 'Bootstrap: busybox\n\n%%files\n  input.txt /input.txt\n\n%%post\n  echo built >> /log\n' >c.def
	build_ok root one.sif c.def
	[[ $stderr == *"Running post scriptlet"* ]]
	build_ok root two.sif c.def
	[[ $stderr == *"unchanged"* && $stderr != *"Running post scriptlet"* ]]
	cmp one.sif two.sif
	lrun root cache list
	[[ $output == *"1 sif entry"* ]]
	echo v2 >input.txt
	build_ok root three.sif c.def
	[[ $stderr == *"Running post scriptlet"* ]]
	lrun root exec three.sif cat /input.txt
	expect_output v2
	build_ok root four.sif c.def --disable-cache
	[[ $stderr == *"Running post scriptlet"* ]]
	# a changed def (after templating) rebuilds too
	build_ok root five.sif c.def --build-arg-file /dev/null
	[[ $stderr == *"unchanged"* ]]
}
