#!/usr/bin/env bats
# Apptainer's command line, as a script sees it: every command with --help and -h, exit
# statuses (255 and FATAL: for fatal errors, 1 for usage errors), build errors, the commands
# capability, oci, plugin, remote (a library endpoint served on 127.0.0.1) and search, the
# --unsquash message, build --writable-tmpfs, and SCIF apps read from SIF images.
#
# Images: plain (a SIF, busybox-static); apps.sif (built in setup_file from plain.sif by a
# definition file with two SCIF apps).

load helpers
load ../lib/runtime/rt

setup_file() {
	rt_setup_file plain
	if [[ -f $RT_IMG/plain.sif ]]; then
		cat >"$RT_IMG/apps.def" <<DEF
Bootstrap: localimage
From: $RT_IMG/plain.sif

%apprun foo
    echo running foo "\$@"

%applabels foo
    FOOLABEL bar

%apphelp foo
    This is foo's help.

%appenv foo
    FOOVAR=1
    export FOOVAR

%apptest foo
    echo foo test

%appinstall bar
    echo installed >/scif/apps/bar/done
DEF
		"$LITHO" -q build "$RT_IMG/apps.sif" "$RT_IMG/apps.def" >"$RT_IMG/apps.log" 2>&1 &&
			chmod 0644 "$RT_IMG/apps.sif"
	fi
}

teardown_file() {
	rt_teardown_file
}

setup() {
	rt_setup
	use_image plain
	export LITHO_CONFIGDIR=$WORK/config LITHO_SYSCONFDIR=$WORK/etc
}

teardown() {
	if [[ -n ${SERVER_PID:-} ]]; then
		kill "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null || true
	fi
}

# --- help and exit statuses -----------------------------------------------------------------

@test "every command has --help and -h (status 0, text on stdout), also as help COMMAND" {
	local c
	for c in build pull push run exec shell test inspect run-help registry cache sif \
		capability caps oci plugin plugins remote search version; do
		run_split "$LITHO" "$c" --help
		[[ $status -eq 0 && -n $output ]] || fail "$c --help: $status $stderr" || return 1
		run_split "$LITHO" "$c" -h
		[[ $status -eq 0 && -n $output ]] || fail "$c -h: $status $stderr" || return 1
	done
	run_split "$LITHO" help remote
	[[ $status -eq 0 && $output == *"Manage apptainer remote endpoints"* ]] || fail "help remote"
}

@test "exit statuses: usage errors 1 (exec without a command), fatal errors 255 with FATAL:" {
	run_split "$LITHO" exec "$IMG"
	expect_status 1 || return 1
	expect_stderr_has 'requires at least 2 arg(s), only received 1' || return 1
	expect_stderr_has 'litho [global options...] exec [exec options...] <container> <command>' ||
		return 1
	local args
	for args in "" "run" "exec --bogus $IMG true" "nosuchcommand" "inspect" "run-help" \
		"sif dump"; do
		# shellcheck disable=SC2086
		run_split "$LITHO" $args
		[[ $status -eq 1 ]] || fail "litho $args: status $status, not 1" || return 1
	done
	run_split "$LITHO" exec "$WORK/missing.sif" true
	expect_status 255 || return 1
	expect_stderr_has "FATAL:   " || return 1
	run_split "$LITHO" run-help "$WORK/missing.sif"
	expect_status 255 || return 1
	expect_stderr_has "FATAL:   container not found: $WORK/missing.sif" || return 1
	run_split "$LITHO" inspect "$WORK/missing.sif"
	expect_status 255 || return 1
	# Apptainer's sif commands hand their errors to cobra: 1
	run_split "$LITHO" sif dump 99 "$IMG"
	expect_status 1 || return 1
	# the container's own status is its own
	run_split "$LITHO" exec "$IMG" sh -c 'exit 255'
	expect_status 255 || return 1
	run_split "$LITHO" exec "$IMG" sh -c 'exit 2'
	expect_status 2
}

@test "build: an undefined or unused build argument and a missing source are fatal (255)" {
	cat >"$WORK/var.def" <<DEF
Bootstrap: localimage
From: $IMG

%post
    echo {{ FOO }} >/foo
DEF
	run_split "$LITHO" build "$WORK/o.sif" "$WORK/var.def"
	expect_status 255 || return 1
	expect_stderr_has "'FOO' is not defined" || return 1
	run_split "$LITHO" build --build-arg FOO=1 --build-arg BAR=2 "$WORK/o.sif" "$WORK/var.def"
	expect_status 255 || return 1
	expect_stderr_has "unused build args: BAR" || return 1
	[[ ! -e $WORK/o.sif ]] || fail "a failed build left its output" || return 1
	run_split "$LITHO" build --warn-unused-build-args --build-arg FOO=1 --build-arg BAR=2 \
		"$WORK/o.sif" "$WORK/var.def"
	expect_ok
	expect_stderr_has "WARNING: " || return 1
	run_split "$LITHO" build "$WORK/x.sif" "$WORK/nothere.def"
	expect_status 255 || return 1
	expect_stderr_has "unable to open file $WORK/nothere.def"
}

@test "build --writable-tmpfs: %test may write, nothing reaches the image" {
	cat >"$WORK/t.def" <<DEF
Bootstrap: localimage
From: $IMG

%test
    touch /written-by-test && echo test wrote
DEF
	run_split "$LITHO" build "$WORK/t.sif" "$WORK/t.def"
	expect_status 255 || return 1
	expect_stderr_has "Read-only file system" || return 1
	run_split "$LITHO" build --writable-tmpfs "$WORK/t.sif" "$WORK/t.def"
	expect_ok
	[[ $output$stderr == *"test wrote"* ]] || fail "%test did not run: $output $stderr" || return 1
	run_split "$LITHO" exec "$WORK/t.sif" ls /written-by-test
	expect_status 1
}

check_unsquash() {
	local who=$1
	need "$who"
	lrun "$who" exec --unsquash "$IMG" true
	expect_ok
	expect_stderr_has "INFO:    Converting SIF file to temporary sandbox..."
}

@test "--unsquash: Apptainer's message, root" { check_unsquash root; }
@test "--unsquash: Apptainer's message, user" { check_unsquash user; }

# --- capability, plugin, oci ----------------------------------------------------------------

check_commands() {
	local who=$1
	need "$who"
	lrun "$who" capability avail net_raw,CAP_CHOWN
	expect_ok
	[[ $output == "CAP_CHOWN:             CAP_CHOWN"* && $output == *"CAP_NET_RAW:"* ]] ||
		fail "avail: $output" || return 1
	lrun "$who" caps avail
	[[ $(grep -c '^CAP_' <<<"$output") -ge 41 ]] || fail "avail lists $output" || return 1
	lrun "$who" capability avail foo
	expect_status 255 || return 1
	expect_stderr_has "unknown capabilities found in: CAP_FOO" || return 1
	lrun "$who" capability list
	expect_status 255 || return 1
	expect_stderr_has "no capability set for users or groups" || return 1
	lrun "$who" capability add -u root CAP_CHOWN
	expect_status 255 || return 1
	if [[ $who == user ]]; then
		expect_stderr_has "only root user can manage capabilities" || return 1
	fi
	lrun "$who" capability
	expect_status 1 || return 1
	expect_stderr_has "invalid command" || return 1
	lrun "$who" plugin list
	expect_ok
	expect_output "There are no plugins installed." || return 1
	lrun "$who" plugin install x.sif
	expect_status 255 || return 1
	expect_stderr_has "does not support Apptainer plugins" || return 1
	lrun "$who" oci mount "$IMG" "$WORK/bundle"
	expect_status 255 || return 1
	if [[ $who == user ]]; then
		expect_stderr_has '"litho oci mount" command requires root privileges'
	else
		expect_stderr_has "not supported"
	fi
	lrun "$who" oci
	expect_ok
}

@test "capability avail/list/add, plugin list, oci: Apptainer's messages and statuses, root" {
	check_commands root
}
@test "capability avail/list/add, plugin list, oci: Apptainer's messages and statuses, user" {
	check_commands user
}

# --- remote and search ----------------------------------------------------------------------

# start_library: a library endpoint on 127.0.0.1 ($LIB = host:port); TOKEN is its token.
start_library() {
	TOKEN=$(printf 't%.0s' {1..220})
	"$PYTHON" "$BATS_TEST_DIRNAME/../lib/remote/library_server.py" "$WORK/port" "$TOKEN" \
		"$WORK/requests.log" &
	SERVER_PID=$!
	wait_for_file "$WORK/port" 10 || return 1
	LIB=127.0.0.1:$(<"$WORK/port")
}

@test "remote: add, use, list, login, status, logout, remove in remote.yaml; search" {
	start_library
	local y=$WORK/config/remote.yaml
	# a stock installation: a global DefaultRemote without a library
	run_split "$LITHO" remote list
	expect_ok
	[[ $output == *"DefaultRemote  cloud.apptainer.org"* ]] || fail "list: $output" || return 1
	run_split "$LITHO" search alpine
	expect_status 255 || return 1
	expect_stderr_has "remote has no library client" || return 1
	run_split "$LITHO" remote add lab "http://$LIB"
	expect_status 255 || return 1
	expect_stderr_has "http URI requires --insecure or APPTAINER_ADD_INSECURE=true" || return 1
	printf '%s\n' "$TOKEN" >"$WORK/token"
	run_split "$LITHO" remote add -i --tokenfile "$WORK/token" lab "http://$LIB/"
	expect_ok
	expect_stderr_has 'Remote "lab" added.' || return 1
	expect_stderr_has "Token stored in $y" || return 1
	grep -q "Token: $TOKEN" "$y" || fail "no token in $(cat "$y")" || return 1
	[[ $(stat -c %a "$y") == 600 ]] || fail "remote.yaml is $(stat -c %a "$y")" || return 1
	run_split "$LITHO" remote add lab "https://other"
	expect_status 255 || return 1
	expect_stderr_has "lab is already a remote" || return 1
	run_split "$LITHO" remote add --no-login -n spare https://spare.example.org/x/
	expect_ok
	run_split "$LITHO" remote list
	expect_ok
	[[ $output == *"lab            $LIB"*"✓                              ✗!"* &&
		$output == *"spare          spare.example.org/x"* ]] || fail "list: $output" || return 1
	run_split "$LITHO" remote status
	expect_ok
	[[ $output == *"Library  OK      1.0.0"* && $output == *"Valid authentication token set"* ]] ||
		fail "status: $output" || return 1
	# search against the default remote's library, with its token
	run_split "$LITHO" search --arch arm64 alpine
	expect_ok
	[[ $output == $'Found 2 container images for arm64 matching "alpine":\n\n\tlibrary://lab/base/alpine:3.19,latest\n\t\ta small image\n\n\tlibrary://lab/tools/alpine-dev:sha256.2\n\t\tSigned by: ABCD' ]] ||
		fail "search: $output" || return 1
	grep -q "/v1/search?arch=arm64&value=alpine Bearer $TOKEN" "$WORK/requests.log" ||
		fail "request: $(cat "$WORK/requests.log")" || return 1
	run_split "$LITHO" search --library "http://$LIB" nothing-here
	expect_ok
	expect_output "No container images found for $(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/') matching \"nothing-here\"." ||
		return 1
	run_split "$LITHO" search ab
	expect_status 255 || return 1
	expect_stderr_has "You must search for at least 3 characters" || return 1
	# a wrong token is refused and not stored
	printf '%0220d\n' 0 >"$WORK/bad"
	run_split "$LITHO" remote login --tokenfile "$WORK/bad" lab
	expect_status 255 || return 1
	grep -q "Token: $TOKEN" "$y" || fail "the good token was replaced" || return 1
	run_split "$LITHO" remote logout
	expect_ok
	expect_stderr_has "Logout succeeded" || return 1
	! grep -q "Token:" "$y" || fail "logout kept the token" || return 1
	run_split "$LITHO" remote use spare
	expect_ok
	expect_stderr_has 'Remote "spare" now in use.' || return 1
	grep -q "^Active: spare" "$y" || fail "not active: $(cat "$y")" || return 1
	run_split "$LITHO" remote remove lab
	expect_ok
	run_split "$LITHO" remote remove DefaultRemote
	expect_status 255 || return 1
	expect_stderr_has "DefaultRemote is global and can't be removed" || return 1
	run_split "$LITHO" remote use nothere
	expect_status 255 || return 1
	expect_stderr_has "nothere is not a remote" || return 1
	# Apptainer's file format: it reads back, unknown keys are refused
	printf 'Active: x\nRemotes:\n    x:\n        URI: a.b\n        Bogus: 1\n' >"$y"
	run_split "$LITHO" remote list
	expect_status 255 || return 1
	expect_stderr_has "failed to decode YAML data" || return 1
}

@test "remote: -g needs root; the system file's remotes are global" {
	need user
	lrun user remote add -g --no-login x https://x.example.org
	expect_status 255 || return 1
	expect_stderr_has "Unable to modify global endpoint configuration file: not root user" ||
		return 1
	need root
	mkdir -p "$WORK/etc/litho"
	printf 'Active: site\nRemotes:\n    site:\n        URI: lib.site.org\n        System: true\n        Exclusive: true\n' \
		>"$WORK/etc/litho/remote.yaml"
	run_split "$LITHO" remote list
	expect_ok
	[[ $output == *"site  lib.site.org  ✓         ✓        ✓           ✓"* ]] || fail "list: $output" ||
		return 1
	run_split "$LITHO" remote add --no-login mine https://mine.org
	expect_ok
	run_split "$LITHO" remote use mine
	expect_status 255 || return 1
	expect_stderr_has "remote site has been set exclusive by the system administrator"
}

# --- SCIF apps in SIF images ------------------------------------------------------------------

use_apps() {
	APPS=$RT_IMG/apps.sif
	[[ -f $APPS ]] || {
		cat "$RT_IMG/apps.log" >&2
		return 1
	}
}

check_apps() {
	local who=$1
	need "$who"
	use_apps || return 1
	lrun "$who" inspect --list-apps "$APPS"
	expect_ok
	expect_output $'bar\nfoo' || return 1
	lrun "$who" inspect --app foo "$APPS"
	expect_ok
	expect_output $'FOOLABEL: bar\nSCIF_APP_NAME: foo' || return 1
	lrun "$who" inspect --app foo -r -t -e "$APPS"
	expect_ok
	[[ $output == *'echo running foo'* && $output == *'echo foo test'* &&
		$output == *'=== /scif/apps/foo/scif/env/90-environment.sh ==='*'FOOVAR=1'* ]] ||
		fail "--app foo -r -t -e: $output" || return 1
	lrun "$who" run-help --app foo "$APPS"
	expect_ok
	expect_output "    This is foo's help." || return 1
	lrun "$who" run-help --app bar "$APPS"
	expect_ok
	expect_output "No help sections were defined for this image" || return 1
	lrun "$who" run --app foo "$APPS" a b
	expect_ok
	expect_output "running foo a b"
}

@test "SCIF apps in a SIF: --list-apps, --app, run-help --app, run --app, root" { check_apps root; }
@test "SCIF apps in a SIF: --list-apps, --app, run-help --app, run --app, user" { check_apps user; }

@test "SCIF apps: inspect-metadata.json has them as Apptainer writes them; without them in it they are read from the image" {
	use_apps || return 1
	"$LITHO" sif dump 2 "$APPS" >"$WORK/meta.json"
	run "$PYTHON" -c '
import json, sys
a = json.load(open(sys.argv[1]))["data"]["attributes"]["apps"]
foo = a["foo"]
assert sorted(a) == ["bar", "foo"], a
assert foo["labels"] == {"FOOLABEL": "bar", "SCIF_APP_NAME": "foo"}, foo
assert foo["helpfile"] == "    This is foo\x27s help.", foo
assert foo["runscript"].endswith("echo running foo \"$@\""), foo
assert list(foo["environment"]) == ["/scif/apps/foo/scif/env/90-environment.sh"], foo
assert list(foo) == ["environment", "labels", "runscript", "test", "helpfile"], list(foo)
assert list(a["bar"]) == ["labels"], a["bar"]
' "$WORK/meta.json"
	[[ $status -eq 0 ]] || fail "metadata: $output" || return 1
	# a SIF whose metadata has no apps (older litho builds): read from the SquashFS
	cp "$APPS" "$WORK/old.sif"
	"$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1])); del d["data"]["attributes"]["apps"]
open(sys.argv[2], "w").write(json.dumps(d))' "$WORK/meta.json" "$WORK/old.json"
	"$LITHO" sif del 2 "$WORK/old.sif"
	"$LITHO" sif add --datatype 6 --filename inspect-metadata.json "$WORK/old.sif" "$WORK/old.json"
	chmod 0644 "$WORK/old.sif"
	lrun user inspect --list-apps "$WORK/old.sif"
	expect_ok
	expect_output $'bar\nfoo' || return 1
	lrun user run-help --app foo "$WORK/old.sif"
	expect_output "    This is foo's help."
}
