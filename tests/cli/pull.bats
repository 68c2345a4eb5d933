#!/usr/bin/env bats
# The registry commands end to end: `litho pull`, `litho push`, `litho registry`, `litho cache`
# and run/exec given a docker:// or oras:// reference, against the local Distribution
# registries of tests/lib/registry/ (open and htpasswd Basic). The protocol details (auth
# flows, faults, resumes) are in registry.bats; this file checks what a user types.

# shellcheck disable=SC2154 # status, output and stderr are set by run_split
load helpers
load ../lib/build_common
load ../lib/registry/registry
load ../lib/runtime/rt

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	rt_setup_file
	local t
	for t in docker-registry htpasswd skopeo jq curl "$PYTHON"; do
		command -v "$t" >/dev/null || return 0
	done
	"$PYTHON" -c 'import cryptography' 2>/dev/null || return 0
	fixtures_setup_file umoci
	local fix
	fix=$(fixture_root)/umoci/layout
	[[ -d $fix ]] || return 0
	reg_start_all
	reg_push "oci:$fix:dup" "$REG_OPEN/test/umoci:dup"
	reg_push "oci:$fix:latest" "$REG_OPEN/test/umoci:latest"
	touch "$REG_DIR/images-ready"
}

teardown_file() {
	reg_stop_all
	rt_teardown_file
}

setup() {
	rt_setup
	require_cmd docker-registry htpasswd skopeo jq curl
	[[ -f ${REG_DIR:-/nonexistent}/images-ready ]] || skip "the test images could not be made here"
	export HOME=$TMP_DIR/home LITHO_CONFIGDIR=$TMP_DIR/litho-config
	export DOCKER_CONFIG=$TMP_DIR/docker LITHO_CACHEDIR=$TMP_DIR/cache
	mkdir -p "$HOME"
	unset LITHO_DOCKER_USERNAME LITHO_DOCKER_PASSWORD APPTAINER_DOCKER_USERNAME
	unset APPTAINER_DOCKER_PASSWORD APPTAINER_CACHEDIR APPTAINER_PULLDIR APPTAINER_NOHTTPS
	unset APPTAINER_DISABLE_CACHE LITHO_DISABLE_CACHE
	FIX=$(fixture_root)/umoci/layout
}

litho() {
	run_split "$LITHO" "$@"
	refute_crash_output "$stderr"
}

# cache_count KIND: entries of that kind in the cache.
cache_count() {
	"$LITHO" cache list -v -T "$1" | awk -v k="$1" '$1 == k' | wc -l
}

@test "pull docker://: default name; the same bytes as a build from the registry" {
	export SOURCE_DATE_EPOCH=1700000000
	litho pull --no-https "docker://$REG_OPEN/test/umoci:dup"
	[[ $status -eq 0 ]] || {
		echo "$stderr" >&2
		false
	}
	[[ -f umoci_dup.sif && -x umoci_dup.sif ]]
	[[ $stderr == *"Created umoci_dup.sif from docker://$REG_OPEN/test/umoci:dup"* ]]
	# through the converted-image cache or straight into the file: one result
	"$LITHO" -q build built.sif "docker://$REG_OPEN/test/umoci:dup"
	assert_same_file built.sif umoci_dup.sif
	[[ $(cache_count sif) -eq 1 ]]
	"$LITHO" sif list umoci_dup.sif | grep -q Squashfs
}

@test "pull: the second pull converts nothing; an existing output needs --force" {
	litho pull --no-https "docker://$REG_OPEN/test/umoci:latest"
	[[ $status -eq 0 ]]
	cp umoci_latest.sif first.sif
	litho pull --no-https "docker://$REG_OPEN/test/umoci:latest"
	[[ $status -eq 255 ]]
	[[ $stderr == *"umoci_latest.sif already exists (use --force to overwrite it)"* ]]
	assert_same_file first.sif umoci_latest.sif
	litho pull --force --no-https "docker://$REG_OPEN/test/umoci:latest"
	[[ $status -eq 0 ]]
	[[ $stderr == *"Copied umoci_latest.sif from the cache"* ]]
	# a copy of the cached conversion: the same bytes as the first pull
	assert_same_file first.sif umoci_latest.sif
	[[ $(cache_count sif) -eq 1 ]]
	# an explicit name, --name and --dir
	mkdir out
	litho pull --no-https --dir out --name x.sif "docker://$REG_OPEN/test/umoci:latest"
	[[ $status -eq 0 && -f out/x.sif ]]
	litho pull --no-https out/y.sif "docker://$REG_OPEN/test/umoci:latest"
	[[ $status -eq 0 && -f out/y.sif ]]
	[[ -z $(find . -name '*.tmp.*') ]]
}

@test "pull --disable-cache writes nothing to the cache; options that change bytes are keys" {
	litho pull --disable-cache --no-https a.sif "docker://$REG_OPEN/test/umoci:dup"
	[[ $status -eq 0 && -f a.sif ]]
	[[ ! -e $LITHO_CACHEDIR ]] || [[ $(cache_count blob) -eq 0 && $(cache_count sif) -eq 0 ]]
	APPTAINER_DISABLE_CACHE=1 litho pull --no-https b.sif "docker://$REG_OPEN/test/umoci:dup"
	[[ $status -eq 0 ]]
	[[ ! -e $LITHO_CACHEDIR ]] || [[ $(cache_count sif) -eq 0 ]]
	litho pull --no-https c.sif "docker://$REG_OPEN/test/umoci:dup"
	litho pull --no-https --compression gzip d.sif "docker://$REG_OPEN/test/umoci:dup"
	[[ $status -eq 0 ]]
	[[ $(cache_count sif) -eq 2 ]]
	[[ $("$LITHO" sif list d.sif) == *"Squashfs"* ]]
}

@test "pull: bad references and missing images fail clearly and leave nothing" {
	litho pull --no-https "docker://$REG_OPEN/test/umoci:nope"
	[[ $status -eq 255 ]]
	[[ $stderr == *"docker://$REG_OPEN/test/umoci:nope"*"manifest unknown"* ]]
	litho pull --no-https "docker://$REG_OPEN/test/nothere:1"
	[[ $status -eq 255 ]]
	[[ $stderr == *"docker://$REG_OPEN/test/nothere:1"* ]]
	litho pull x.sif /etc/passwd
	[[ $status -eq 255 ]]
	[[ $stderr == *"/etc/passwd: not an image reference"* ]]
	litho pull
	[[ $status -eq 1 ]]
	litho pull --sandbox "docker://$REG_OPEN/test/umoci:dup"
	[[ $status -ne 0 && $stderr == *"--sandbox is not supported"* ]]
	# a closed port: a quick, clear failure
	local port
	port=$(free_port)
	litho pull --no-https "docker://127.0.0.1:$port/test/umoci:dup"
	[[ $status -eq 255 ]]
	[[ $stderr == *"127.0.0.1:$port"* ]]
	[[ -z $(find . -name '*.sif' -o -name '*.tmp.*') ]]
}

@test "push and pull oras://: the same bytes back; Apptainer's manifest; errors" {
	"$LITHO" -q build img.sif "oci:$FIX:dup"
	litho push img.sif "oras://$REG_OPEN/sifs/img:v1"
	[[ $status -eq 0 ]] || {
		echo "$stderr" >&2
		false
	}
	litho pull --no-https "oras://$REG_OPEN/sifs/img:v1"
	[[ $status -eq 0 && -f img_v1.sif ]]
	assert_same_file img.sif img_v1.sif
	local m
	m=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$REG_OPEN/v2/sifs/img/manifests/v1")
	[[ $(jq -r '.layers | length' <<<"$m") -eq 1 ]]
	[[ $(jq -r '.layers[0].mediaType' <<<"$m") == application/vnd.sylabs.sif.layer.v1.sif ]]
	[[ $(jq -r '.config.mediaType' <<<"$m") == application/vnd.sylabs.sif.config.v1+json ]]
	[[ $(jq -r '.layers[0].annotations["org.opencontainers.image.title"]' <<<"$m") == img.sif ]]
	# annotations
	litho push --annotation org.example.k=v img.sif "oras://$REG_OPEN/sifs/img:v2"
	[[ $status -eq 0 ]]
	m=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$REG_OPEN/v2/sifs/img/manifests/v2")
	[[ $(jq -r '.annotations["org.example.k"]' <<<"$m") == v ]]
	# not a SIF, not oras://, unknown tag
	echo "not a sif" >bad.sif
	litho push bad.sif "oras://$REG_OPEN/sifs/img:bad"
	[[ $status -eq 255 && $stderr == *"bad.sif"* ]]
	litho push img.sif "docker://$REG_OPEN/sifs/img:v3"
	[[ $status -eq 255 && $stderr == *"only oras:// references"* ]]
	litho pull --no-https out.sif "oras://$REG_OPEN/sifs/img:nope"
	[[ $status -eq 255 && $stderr == *"oras://$REG_OPEN/sifs/img:nope"*"manifest unknown"* ]]
	[[ ! -e out.sif ]]
}

@test "registry login/list/logout; Basic-auth pulls with the stored and the given credentials" {
	litho pull --no-https a.sif "docker://$REG_BASIC/test/umoci:dup"
	[[ $status -eq 255 && $stderr == *"$REG_BASIC"* ]]
	# a wrong password is refused at login, naming the registry and the user
	run_split "$LITHO" registry login --no-https -u alice -p wrong "docker://$REG_BASIC"
	[[ $status -eq 255 && $stderr == *"registry $REG_BASIC: authentication failed for user alice"* ]]
	[[ ! -e $LITHO_CONFIGDIR/registry-auth.json ]]
	echo secret | "$LITHO" registry login --no-https -u alice --password-stdin "docker://$REG_BASIC"
	[[ $(stat -c %a "$LITHO_CONFIGDIR/registry-auth.json") == 600 ]]
	litho registry list
	[[ $output == *"$REG_BASIC"*alice* ]]
	litho pull --no-https a.sif "docker://$REG_BASIC/test/umoci:dup"
	[[ $status -eq 0 ]]
	litho registry logout "$REG_BASIC"
	[[ $status -eq 0 ]]
	litho registry logout "$REG_BASIC"
	[[ $status -eq 255 && $stderr == *"not logged in to $REG_BASIC"* ]]
	litho pull --no-https --disable-cache b.sif "docker://$REG_BASIC/test/umoci:dup"
	[[ $status -eq 255 ]]
	# credentials on the command line and in the environment
	litho pull --no-https --disable-cache --docker-username alice --docker-password secret \
		c.sif "docker://$REG_BASIC/test/umoci:dup"
	[[ $status -eq 0 ]]
	APPTAINER_DOCKER_USERNAME=alice APPTAINER_DOCKER_PASSWORD=secret \
		litho pull --no-https --disable-cache d.sif "docker://$REG_BASIC/test/umoci:dup"
	[[ $status -eq 0 ]]
}

@test "cache list and clean: kinds, dry run, days" {
	litho pull --no-https a.sif "docker://$REG_OPEN/test/umoci:dup"
	[[ $status -eq 0 ]]
	litho cache list
	[[ $output == *"1 sif entry"* && $output == *"blob entries"* ]]
	local blobs
	blobs=$(cache_count blob)
	[[ $blobs -ge 3 ]]
	litho cache clean --dry-run --type blob
	[[ $status -eq 0 && $output == *"Would remove $blobs blob entries"* ]]
	[[ $(cache_count blob) -eq $blobs ]]
	litho cache clean --days 1 -f
	[[ $status -eq 0 && $(cache_count blob) -eq $blobs ]]
	litho cache clean -T oci -f
	[[ $status -eq 0 && $output == *"Removed 1 sif entry"* ]]
	[[ $(cache_count sif) -eq 0 && $(cache_count blob) -eq $blobs ]]
	litho cache clean -f
	[[ $status -eq 0 && $(cache_count blob) -eq 0 ]]
	litho cache clean -T nope
	[[ $status -eq 1 && $stderr == *"--type 'nope'"* ]]
}

@test "run and exec a docker:// reference: converted once, then from the cache" {
	need root
	litho exec --no-https "docker://$REG_OPEN/test/umoci:dup" cat /data/new.txt
	[[ $status -eq 0 && $output == "new data" ]]
	[[ $(cache_count sif) -eq 1 ]]
	local sif
	sif=$("$LITHO" cache list -v -T sif | awk '$1 == "sif" { print $2 }')
	local before
	before=$(stat -c %i "$LITHO_CACHEDIR/sif/$sif")
	litho exec "docker://$REG_OPEN/test/umoci:dup" cat /data/new.txt
	[[ $status -eq 0 && $output == "new data" ]]
	[[ $(stat -c %i "$LITHO_CACHEDIR/sif/$sif") == "$before" ]]
	# --disable-cache: a temporary SIF, removed after the run
	mkdir tmp
	TMPDIR=$PWD/tmp litho exec --disable-cache "docker://$REG_OPEN/test/umoci:dup" \
		sh -c 'ls "$0"/litho-image-*' "$PWD/tmp"
	[[ $status -eq 0 && $output == "$PWD/tmp/litho-image-"* ]]
	[[ -z $(find tmp -name "litho-image-*") ]]
	# the image's Env arrives unchanged, special characters included
	litho exec "docker://$REG_OPEN/test/umoci:dup" sh -c 'printf "%s|%s" "$GREETING" "$WITH"'
	[[ $status -eq 0 && $output == 'hi "there" $USER `cmd` \n|equals=sign' ]]
	# the container's status is passed through
	litho exec "docker://$REG_OPEN/test/umoci:dup" sh -c 'exit 7'
	[[ $status -eq 7 ]]
}

@test "exec a docker:// reference as an unprivileged user (own cache)" {
	need user
	local cache=$RT_DIR/work/user-cache
	rm -rf "$cache"
	run_split as user env LITHO_CACHEDIR="$cache" "$LITHO" exec --no-https \
		"docker://$REG_OPEN/test/umoci:dup" cat /data/new.txt
	expect_ok
	expect_output "new data"
	[[ $(stat -c %u "$cache") == "$RT_UID" ]]
	rm -rf "$cache"
}

@test "run an oras:// reference (a temporary copy, removed afterwards)" {
	need root
	"$LITHO" -q build img.sif "oci:$FIX:dup"
	"$LITHO" -q push img.sif "oras://$REG_OPEN/sifs/run:1"
	mkdir tmp
	TMPDIR=$PWD/tmp litho exec --no-https "oras://$REG_OPEN/sifs/run:1" cat /data/new.txt
	[[ $status -eq 0 && $output == "new data" ]]
	[[ -z $(find tmp -name "litho-image-*") ]]
}

@test "definition files with Bootstrap: oras (a SIF from the registry as the base)" {
	need root
	"$LITHO" -q build img.sif "oci:$FIX:dup"
	"$LITHO" -q push img.sif "oras://$REG_OPEN/sifs/base:1"
	cat >o.def <<-EOF
		Bootstrap: oras
		From: $REG_OPEN/sifs/base:1

		%post
		    echo from-post > /post.txt

		%runscript
		    cat /post.txt /data/new.txt
	EOF
	litho build --no-https o.sif o.def
	[[ $status -eq 0 ]] || {
		echo "$stderr" >&2
		false
	}
	litho run o.sif
	[[ $status -eq 0 && $output == $'from-post\nnew data' ]]
	litho inspect --labels o.sif
	[[ $output == *"org.label-schema.usage.singularity.deffile.bootstrap: oras"* ]]
	# a tag that is not there: the reference in the error, no output
	sed -i 's|base:1|base:nothere|' o.def
	litho build --no-https bad.sif o.def
	[[ $status -ne 0 && $stderr == *"sifs/base:nothere"* ]]
	[[ ! -e bad.sif ]]
}

@test "definition files with Bootstrap: docker (Registry and Namespace headers too)" {
	need root
	cat >d.def <<-EOF
		Bootstrap: docker
		From: test/umoci:dup
		Registry: $REG_OPEN

		%post
		    echo from-post > /post.txt

		%runscript
		    cat /post.txt /data/new.txt
	EOF
	litho build --no-https d.sif d.def
	[[ $status -eq 0 ]] || {
		echo "$stderr" >&2
		false
	}
	litho run d.sif
	[[ $status -eq 0 && $output == $'from-post\nnew data' ]]
	litho inspect --labels d.sif
	[[ $output == *"org.label-schema.usage.singularity.deffile.registry: $REG_OPEN"* ]]
	# metadata only: the fast path, straight from the registry's layers
	printf 'Bootstrap: docker\nFrom: %s\nNamespace: test\n\n%%labels\n  Kind fast\n' \
		"$REG_OPEN/umoci:dup" >f.def
	sed -i "s|^From: .*|From: umoci:dup|; s|^Namespace: test|Registry: $REG_OPEN\nNamespace: test|" f.def
	litho build --no-https f.sif f.def
	[[ $status -eq 0 && $stderr == *"without unpacking"* ]]
	litho inspect --labels f.sif
	[[ $output == *"Kind: fast"* ]]
	# an unknown image: the reference in the error
	printf 'Bootstrap: docker\nFrom: %s/test/nothere:1\n\n%%post\n  true\n' "$REG_OPEN" >bad.def
	litho build --no-https bad.sif bad.def
	[[ $status -ne 0 && $stderr == *"$REG_OPEN/test/nothere:1"* ]]
	[[ ! -e bad.sif ]]
}
