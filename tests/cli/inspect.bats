#!/usr/bin/env bats
# `litho inspect` and `litho run-help` against Apptainer's output rules
# (cmd/internal/cli/inspect.go, run_help_linux.go): a SIF built by Singularity 3.8, copies of it
# without its inspect-metadata.json / Def.FILE objects (the paths where Apptainer reads the
# files inside the container), a sandbox directory, SCIF apps, an image built by litho from an
# OCI layout made with umoci, and bad input.

load helpers

setup() {
	common_setup
	BUSYBOX="$INTEROP/images/busybox_amd64.sif"
}

# need_busybox: skips when the Singularity-built reference image is not there (the interop
# files live beside the repository and may be absent).
need_busybox() {
	[[ -f $BUSYBOX ]] || skip "no $BUSYBOX"
}

linspect() {
	"$LITHO" inspect "$@"
}

busybox_labels() {
	cat <<'EOF'
org.label-schema.build-arch: amd64
org.label-schema.build-date: Monday_2_August_2021_14:9:36_CDT
org.label-schema.schema-version: 1.0
org.label-schema.usage.singularity.deffile.bootstrap: docker
org.label-schema.usage.singularity.deffile.from: busybox:1.33.1
org.label-schema.usage.singularity.version: 3.8.1
EOF
}

busybox_environment() {
	cat <<'EOF'
=== /.singularity.d/env/10-docker2singularity.sh ===
#!/bin/sh
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

=== /.singularity.d/env/90-environment.sh ===
#!/bin/sh
# Custom environment shell code should follow

EOF
}

# A copy of the busybox SIF without the objects named by their IDs.
busybox_without() {
	cp "$BUSYBOX" "$TMP_DIR/bb.sif"
	chmod u+w "$TMP_DIR/bb.sif"
	local id
	for id in "$@"; do
		"$LITHO" sif del "$id" "$TMP_DIR/bb.sif"
	done
}

# A sandbox with SCIF apps: foo (runscript, labels, environment, help), bar (test only) and a
# directory that is not an app (no scif/ inside).
make_scif_sandbox() {
	local s=$TMP_DIR/scif
	mkdir -p "$s/.singularity.d/env" "$s/scif/apps/foo/scif/env" "$s/scif/apps/bar/scif" \
		"$s/scif/apps/notapp/bin"
	printf '{\n\t"MAIN": "yes",\n\t"html": "<a&b>"\n}' >"$s/.singularity.d/labels.json"
	printf '#!/bin/sh\necho main\n' >"$s/.singularity.d/runscript"
	printf '#!/bin/sh\n# main env\n' >"$s/.singularity.d/env/90-environment.sh"
	printf '#!/bin/sh\necho foo\n\n\n' >"$s/scif/apps/foo/scif/runscript"
	printf '{"FOO": "bar"}\n' >"$s/scif/apps/foo/scif/labels.json"
	printf 'export FOOVAR=1' >"$s/scif/apps/foo/scif/env/90-environment.sh"
	printf 'foo help\nsecond line\n' >"$s/scif/apps/foo/scif/runscript.help"
	printf '#!/bin/sh\ntrue\n' >"$s/scif/apps/bar/scif/test"
	echo "$s"
}

@test "busybox SIF: labels by default, sorted 'key: value'" {
	need_busybox
	run_split linspect "$BUSYBOX"
	[ "$status" -eq 0 ]
	[ "$output" = "$(busybox_labels)" ]
	run_split linspect -l "$BUSYBOX"
	[ "$output" = "$(busybox_labels)" ]
}

@test "busybox SIF: --json is pkg/inspect.Metadata through json.MarshalIndent" {
	need_busybox
	run_split linspect --json "$BUSYBOX"
	[ "$status" -eq 0 ]
	expected=$(
		cat <<'EOF'
{
	"data": {
		"attributes": {
			"labels": {
				"org.label-schema.build-arch": "amd64",
				"org.label-schema.build-date": "Monday_2_August_2021_14:9:36_CDT",
				"org.label-schema.schema-version": "1.0",
				"org.label-schema.usage.singularity.deffile.bootstrap": "docker",
				"org.label-schema.usage.singularity.deffile.from": "busybox:1.33.1",
				"org.label-schema.usage.singularity.version": "3.8.1"
			}
		}
	},
	"type": "container"
}
EOF
	)
	[ "$output" = "$expected" ]
}

@test "busybox SIF: deffile, runscript, startscript, test, environment, helpfile" {
	need_busybox
	run_split linspect -d "$BUSYBOX"
	[ "$status" -eq 0 ]
	[ "$output" = $'BootStrap: docker\nFrom: busybox:1.33.1' ]
	run_split linspect -r "$BUSYBOX"
	[ "${output%%$'\n'*}" = "#!/bin/sh" ]
	[[ $output == *$'OCI_CMD=\'"sh"\''* ]]
	[ "${output##*$'\n'}" = 'exec "$@"' ]
	run_split linspect -s "$BUSYBOX"
	[ "$output" = "#!/bin/sh" ]
	run_split linspect -t "$BUSYBOX"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run_split linspect -H "$BUSYBOX"
	[ -z "$output" ]
	"$LITHO" inspect -e "$BUSYBOX" >env.txt
	busybox_environment >want.txt
	assert_same_file want.txt env.txt
	# several at once, in Apptainer's order: deffile, runscript, ..., environment, labels
	run_split linspect -e -l -d "$BUSYBOX"
	[ "${output%%$'\n'*}" = "BootStrap: docker" ]
	[[ $output == *"=== /.singularity.d/env/90-environment.sh ==="* ]]
	[ "${output##*$'\n'}" = "org.label-schema.usage.singularity.version: 3.8.1" ]
}

@test "busybox SIF: --all prints the stored inspect metadata as JSON, Go escaping" {
	need_busybox
	require_cmd jq
	run_split linspect --all --app ignored "$BUSYBOX"
	[ "$status" -eq 0 ]
	[ "$(jq -S . <<<"$output")" = "$("$LITHO" sif dump 2 "$BUSYBOX" | jq -S .)" ]
	[[ $output == *'[ -z \"$OCI_CMD\" ] \u0026\u0026 [ -n'* ]]
	[[ $output == $'{\n\t"data": {\n\t\t"attributes": {\n\t\t\t"environment": {\n'* ]]
	[[ $output == *$'\n\t},\n\t"type": "container"\n}' ]]
}

@test "busybox SIF: run-help without help text" {
	need_busybox
	run_split "$LITHO" run-help "$BUSYBOX"
	[ "$status" -eq 0 ]
	[ "$output" = "No help sections were defined for this image" ]
}

@test "SIF without inspect-metadata.json: the files in the partition give the same answers" {
	need_busybox
	busybox_without 2
	local f
	for f in "" -r -s -e -H "-j -e -r" "--list-apps"; do
		# shellcheck disable=SC2086
		[ "$("$LITHO" inspect $f "$BUSYBOX")" = "$("$LITHO" inspect $f bb.sif)" ]
	done
	# the definition file then comes from the Def.FILE object as it is (trailing newline)
	run_split linspect -d bb.sif
	[ "$output" = $'BootStrap: docker\nFrom: busybox:1.33.1' ]
	"$LITHO" inspect -d bb.sif >def.txt
	printf 'BootStrap: docker\nFrom: busybox:1.33.1\n\n' >want.txt
	assert_same_file want.txt def.txt
}

@test "SIF without metadata and Def.FILE: the definition file inside, with a warning" {
	need_busybox
	busybox_without 1 2
	run_split linspect -d bb.sif
	[ "$status" -eq 0 ]
	[ "$output" = $'BootStrap: docker\nFrom: busybox:1.33.1' ]
	[[ $stderr == *"No SIF metadata partition, searching in container..."* ]]
	# with the metadata object but no Def.FILE, Apptainer shows no definition file
	busybox_without 1
	run_split linspect -d bb.sif
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "sandbox directory: same answers as the SIF it was extracted from" {
	need_busybox
	require_cmd unsquashfs
	local offset
	offset=$("$LITHO" sif list "$BUSYBOX" | awk -F'|' '/FS \(Squashfs/ { split($4, a, "-"); print a[1] + 0 }')
	unsquashfs -q -n -d sb -o "$offset" "$BUSYBOX" >/dev/null 2>&1 || skip "unsquashfs -o failed"
	for f in "" -r -e -H "-j -l"; do
		# shellcheck disable=SC2086
		[ "$("$LITHO" inspect $f "$BUSYBOX")" = "$("$LITHO" inspect $f sb)" ]
	done
	run_split "$LITHO" run-help sb
	[ "$output" = "No help sections were defined for this image" ]
}

@test "SCIF apps: --list-apps, --app, run-help --app" {
	s=$(make_scif_sandbox)
	run_split linspect --list-apps "$s"
	[ "$status" -eq 0 ]
	[ "$output" = $'bar\nfoo' ]
	run_split linspect "$s"
	[ "$output" = $'MAIN: yes\nhtml: <a&b>' ]
	run_split linspect --app foo "$s"
	[ "$output" = "FOO: bar" ]
	run_split linspect --app foo -r "$s"
	[ "$output" = $'#!/bin/sh\necho foo' ]
	run_split linspect --app foo -e "$s"
	[ "$output" = $'=== /scif/apps/foo/scif/env/90-environment.sh ===\nexport FOOVAR=1' ]
	run_split linspect -r "$s"
	[ "$output" = $'#!/bin/sh\necho main' ]
	run_split "$LITHO" run-help --app foo "$s"
	[ "$output" = $'foo help\nsecond line' ]
	run_split "$LITHO" run-help "$s"
	[ "$output" = "No help sections were defined for this image" ]
	# an app that is not there: nothing, and a warning
	run_split linspect --app nothere "$s"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[[ $stderr == *"no app named 'nothere'"* ]]
}

@test "SCIF apps: JSON of one app and --all" {
	s=$(make_scif_sandbox)
	run_split linspect --json --app foo -r "$s"
	expected=$(
		cat <<'EOF'
{
	"data": {
		"attributes": {
			"apps": {
				"foo": {
					"runscript": "#!/bin/sh\necho foo"
				}
			}
		}
	},
	"type": "container"
}
EOF
	)
	[ "$output" = "$expected" ]
	run_split linspect --all "$s"
	expected=$(
		cat <<'EOF'
{
	"data": {
		"attributes": {
			"apps": {
				"bar": {
					"test": "#!/bin/sh\ntrue"
				},
				"foo": {
					"environment": {
						"/scif/apps/foo/scif/env/90-environment.sh": "export FOOVAR=1"
					},
					"labels": {
						"FOO": "bar"
					},
					"runscript": "#!/bin/sh\necho foo",
					"helpfile": "foo help\nsecond line"
				}
			},
			"environment": {
				"/.singularity.d/env/90-environment.sh": "#!/bin/sh\n# main env"
			},
			"labels": {
				"MAIN": "yes",
				"html": "\u003ca\u0026b\u003e"
			},
			"runscript": "#!/bin/sh\necho main"
		}
	},
	"type": "container"
}
EOF
	)
	[ "$output" = "$expected" ]
	run_split linspect --list-apps --json "$s"
	[[ $output == *$'"apps": {\n\t\t\t\t"bar": {},\n\t\t\t\t"foo": {}\n\t\t\t}'* ]]
}

@test "image built by litho from an OCI layout (umoci): metadata and the stored JSON agree" {
	require_cmd umoci jq
	umoci init --layout oci >/dev/null
	umoci new --image oci:t >/dev/null
	umoci unpack --rootless --image oci:t bundle >/dev/null
	echo hello >bundle/rootfs/hello.txt
	umoci repack --image oci:t bundle >/dev/null
	umoci config --image oci:t --config.entrypoint /bin/echo --config.cmd 'hi there' \
		--config.env FOO=bar --config.env 'Q=a"b' --config.label org.test=yes \
		--config.label 'html=<a&b>' >/dev/null
	"$LITHO" -q build x.sif oci:oci:t
	run_split linspect x.sif
	[ "$status" -eq 0 ]
	[[ $output == $'html: <a&b>\norg.label-schema.build-arch: '* ]]
	[[ $output == *$'\norg.label-schema.usage.singularity.deffile.bootstrap: oci\n'* ]]
	[[ $output == *$'\norg.test: yes' ]]
	run_split linspect -j x.sif
	[[ $output == *'"html": "\u003ca\u0026b\u003e",'* ]]
	run_split linspect -r x.sif
	[[ $output == *$'OCI_ENTRYPOINT=\'"/bin/echo"\'\nOCI_CMD=\'"hi there"\''* ]]
	run_split linspect -e x.sif
	[[ $output == $'=== /.singularity.d/env/10-docker2singularity.sh ===\n#!/bin/sh\nexport FOO="${FOO:-"bar"}"\n'* ]]
	[[ $output == *$'=== /.singularity.d/env/90-environment.sh ===\n'* ]]
	# --all is the stored inspect-metadata.json; without that object, the files say the same
	meta_id=$("$LITHO" sif list x.sif | awk '/JSON.Generic/ { print $1; exit }')
	[ "$(linspect --all x.sif | jq -S .)" = "$("$LITHO" sif dump "$meta_id" x.sif | jq -S .)" ]
	cp x.sif y.sif
	"$LITHO" sif del "$meta_id" y.sif
	for f in "" -r -s -e -t -H "-j -r -e -l"; do
		# shellcheck disable=SC2086
		[ "$("$LITHO" inspect $f x.sif)" = "$("$LITHO" inspect $f y.sif)" ]
	done
}

@test "bad input: exit 255 (Apptainer's FATAL) with a clear message" {
	run_split linspect nonexistent.sif
	[ "$status" -eq 255 ]
	[[ $stderr == *"could not open image nonexistent.sif"* ]]
	echo "not an image" >plain.txt
	run_split linspect plain.txt
	[ "$status" -eq 255 ]
	[[ $stderr == *"plain.txt is not a SIF image"* ]]
	"$LITHO" sif new empty.sif
	run_split linspect empty.sif
	[ "$status" -eq 255 ]
	[[ $stderr == *"empty.sif has no root file system partition"* ]]
	run_split "$LITHO" run-help nonexistent.sif
	[ "$status" -eq 255 ]
	[[ $stderr == *"container not found: nonexistent.sif"* ]]
	run_split "$LITHO" run-help empty.sif
	[ "$status" -eq 255 ]
	[[ $stderr == *"has no root file system partition"* ]]
	refute_crash_output "$stderr"
}

@test "usage errors: exit 1, as cobra's" {
	run_split linspect
	[ "$status" -eq 1 ]
	[[ $stderr == *"Usage: litho inspect"* ]]
	run_split linspect "$BUSYBOX" extra
	[ "$status" -eq 1 ]
	run_split linspect --bogus "$BUSYBOX"
	[ "$status" -eq 1 ]
	run_split "$LITHO" run-help
	[ "$status" -eq 1 ]
	run_split linspect --help
	[ "$status" -eq 0 ]
	[[ $output == *"--list-apps"* ]]
}
