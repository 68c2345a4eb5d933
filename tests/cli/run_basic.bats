#!/usr/bin/env bats
# litho run/exec/shell/test on the four kinds of image, as root and as an unprivileged user:
#   busybox  the Singularity 3.8 busybox SIF ($LITHO_INTEROP/images/busybox_amd64.sif)
#   plain    a SIF made with mksquashfs + `litho sif new/add`, no Apptainer metadata at all
#   oci      a SIF built by litho from an umoci image (Env, Entrypoint + Cmd)
#   sandbox  a directory with a /.singularity.d skeleton (runscript, test, env)
# plus the command-line errors (missing image, not a SIF, no primary partition, missing
# command) and the `#!/usr/bin/env run-singularity` launch line.
#
# Runs as root (CI); the tests for the user switch to it with runuser (see
# tests/lib/runtime/rt.bash).

load helpers
load ../lib/runtime/rt

setup_file() {
	rt_setup_file busybox plain oci sandbox noprim datapart
}

teardown_file() {
	rt_teardown_file
}

setup() {
	rt_setup
}

# --- exec ---------------------------------------------------------------------------------

check_exec_echo() {
	need "$1"
	use_image "$2"
	lrun "$1" exec "$IMG" echo hello 'two  words'
	expect_ok
	expect_output "hello two  words"
}

@test "exec echo: busybox SIF, root" { check_exec_echo root busybox; }
@test "exec echo: busybox SIF, user" { check_exec_echo user busybox; }
@test "exec echo: plain SIF (no metadata), root" { check_exec_echo root plain; }
@test "exec echo: plain SIF (no metadata), user" { check_exec_echo user plain; }
@test "exec echo: litho-built OCI SIF, root" { check_exec_echo root oci; }
@test "exec echo: litho-built OCI SIF, user" { check_exec_echo user oci; }
@test "exec echo: sandbox directory, root" { check_exec_echo root sandbox; }
@test "exec echo: sandbox directory, user" { check_exec_echo user sandbox; }

check_exec_args_stdin() {
	local who=$1
	need "$who"
	use_image plain
	lrun "$who" exec "$IMG" printf '[%s]\n' 'a  b' '$HOME' '*' $'x\ny' '' '"q"' "it's" '$(id)'
	expect_ok
	expect_output "[a  b]
[\$HOME]
[*]
[x
y]
[]
[\"q\"]
[it's]
[\$(id)]"
	run_split as "$who" sh -c 'printf "line1\nline2\n" | "$0" exec "$1" sh -c "cat; echo end"' \
		"$LITHO" "$IMG"
	expect_ok
	expect_output $'line1\nline2\nend'
	# a relative image path
	cd "$RT_IMG" || return 1
	lrun "$who" exec ./plain.sif echo relative
	expect_ok
	expect_output relative
}

@test "exec: arguments passed verbatim, stdin passed, relative image path, root" {
	check_exec_args_stdin root
}
@test "exec: arguments passed verbatim, stdin passed, relative image path, user" {
	check_exec_args_stdin user
}

# --- run ----------------------------------------------------------------------------------

check_run() {
	local who=$1
	need "$who"

	# Singularity 3.8 OCI runscript, CMD "sh": arguments replace the CMD
	if [[ -f $RT_IMG/busybox.sif ]]; then
		use_image busybox
		lrun "$who" run "$IMG" echo a b
		expect_ok
		expect_output "a b"
		run_split as "$who" sh -c 'echo "echo from-sh \$((6 * 7))" | "$0" run "$1"' "$LITHO" "$IMG"
		expect_ok
		expect_output "from-sh 42"
	fi

	# no runscript at all: /bin/sh gets the arguments
	use_image plain
	lrun "$who" run "$IMG" -c 'echo "$0:$1"' x y
	expect_ok
	expect_output "x:y"

	# litho's OCI runscript: ENTRYPOINT + CMD, arguments replace CMD
	use_image oci
	lrun "$who" run "$IMG"
	expect_ok
	expect_output "ep cmd1 two words"
	lrun "$who" run "$IMG" x 'y  z'
	expect_ok
	expect_output "ep x y  z"

	# a plain runscript gets the arguments as they are
	use_image sandbox
	lrun "$who" run "$IMG" a 'b  c'
	expect_ok
	expect_output "runscript: 2 args: a b  c"
}

@test "run: runscripts and arguments (4 images), root" { check_run root; }
@test "run: runscripts and arguments (4 images), user" { check_run user; }

# --- test ---------------------------------------------------------------------------------

check_test() {
	local who=$1 n
	need "$who"
	use_image sandbox
	lrun "$who" test "$IMG" arg1
	expect_status 7
	expect_output "sandbox test arg1"
	# no test script: success, nothing on stdout
	for n in busybox plain oci; do
		[[ $n != busybox || -f $RT_IMG/busybox.sif ]] || continue
		use_image "$n"
		lrun "$who" test "$IMG"
		expect_ok
		expect_output ""
	done
}

@test "test: test script status and output, no test script = 0, root" { check_test root; }
@test "test: test script status and output, no test script = 0, user" { check_test user; }

# --- shell --------------------------------------------------------------------------------

check_shell_heredoc() {
	local who=$1 n
	need "$who"
	for n in plain oci busybox sandbox; do
		[[ $n != busybox || -f $RT_IMG/busybox.sif ]] || continue
		use_image "$n"
		run_split as "$who" sh -c 'echo "echo hi; echo \$((6 * 7)); exit 5" | "$0" shell "$1"' \
			"$LITHO" "$IMG"
		expect_status 5 || fail "image $n" || return 1
		expect_output $'hi\n42' || fail "image $n" || return 1
	done
	use_image plain
	run_split as "$who" sh -c '"$0" shell "$1" <<-EOF
		echo here-doc \$(id -u)
		EOF' "$LITHO" "$IMG"
	expect_ok
	expect_output "here-doc $(who_uid "$who")"
}

@test "shell: commands from a pipe and a here-doc, root" { check_shell_heredoc root; }
@test "shell: commands from a pipe and a here-doc, user" { check_shell_heredoc user; }

# --- errors -------------------------------------------------------------------------------

check_missing_command() {
	local who=$1
	need "$who"
	use_image plain
	lrun "$who" exec "$IMG" no-such-cmd-xyz arg
	[[ $status -ne 0 ]] || fail "exec of a missing command succeeded" || return 1
	refute_crash_output "$output$stderr"
	expect_stderr_has "no-such-cmd-xyz"
	# an absolute path too
	lrun "$who" exec "$IMG" /opt/no-such-file
	[[ $status -ne 0 ]] || fail "exec of a missing file succeeded" || return 1
	expect_stderr_has "/opt/no-such-file"
}

@test "exec of a missing command: non-zero, message names it, root" { check_missing_command root; }
@test "exec of a missing command: non-zero, message names it, user" { check_missing_command user; }

# expect_image_error TEXT: the last lrun failed with Apptainer's fatal status 255, one clear
# message naming the image path, no usage text, no crash.
expect_image_error() {
	expect_status 255 || return 1
	refute_crash_output "$output$stderr" || return 1
	[[ -z $output ]] || fail "stdout should be empty: $output" || return 1
	expect_stderr_has "$1" || return 1
	if [[ $stderr == *Usage:* ]]; then
		fail "an image error should not print the usage text: $stderr"
	fi
}

check_bad_images() {
	local who=$1 cmd
	need "$who"
	echo "just text, not a SIF" >"$WORK/notsif.sif"
	head -c 4096 /dev/zero >"$WORK/zeros.sif"
	chmod 0644 "$WORK"/*.sif
	for cmd in exec run; do
		lrun "$who" "$cmd" "$WORK/missing.sif" true
		expect_image_error "$WORK/missing.sif" || return 1
		lrun "$who" "$cmd" "$WORK/notsif.sif" true
		expect_image_error "$WORK/notsif.sif" || return 1
		lrun "$who" "$cmd" "$WORK/zeros.sif" true
		expect_image_error "$WORK/zeros.sif" || return 1
		use_image noprim
		lrun "$who" "$cmd" "$IMG" true
		expect_image_error "$IMG" || return 1
		expect_stderr_has "primary" || return 1
		use_image datapart
		lrun "$who" "$cmd" "$IMG" true
		expect_image_error "$IMG" || return 1
		expect_stderr_has "primary" || return 1
	done
}

@test "missing image, non-SIF file, SIF without primary partition: status 255, clear message, root" {
	check_bad_images root
}
@test "missing image, non-SIF file, SIF without primary partition: status 255, clear message, user" {
	check_bad_images user
}

# --- #!/usr/bin/env run-singularity --------------------------------------------------------

check_launch_line() {
	local who=$1
	need "$who"
	use_image plain
	cd "$RT_IMG" || return 1
	[[ $(head -c 31 plain.sif) == "#!/usr/bin/env run-singularity" ]] ||
		fail "plain.sif lacks the launch line" || return 1
	run_split as "$who" env PATH="$RT_DIR/bin:$PATH" ./plain.sif -c 'echo "launched $0 $1"' x y
	expect_ok
	expect_output "launched x y"
	run_split as "$who" env PATH="$RT_DIR/bin:$PATH" ./plain.sif -c 'exit 42'
	expect_status 42
	use_image oci
	run_split as "$who" env PATH="$RT_DIR/bin:$PATH" ./oci.sif a b
	expect_ok
	expect_output "ep a b"
	if [[ -f busybox.sif ]]; then
		run_split as "$who" env PATH="$RT_DIR/bin:$PATH" ./busybox.sif echo from busybox
		expect_ok
		expect_output "from busybox"
	fi
}

@test "./image.sif ARGS through run-singularity on PATH, root" { check_launch_line root; }
@test "./image.sif ARGS through run-singularity on PATH, user" { check_launch_line user; }

@test "meson install puts run-singularity beside litho, and a SIF runs through the installed pair" {
	require_cmd meson
	local built=${LITHO_BUILT:-$LITHO}
	local builddir=${built%/src/cli/litho}
	[[ -f $builddir/build.ninja ]] || skip "$built is not in a meson build folder"
	local dest=$BATS_TEST_TMPDIR/dest bin
	run meson install -C "$builddir" --no-rebuild --quiet --destdir "$dest"
	[[ $status -eq 0 ]] || fail "meson install: $output" || return 1
	bin=$(dirname "$(find "$dest" -name litho -type f)")
	[[ $(readlink "$bin/run-singularity") == litho ]] ||
		fail "no run-singularity -> litho in $bin" || return 1
	use_image plain
	cd "$RT_IMG" || return 1
	run_split as root env PATH="$bin:$PATH" ./plain.sif -c 'echo "installed $0"' x
	expect_ok
	expect_output "installed x"
}

# --- the runtime variables ------------------------------------------------------------------

check_runtime_vars() {
	local who=$1
	need "$who"
	use_image plain
	lrun "$who" exec "$IMG" sh -c \
		'echo "$APPTAINER_CONTAINER|$APPTAINER_NAME|$SINGULARITY_CONTAINER|$SINGULARITY_NAME|$APPTAINER_COMMAND"'
	expect_ok
	expect_output "$IMG|plain.sif|$IMG|plain.sif|exec"
	lrun "$who" run "$IMG" -c 'echo $APPTAINER_COMMAND'
	expect_ok
	expect_output "run"
}

@test "APPTAINER_/SINGULARITY_ CONTAINER, NAME, COMMAND inside, root" { check_runtime_vars root; }
@test "APPTAINER_/SINGULARITY_ CONTAINER, NAME, COMMAND inside, user" { check_runtime_vars user; }

# --- /dev/fuse not accessible ---------------------------------------------------------------

@test "user, /dev/fuse mode 0600: a clear warning, and the image still runs" {
	need user
	[[ $EUID -eq 0 ]] || skip "needs root to change /dev/fuse"
	[[ -e /dev/fuse ]] || skip "no /dev/fuse"
	if [[ ${BATS_NUMBER_OF_PARALLEL_JOBS:-1} -gt 1 ]]; then
		skip "changes /dev/fuse: not with parallel jobs"
	fi
	use_image plain
	local mode
	mode=$(stat -c %a /dev/fuse)
	chmod 0600 /dev/fuse
	lrun user exec "$IMG" echo still runs
	chmod "$mode" /dev/fuse
	expect_ok
	expect_output "still runs"
	expect_stderr_has "/dev/fuse"
	# the fallback sandbox is gone
	[[ -z $(find "$(who_tmp user)" -mindepth 1 -maxdepth 1 -name 'litho-unsquash*') ]] ||
		fail "a temporary sandbox was left in $(who_tmp user)"
}

@test "--unsquash: the image runs from a temporary sandbox, removed afterwards, user" {
	need user
	use_image plain
	lrun user exec --unsquash "$IMG" sh -c 'echo unsquashed; grep -c fuse.squashfs /proc/mounts'
	expect_status 1 # grep counts no FUSE mount: the files come from the sandbox
	expect_output $'unsquashed\n0'
	[[ -z $(find "$(who_tmp user)" -mindepth 1 -maxdepth 1 -name 'litho-unsquash*') ]] ||
		fail "a temporary sandbox was left in $(who_tmp user)"
}
