#!/usr/bin/env bats
# A Debian image from scratch with the debootstrap agent and packages installed by apt-get in
# %post, built as root and as the unprivileged test user (fake root: with the user's
# subordinate ids, and with only its own id and the seccomp filter). Needs the network to a
# Debian mirror (LITHO_TEST_DEBIAN_MIRROR, default http://deb.debian.org/debian); skipped when it
# cannot be reached. Set LITHO_TEST_NO_NETWORK=1 to skip it.

# shellcheck disable=SC2154 # status, output and stderr are set by run_split
load helpers
load ../lib/build_common
load ../lib/runtime/rt
load ../lib/runtime/subid

MIRROR=${LITHO_TEST_DEBIAN_MIRROR:-http://deb.debian.org/debian}

setup_file() {
	rt_setup_file
}

teardown_file() {
	rt_teardown_file
}

setup() {
	rt_setup
	[[ -z ${LITHO_TEST_NO_NETWORK:-} ]] || skip "LITHO_TEST_NO_NETWORK is set"
	require_cmd debootstrap siftool
	curl -fsS -m 10 -o /dev/null "$MIRROR/dists/bookworm/Release" 2>/dev/null ||
		skip "the Debian mirror $MIRROR cannot be reached"
	export LITHO_CACHEDIR=$WORK/cache
	cat >debian.def <<-EOF
		Bootstrap: debootstrap
		OSVersion: bookworm
		MirrorURL: $MIRROR
		Include: ca-certificates

		%post
		    apt-get update
		    apt-get install -y --no-install-recommends hello
		    useradd -m -u 1500 alice
		    echo "alice's" > /home/alice/file
		    chown alice:alice /home/alice/file
		    apt-get clean

		%runscript
		    exec hello "\$@"

		%test
		    hello | grep -q "Hello, world"
	EOF
}

teardown() {
	[[ $EUID -ne 0 ]] || subid_restore
}

# check_debian WHO [subids|single]
check_debian() {
	local who=$1 mode=${2:-}
	need "$who"
	if [[ $who == user ]]; then
		[[ $EUID -eq 0 ]] || skip "changing /etc/subuid needs root"
		if [[ $mode == subids ]]; then
			command -v newuidmap >/dev/null || skip "newuidmap is not installed"
			subid_set "$RT_USER" 400000 65536
		else
			subid_clear "$RT_USER"
		fi
	fi
	lrun "$who" build debian.sif debian.def
	if [[ $status -ne 0 ]]; then
		echo "$stderr" | tail -30 >&2
		return 1
	fi
	[[ $stderr == *"Running testscript"* ]]
	run -0 siftool list debian.sif
	[[ $output == *Squashfs* ]]
	lrun "$who" run debian.sif
	expect_ok
	expect_output "Hello, world!"
	lrun "$who" exec debian.sif sh -c '. /etc/os-release; echo $VERSION_CODENAME; id -u alice'
	expect_output $'bookworm\n1500'
	if [[ $EUID -eq 0 ]]; then
		# owners as the image holds them: real ones from root and with subordinate ids;
		# with one id every file is root's
		local want=$'1500:1500\n0:0\n0:42'
		[[ $who == user && $mode == single ]] && want=$'0:0\n0:0\n0:0'
		lrun root exec debian.sif stat -c %u:%g /home/alice/file /usr/bin/hello /etc/shadow
		expect_output "$want"
	fi
	# unchanged inputs: the build cache answers at once
	lrun "$who" build again.sif debian.def
	expect_ok
	[[ $stderr == *unchanged* ]]
	cmp debian.sif again.sif
}

@test "debootstrap + apt-get in %post: root" { check_debian root; }
@test "debootstrap + apt-get in %post: user with subordinate ids" { check_debian user subids; }
@test "debootstrap + apt-get in %post: user with one id (seccomp)" { check_debian user single; }
