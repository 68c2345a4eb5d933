#!/usr/bin/env bats
# The Apptainer metadata `litho build` derives from the image config (compat.md §2.2-2.5):
# the runscript from ENTRYPOINT/CMD, env/10-docker2singularity.sh from Env, labels.json, and the
# JSON.Generic objects inspect-metadata.json and oci-config.json. Images from
# tests/lib/mkmeta.py (one tiny layer, hand-written configs); no root needed.

load helpers
load ../lib/build_common

setup_file() {
	fixtures_setup_file meta
	local d=$BATS_FILE_TMPDIR fix t
	fix="$(fixture_root)/meta"
	[[ -d $fix ]] || return 0
	for t in both ep-only cmd-only env; do
		(cd "$d" && "$LITHO" build "$t.sif" "oci:$fix/layout:$t") >"$d/$t.log" 2>&1 || true
		rdsquashfs_files "$d/$t.sif" "$d/$t" || true
	done
}

# rdsquashfs_files SIF DIR: copies the metadata files out of SIF's SquashFS (no root needed).
rdsquashfs_files() {
	[[ -f $1 ]] || return 1
	mkdir -p "$2"
	dump_part "$1" "$2.sqfs" || return 1
	local f
	for f in runscript env/10-docker2singularity.sh labels.json Singularity; do
		unsquashfs -q -n -cat "$2.sqfs" ".singularity.d/$f" >"$2/${f##*/}" 2>/dev/null || return 1
	done
}

setup() {
	common_setup
	use_fixture meta
	require_cmd siftool unsquashfs
}

# need_build TAG: sets M to the folder holding the metadata files of the TAG build.
need_build() {
	if [[ ! -s $BATS_FILE_TMPDIR/$1/runscript ]]; then
		echo "litho build of oci:…:$1 failed:" >&2
		cat "$BATS_FILE_TMPDIR/$1.log" >&2
		return 1
	fi
	M=$BATS_FILE_TMPDIR/$1
	SIF=$BATS_FILE_TMPDIR/$1.sif
}

@test "runscript: ENTRYPOINT and CMD become OCI_ENTRYPOINT and OCI_CMD (compat.md §2.2)" {
	need_build both
	# each element "quoted" with \ " $ ` escaped, space-joined, the whole single-quoted
	# (a ' becomes '"'"')
	[[ $(sed -n 1,3p "$M/runscript") == "#!/bin/sh
OCI_ENTRYPOINT='\"/bin/echo\" \"ep\"'
OCI_CMD='\"cmd 1\" \"it'\"'\"'s\"'" ]]
	need_build ep-only
	[[ $(sed -n 2,3p "$M/runscript") == "OCI_ENTRYPOINT='\"/bin/echo\" \"ep only\"'
OCI_CMD=''" ]]
	need_build cmd-only
	[[ $(sed -n 2,3p "$M/runscript") == "OCI_ENTRYPOINT=''
OCI_CMD='\"/bin/echo\" \"cmd\" \"only\"'" ]]
	# the no-eval path prepends each element with set -- '...' "$@", last element first
	need_build both
	grep -qE "^ *set -- 'it'\"'\"'s' \"\\\$@\"\$" "$M/runscript"
}

@test "runscript: both ENTRYPOINT and CMD: args replace CMD, eval and no-eval paths" {
	need_build both
	run -0 env -u SINGULARITY_NO_EVAL sh "$M/runscript"
	[[ $output == "ep cmd 1 it's" ]]
	run -0 env -u SINGULARITY_NO_EVAL sh "$M/runscript" x 'y  z'
	[[ $output == "ep x y  z" ]]
	run -0 env SINGULARITY_NO_EVAL=1 sh "$M/runscript"
	[[ $output == "ep cmd 1 it's" ]]
	run -0 env SINGULARITY_NO_EVAL=1 sh "$M/runscript" x 'y  z'
	[[ $output == "ep x y  z" ]]
	# the historic path evaluates the arguments once more through the shell; no-eval does not
	run -0 env -u SINGULARITY_NO_EVAL HOME=/h sh "$M/runscript" '$HOME'
	[[ $output == "ep /h" ]]
	run -0 env SINGULARITY_NO_EVAL=1 HOME=/h sh "$M/runscript" '$HOME'
	[[ $output == "ep \$HOME" ]]
}

@test "runscript: ENTRYPOINT only: the args are appended" {
	need_build ep-only
	run -0 env -u SINGULARITY_NO_EVAL sh "$M/runscript"
	[[ $output == "ep only" ]]
	run -0 env -u SINGULARITY_NO_EVAL sh "$M/runscript" a b
	[[ $output == "ep only a b" ]]
	run -0 env SINGULARITY_NO_EVAL=1 sh "$M/runscript" a b
	[[ $output == "ep only a b" ]]
}

@test "runscript: CMD only: args replace it" {
	need_build cmd-only
	run -0 env -u SINGULARITY_NO_EVAL sh "$M/runscript"
	[[ $output == "cmd only" ]]
	run -0 env -u SINGULARITY_NO_EVAL sh "$M/runscript" /bin/echo other
	[[ $output == other ]]
	run -0 env SINGULARITY_NO_EVAL=1 sh "$M/runscript"
	[[ $output == "cmd only" ]]
	run -0 env SINGULARITY_NO_EVAL=1 sh "$M/runscript" /bin/echo other
	[[ $output == other ]]
}

@test "10-docker2singularity.sh from Env (compat.md §2.3)" {
	need_build env
	# PATH is set outright, K=v keeps a value set before, K alone gives K="${K:-}", names that
	# are not shell names are left out. Values are escaped once with Apptainer's shell.Escape
	# (Apptainer then applies Go's %q as well, which doubles the backslashes and breaks such
	# values; litho does not, see src/meta/meta_oci.c).
	local expected
	expected='#!/bin/sh
export PATH="/opt/bin:/usr/bin:/bin"
export PLAIN="${PLAIN:-"value"}"
export EMPTY="${EMPTY:-""}"
export NOVALUE="${NOVALUE:-}"
export SPECIAL="${SPECIAL:-"a\"b\$c\`d\\e"}"
export SPACES="${SPACES:-"two  words"}"
export EQUALS="${EQUALS:-"k=v"}"'
	run -0 cat "$M/10-docker2singularity.sh"
	if [[ $output != "$expected" ]]; then
		diff -u <(printf '%s\n' "$expected") <(printf '%s\n' "$output") >&2 || true
		return 1
	fi
	# sourcing it in each shell gives the config's values: plain values apply, a value set
	# before wins, PATH is replaced, special characters arrive unchanged
	local sh
	for sh in sh dash bash "busybox sh"; do
		command -v "${sh%% *}" >/dev/null || continue
		run -0 env -i PLAIN=preset PATH=/usr/bin:/bin $sh -c '. "$1"; printf "%s|%s|%s|%s|%s|%s|%s\n" \
			"$PATH" "$PLAIN" "$SPACES" "$EQUALS" "${NOVALUE-unset}" "${EMPTY-unset}" "$SPECIAL"' \
			sh "$M/10-docker2singularity.sh"
		[[ $output == '/opt/bin:/usr/bin:/bin|preset|two  words|k=v|||a"b$c`d\e' ]]
	done
}

@test "labels.json: the image's Labels plus the build labels, tab-indented (compat.md §2.4)" {
	need_build env
	[[ $(head -c 3 "$M/labels.json") == $'{\n\t' ]]
	run -0 "$PYTHON" - "$M/labels.json" <<-'EOF'
		import json, sys
		l = json.load(open(sys.argv[1]))
		want = {
		    "org.example.plain": "plain",
		    "org.example.special": "quote \" tab\t<&>",
		    "org.example.unicode": "\u00fcn\u00ef",
		    "org.label-schema.schema-version": "1.0",
		    "org.label-schema.build-arch": "amd64",
		    "org.label-schema.usage.singularity.deffile.bootstrap": "oci",
		}
		for k, v in want.items():
		    assert l.get(k) == v, (k, l.get(k), v)
		assert l["org.label-schema.usage.singularity.deffile.from"].endswith("/layout:env")
		assert list(l) == sorted(l), "keys are not sorted"
		print("ok")
	EOF
	# Go's json escapes < > & as \u003c \u003e \u0026, and Apptainer writes labels with it
	grep -qF '"org.example.special": "quote \" tab\t\u003c\u0026\u003e"' "$M/labels.json"
	need_build both
	grep -qF '"org.example.kind": "both"' "$M/labels.json"
}

@test "oci-config.json and inspect-metadata.json hold the config and the metadata (compat.md §2.5)" {
	need_build env
	siftool dump 3 "$SIF" >oci-config.json
	siftool dump 2 "$SIF" >inspect.json
	run -0 "$PYTHON" - oci-config.json inspect.json "$M" "$FIX/layout" <<-'EOF'
		import json, os, sys
		sys.path.insert(0, os.environ["LIB_DIR"])
		from tarlib import read_layout
		cfg = json.load(open(sys.argv[1]))
		_, _, image_cfg, _ = read_layout(sys.argv[4], "env")
		assert cfg == json.loads(image_cfg)["config"], (cfg, image_cfg)
		ins = json.load(open(sys.argv[2]))
		assert ins["type"] == "container", ins.get("type")
		a = ins["data"]["attributes"]
		m = sys.argv[3]
		def text(name):
		    return open(f"{m}/{name}").read().rstrip("\n")
		# (trailing newlines aside)
		assert a["runscript"].rstrip("\n") == text("runscript")
		assert a["labels"] == json.load(open(f"{m}/labels.json"))
		env = a["environment"]["/.singularity.d/env/10-docker2singularity.sh"]
		assert env.rstrip("\n") == text("10-docker2singularity.sh")
		assert a["deffile"].rstrip("\n") == text("Singularity")
		print("ok")
	EOF
	[[ $output == ok ]]
	# the Def.FILE object is the def text of /.singularity.d/Singularity: bootstrap and from
	siftool dump 1 "$SIF" >def
	assert_same_file def "$M/Singularity"
	[[ $(head -1 def) == "bootstrap: oci" ]]
	[[ $(sed -n 2p def) == "from: $(fixture_root)/meta/layout:env" ]]
}
