#!/usr/bin/env bats
# The container environment, as root and as an unprivileged user (Apptainer's rules, compat.md
# §5.2): host env < image ENV (Docker Env through 10-docker2singularity.sh) < APPTAINERENV_FOO
# (SINGULARITYENV_FOO below it) < --env-file < --env; the PATH rules (host PATH never
# forwarded, image PATH, APPTAINERENV_PATH / PREPEND_PATH / APPEND_PATH); --cleanenv and
# --containall.
#
# Images: oci (litho-built: Env PATH=/opt/tool/bin:..., FOO=image, IMGONLY=from-image), plain
# (no metadata), busybox (Singularity 3.8).

load helpers
load ../lib/runtime/rt

DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
IMAGE_PATH=/opt/tool/bin:$DEFAULT_PATH

setup_file() {
	rt_setup_file oci plain busybox sandbox
}

teardown_file() {
	rt_teardown_file
}

setup() {
	rt_setup
	# variables of the caller that would change the results
	unset FOO BAR IMGONLY HOSTONLY FILEONLY
	unset "${!APPTAINERENV_@}" "${!SINGULARITYENV_@}" APPTAINER_BIND LITHO_BIND SINGULARITY_BIND
}

# in WHO IMAGE VAR...: prints VAR=value for each VAR inside (exec, no options), through lrun.
# Extra options for litho go in the array OPTS.
OPTS=()
in_env() {
	local who=$1 img=$2 script="" v
	shift 2
	for v in "$@"; do
		script+="echo \"$v=\${$v-<unset>}\"; "
	done
	lrun "$who" exec "${OPTS[@]}" "$img" sh -c "$script"
}

check_precedence() {
	local who=$1
	need "$who"
	use_image oci
	export FOO=host IMGONLY=host HOSTONLY=from-host
	# host < image ENV; a host variable the image does not set passes
	OPTS=()
	in_env "$who" "$IMG" FOO IMGONLY HOSTONLY
	expect_ok
	expect_output $'FOO=image\nIMGONLY=from-image\nHOSTONLY=from-host'
	# SINGULARITYENV_ < APPTAINERENV_, both above the image
	SINGULARITYENV_FOO=senv in_env "$who" "$IMG" FOO
	expect_ok
	expect_output "FOO=senv"
	SINGULARITYENV_FOO=senv APPTAINERENV_FOO=aenv in_env "$who" "$IMG" FOO
	expect_ok
	expect_output "FOO=aenv"
	# < --env-file
	printf '# a comment\nFOO=fromfile\nBAR=fromfile\nFILEONLY="quoted value"\n' >"$WORK/envfile"
	chmod 0644 "$WORK/envfile"
	OPTS=(--env-file "$WORK/envfile")
	APPTAINERENV_FOO=aenv APPTAINERENV_BAR=aenv in_env "$who" "$IMG" FOO BAR FILEONLY
	expect_ok
	expect_output $'FOO=fromfile\nBAR=fromfile\nFILEONLY=quoted value'
	# < --env (the last --env of a name wins); the rest of the file still applies
	OPTS=(--env-file "$WORK/envfile" --env FOO=cli1 --env FOO=cli --env 'NEW=a b')
	APPTAINERENV_FOO=aenv in_env "$who" "$IMG" FOO BAR NEW IMGONLY HOSTONLY
	expect_ok
	expect_output $'FOO=cli\nBAR=fromfile\nNEW=a b\nIMGONLY=from-image\nHOSTONLY=from-host'
	# --env alone beats APPTAINERENV_
	OPTS=(--env FOO=cli)
	APPTAINERENV_FOO=aenv in_env "$who" "$IMG" FOO
	expect_ok
	expect_output "FOO=cli"
	OPTS=()
}

@test "env precedence: host < image ENV < APPTAINERENV_ < --env-file < --env, root" {
	check_precedence root
}
@test "env precedence: host < image ENV < APPTAINERENV_ < --env-file < --env, user" {
	check_precedence user
}

check_precedence_busybox() {
	local who=$1
	need "$who"
	use_image busybox
	OPTS=()
	# 10-docker2singularity.sh of Singularity 3.8 sets PATH; the host's PATH never gets in
	PATH="/host-only-bin:$PATH" HOSTONLY=yes in_env "$who" "$IMG" PATH HOSTONLY
	expect_ok
	expect_output $'PATH='"$DEFAULT_PATH"$'\nHOSTONLY=yes'
	APPTAINERENV_HOSTONLY=aenv HOSTONLY=yes in_env "$who" "$IMG" HOSTONLY
	expect_ok
	expect_output "HOSTONLY=aenv"
}

@test "env: Singularity 3.8 image (10-docker2singularity.sh), root" { check_precedence_busybox root; }
@test "env: Singularity 3.8 image (10-docker2singularity.sh), user" { check_precedence_busybox user; }

check_path_rules() {
	local who=$1
	need "$who"
	OPTS=()
	# no metadata: the default PATH, never the host's
	use_image plain
	PATH="/host-only-bin:$PATH" in_env "$who" "$IMG" PATH
	expect_ok
	expect_output "PATH=$DEFAULT_PATH"
	# the image's PATH, and a command found through it
	use_image oci
	PATH="/host-only-bin:$PATH" in_env "$who" "$IMG" PATH
	expect_ok
	expect_output "PATH=$IMAGE_PATH"
	lrun "$who" exec "$IMG" imgtool
	expect_ok
	expect_output tool
	# APPTAINERENV_PREPEND_PATH / APPEND_PATH around the image's PATH
	APPTAINERENV_PREPEND_PATH=/pre APPTAINERENV_APPEND_PATH=/app in_env "$who" "$IMG" PATH
	expect_ok
	expect_output "PATH=/pre:$IMAGE_PATH:/app"
	# APPTAINERENV_PATH replaces it
	APPTAINERENV_PATH=/only:/bin in_env "$who" "$IMG" PATH
	expect_ok
	expect_output "PATH=/only:/bin"
	# the same through --env
	OPTS=(--env PREPEND_PATH=/pre2 --env APPEND_PATH=/app2)
	in_env "$who" "$IMG" PATH
	expect_ok
	expect_output "PATH=/pre2:$IMAGE_PATH:/app2"
	# the default PATH for an image without one, plus PREPEND_PATH
	use_image plain
	OPTS=()
	APPTAINERENV_PREPEND_PATH=/pre in_env "$who" "$IMG" PATH
	expect_ok
	expect_output "PATH=/pre:$DEFAULT_PATH"
}

@test "PATH: host PATH not forwarded, image PATH, PATH / PREPEND_PATH / APPEND_PATH, root" {
	check_path_rules root
}
@test "PATH: host PATH not forwarded, image PATH, PATH / PREPEND_PATH / APPEND_PATH, user" {
	check_path_rules user
}

check_cleanenv() {
	local who=$1 opt
	need "$who"
	use_image oci
	export FOOHOST=from-host TERM=xterm-litho LANG=C.UTF-8 OTHERHOST=x
	for opt in --cleanenv -e --containall -C; do
		OPTS=("$opt")
		APPTAINERENV_AV=aenv in_env "$who" "$IMG" FOOHOST TERM LANG OTHERHOST HOME FOO AV PATH
		expect_ok
		expect_output "FOOHOST=<unset>
TERM=xterm-litho
LANG=C
OTHERHOST=<unset>
HOME=$(who_home "$who")
FOO=image
AV=aenv
PATH=$IMAGE_PATH" || fail "with $opt" || return 1
	done
	# --env still applies
	OPTS=(-e --env FOO=cli)
	in_env "$who" "$IMG" FOO FOOHOST
	expect_ok
	expect_output $'FOO=cli\nFOOHOST=<unset>'
	# without it, the host variable is there
	OPTS=()
	in_env "$who" "$IMG" FOOHOST LANG
	expect_ok
	expect_output $'FOOHOST=from-host\nLANG=C.UTF-8'
}

@test "--cleanenv, -e, --containall, -C: host vars gone, TERM kept, LANG=C, root" {
	check_cleanenv root
}
@test "--cleanenv, -e, --containall, -C: host vars gone, TERM kept, LANG=C, user" {
	check_cleanenv user
}

# The environment phase runs in C when the image's scripts allow it, and through the image's
# /bin/sh otherwise; both give the same environment.
check_evaluator() {
	local who=$1
	need "$who"
	use_image sandbox
	cp -a "$IMG" "$WORK/sb"
	mkdir -p "$WORK/sb/.singularity.d/env"
	printf '#!/bin/sh\nexport PLAIN="a b"\nexport LIST="${PLAIN}:x"\n' \
		>"$WORK/sb/.singularity.d/env/90-environment.sh"
	# --env values are injected after 99-base.sh, as in Apptainer (none without it)
	printf '#!/bin/sh\n' >"$WORK/sb/.singularity.d/env/99-base.sh"
	chmod -R a+rX "$WORK/sb"
	[[ $EUID -ne 0 || $who == root ]] || chown -R "$RT_UID:$RT_GID" "$WORK/sb"
	local c s ids
	# $UID, $EUID and $GID are the shell variables of Apptainer's interpreter (dash has none)
	ids=$(who_uid "$who"):$(who_uid "$who"):$(if [[ $who == root ]]; then echo 0; else echo "$RT_GID"; fi)
	lrun "$who" exec --env FOO=bar --env 'IDS=$UID:$EUID:$GID' "$WORK/sb" env
	expect_ok
	c=$(sort <<<"$output")
	[[ $c == *"PLAIN=a b"* && $c == *"LIST=a b:x"* && $c == *"FOO=bar"* && $c == *"IDS=$ids"* &&
		$c != *$'\nUID='* ]] || fail "C evaluator: $c" || return 1
	LITHO_ACTION_SHELL=1 lrun "$who" exec --env FOO=bar --env 'IDS=$UID:$EUID:$GID' "$WORK/sb" env
	expect_ok
	s=$(sort <<<"$output")
	if [[ $c != "$s" ]]; then
		diff <(echo "$c") <(echo "$s") >&2
		fail "the environment differs between the C evaluator and the image's shell"
	fi
	# a command substitution needs the shell: still right
	printf '#!/bin/sh\nexport COMPUTED="$(echo com)puted"\n' \
		>"$WORK/sb/.singularity.d/env/91-environment.sh"
	chmod a+r "$WORK/sb/.singularity.d/env/91-environment.sh"
	in_env "$who" "$WORK/sb" COMPUTED PLAIN
	expect_ok
	expect_output $'COMPUTED=computed\nPLAIN=a b'
}

@test "env: the C evaluator and the image's shell agree; a shell is used when needed, root" {
	check_evaluator root
}
@test "env: the C evaluator and the image's shell agree; a shell is used when needed, user" {
	check_evaluator user
}

# APPTAINERENV_ values are evaluated by the container's shell, where UID, EUID and GID exist
# (Apptainer's e2e apptainerEnvEval table), in the C evaluator and in the image's shell alike;
# --no-eval passes them literally.
check_uid_eval() {
	local who=$1 uid
	need "$who"
	use_image plain
	uid=$(who_uid "$who")
	local -a cases=('$UID' "$uid" '"$UID"' "\"$uid\"" "'\$UID'" "'$uid'" '\$UID' '$UID'
		'$(id -u)' "$uid" '\$(id -u)' '$(id -u)')
	local i v want sh
	for sh in "" 1; do
		for ((i = 0; i < ${#cases[@]}; i += 2)); do
			v=${cases[i]}
			want=${cases[i + 1]}
			LITHO_ACTION_SHELL=$sh APPTAINERENV_WHO=$v lrun "$who" exec "$IMG" sh -c 'echo "$WHO"'
			expect_ok
			[[ $output == "$want" ]] ||
				fail "APPTAINERENV_WHO=$v (shell: ${sh:-no}): '$output', want '$want'" ||
				return 1
		done
	done
	APPTAINERENV_WHO='$UID' lrun "$who" exec --no-eval "$IMG" sh -c 'echo "$WHO"; env | grep -c "^UID=" || true'
	expect_output $'$UID\n0'
}

@test "env: APPTAINERENV_X=\$UID and the like are expanded inside as in Apptainer, root" {
	check_uid_eval root
}
@test "env: APPTAINERENV_X=\$UID and the like are expanded inside as in Apptainer, user" {
	check_uid_eval user
}

check_no_env() {
	local who=$1
	need "$who"
	use_image plain
	FOO=foo BAR=bar TERM=xterm lrun "$who" exec --no-env FOO,TERM "$IMG" sh -c 'echo "[$FOO][$BAR][$TERM]"'
	expect_ok
	expect_output "[][bar][xterm]" || return 1
	FOO=foo BAR=bar APPTAINER_NOENV=FOO,BAR lrun "$who" exec "$IMG" sh -c 'echo "[$FOO][$BAR]"'
	expect_output "[][]" || return 1
	FOO=foo APPTAINERENV_FOO=Bar lrun "$who" exec --no-env FOO "$IMG" sh -c 'echo "[$FOO]"'
	expect_output "[Bar]"
}

@test "env: --no-env and APPTAINER_NOENV keep host variables out, APPTAINERENV_ still wins, root" {
	check_no_env root
}
@test "env: --no-env and APPTAINER_NOENV keep host variables out, APPTAINERENV_ still wins, user" {
	check_no_env user
}

check_runscript_timeout() {
	local who=$1
	need "$who"
	use_image plain
	printf 'sleep 2s\n' >"$WORK/slow.sh"
	chmod 0644 "$WORK/slow.sh"
	local t0=$SECONDS
	lrun "$who" run --runscript-timeout 500ms -B "$WORK/slow.sh:/.singularity.d/env/91-slow_env.sh" \
		"$IMG" -c true
	expect_status 255 || return 1
	expect_stderr_has 'FATAL:' || return 1
	expect_stderr_has 'command "sleep 2s" was killed after 500ms timeout' || return 1
	((SECONDS - t0 < 2)) || fail "the timeout took $((SECONDS - t0)) s" || return 1
	no_procs_matching "sleep 2s" || return 1
	# with a PID namespace too; a longer deadline lets the script finish
	lrun "$who" run -p --runscript-timeout 1s -B "$WORK/slow.sh:/.singularity.d/env/91-slow_env.sh" \
		"$IMG" -c true
	expect_status 255 || return 1
	expect_stderr_has 'command "sleep 2s" was killed after 1s timeout' || return 1
	printf 'sleep 0.2\n' >"$WORK/slow.sh"
	lrun "$who" run --runscript-timeout 1m -B "$WORK/slow.sh:/.singularity.d/env/91-slow_env.sh" \
		"$IMG" -c 'echo done'
	expect_ok
	expect_output done || return 1
	lrun "$who" run --runscript-timeout 5 "$IMG" -c true
	expect_status 255 || return 1
	expect_stderr_has 'time: missing unit in duration "5"' || return 1
	lrun "$who" exec --runscript-timeout 5s "$IMG" true
	expect_status 1
}

@test "env: --runscript-timeout kills a slow env script, Apptainer's message, 255, root" {
	check_runscript_timeout root
}
@test "env: --runscript-timeout kills a slow env script, Apptainer's message, 255, user" {
	check_runscript_timeout user
}
