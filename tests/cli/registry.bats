#!/usr/bin/env bats
# Pulls from and pushes to real Distribution registries (docker-registry 2.8) on loopback: an
# open one, one with htpasswd Basic auth, one with Bearer tokens (a local token server) and one
# on HTTPS with a self-signed certificate, all sharing one storage folder, plus
# fault-injecting proxies and a CDN stand-in (tests/lib/registry/). Images are pushed with
# skopeo from the umoci fixture (OCI gzip; Docker v2s2 with --format v2s2), the skopeo fixture
# (zstd layers) and a hand-made multi-platform index (tests/lib/registry/mkmulti.py).
#
# The library is driven through _build/tests/unit/test_registry (its driver mode; see the top
# of tests/unit/test_registry.c), which reads layers the way the build does (all at once, then
# again) and reports what it read; the last tests use `litho build ... docker://` directly. The
# commands a user types (pull, push, registry, cache) are tested in pull.bats. Set
# LITHO_REGISTRY_DRIVER to use another driver.

# shellcheck disable=SC2154 # status, output and stderr are set by run_split
load helpers
load ../lib/build_common
load ../lib/registry/registry

REGDRV="${LITHO_REGISTRY_DRIVER:-$BATS_TEST_DIRNAME/../../_build/tests/unit/test_registry}"

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
	local t
	for t in docker-registry htpasswd skopeo jq curl "$PYTHON"; do
		command -v "$t" >/dev/null || return 0
	done
	"$PYTHON" -c 'import cryptography' 2>/dev/null || return 0
	fixtures_setup_file umoci skopeo
	reg_start_all
	local fix root
	root=$(fixture_root)
	fix=$root/umoci/layout
	[[ -d $fix && -d $root/skopeo ]] || return 0
	reg_push "oci:$fix:dup" "$REG_OPEN/test/umoci:dup"
	reg_push "oci:$fix:latest" "$REG_OPEN/test/umoci:latest"
	reg_push "oci:$fix:dup" "$REG_OPEN/public/umoci:dup"
	reg_push "oci:$fix:dup" "$REG_OPEN/test/v2s2:dup" --format v2s2
	reg_push "oci:$root/skopeo/zstd:dup" "$REG_OPEN/test/zstd:dup"
	"$PYTHON" "$REG_LIB/mkmulti.py" "$fix" dup "$REG_DIR/multi" >"$REG_DIR/multi.json"
	reg_push "oci:$REG_DIR/multi:latest" "$REG_OPEN/test/multi:latest" --all
	touch "$REG_DIR/images-ready"
}

teardown_file() {
	reg_stop_all
}

setup() {
	common_setup
	require_cmd docker-registry htpasswd skopeo jq curl
	"$PYTHON" -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is missing"
	if [[ ! -x $REGDRV ]]; then
		skip "no registry driver $REGDRV (register test_registry in tests/unit/meson.build)"
	fi
	[[ -f $REG_DIR/images-ready ]] || skip "the test images could not be made here (root?)"
	# Nothing from the user's setup: credentials, cache, retry timing.
	export HOME=$TMP_DIR/home LITHO_CONFIGDIR=$TMP_DIR/litho-config
	export DOCKER_CONFIG=$TMP_DIR/docker LITHO_CACHEDIR=$TMP_DIR/cache
	mkdir -p "$HOME"
	unset LITHO_DOCKER_USERNAME LITHO_DOCKER_PASSWORD APPTAINER_DOCKER_USERNAME
	unset APPTAINER_DOCKER_PASSWORD SINGULARITY_DOCKER_USERNAME SINGULARITY_DOCKER_PASSWORD
	unset APPTAINER_CONFIGDIR APPTAINER_CACHEDIR LITHO_HTTP_TIMEOUT LITHO_UPLOAD_CHUNK_SIZE
	export LITHO_RETRY_BASE_MS=50
	set_faults open '{}'
	set_faults basic '{}'
	: >"$REG_DIR/token-requests.log"
	: >"$REG_DIR/cdn.log"
	FIX=$(fixture_root)/umoci/layout
}

# no_tmp_files DIR: DIR holds no temporary file (NAME.tmp.XXXXXX).
no_tmp_files() {
	local left
	left=$(find "$1" -maxdepth 1 -name '*.tmp.*')
	if [[ -n $left ]]; then
		echo "temporary files left: $left" >&2
		return 1
	fi
}

# count_files DIR: the number of files in DIR.
count_files() {
	find "$1" -maxdepth 1 -type f | wc -l
}

# drv ARGS...: runs the driver (run_split: status, output, stderr).
drv() {
	run_split "$REGDRV" "$@"
}

# pull REF [OPTIONS]: the driver's pull over plain HTTP; fails with its stderr on errors.
pull() {
	drv pull "$@" --no-https
	if [[ $status -ne 0 ]]; then
		echo "pull $* failed ($status): $stderr" >&2
		return 1
	fi
	refute_crash_output "$stderr"
}

# fail_pull REF [OPTIONS]: the pull must fail; $stderr holds the message.
fail_pull() {
	drv pull "$@" --no-https
	if [[ $status -eq 0 ]]; then
		echo "pull $* should have failed: $output" >&2
		return 1
	fi
	refute_crash_output "$stderr"
}

# layout_layers TAG: the layer digests of the fixture's image TAG, one per line.
layout_layers() {
	local m
	m=$(jq -r --arg t "$1" '.manifests[] |
		select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
		"$FIX/index.json")
	jq -r '.layers[].digest' "$FIX/blobs/sha256/${m#sha256:}"
}

# registry_manifest_digest REG REPO TAG: sha256 of the manifest bytes the registry serves.
registry_manifest_digest() {
	echo "sha256:$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json' \
		"http://$1/v2/$2/manifests/$3" | sha256sum | cut -d' ' -f1)"
}

# assert_cache_clean: no temporary or lock file in the cache; every blob matches its name.
assert_cache_clean() {
	local f leftovers
	leftovers=$(find "$LITHO_CACHEDIR" -name '*.tmp.*' -o -name '*.lock' 2>/dev/null || true)
	if [[ -n $leftovers ]]; then
		echo "left in the cache: $leftovers" >&2
		return 1
	fi
	for f in "$LITHO_CACHEDIR"/blobs/sha256/*; do
		[[ -f $f ]] || continue
		if [[ $(sha256sum "$f" | cut -d' ' -f1) != "$(basename "$f")" ]]; then
			echo "corrupt cache entry $f" >&2
			return 1
		fi
	done
}

# ---------------------------------------------------------------------------------------------
# Pulls

@test "pull: an OCI image: manifest digest, layers (a repeated one too), cache filled" {
	pull "docker://$REG_OPEN/test/umoci:dup"
	[[ $(jq -r .manifest <<<"$output") == "$(registry_manifest_digest "$REG_OPEN" test/umoci dup)" ]]
	[[ $(jq -r .name <<<"$output") == "$REG_OPEN/test/umoci" ]]
	[[ $(jq -r .tag <<<"$output") == dup ]]
	diff <(layout_layers dup) <(jq -r '.layers[].digest' <<<"$output")
	# every layer was read in full in both passes
	[[ $(jq '[.layers[] | select(.read != .size)] | length' <<<"$output") -eq 0 ]]
	local d
	for d in $(layout_layers dup) $(jq -r '.manifest, .config' <<<"$output"); do
		[[ -f $LITHO_CACHEDIR/blobs/sha256/${d#sha256:} ]]
	done
	assert_cache_clean
}

@test "pull: the second pull resolves the tag with HEAD and downloads nothing" {
	pull "docker://$REG_PROXY/test/umoci:dup"
	[[ $(count_requests "$REG_DIR/proxy-open.log" GET '/blobs/') -eq 4 ]] # 3 layers + config
	[[ $(count_requests "$REG_DIR/proxy-open.log" GET '/manifests/') -eq 1 ]]
	: >"$REG_DIR/proxy-open.log"
	pull "docker://$REG_PROXY/test/umoci:dup"
	[[ $(count_requests "$REG_DIR/proxy-open.log" GET '/blobs/') -eq 0 ]]
	[[ $(count_requests "$REG_DIR/proxy-open.log" GET '/manifests/') -eq 0 ]]
	[[ $(count_requests "$REG_DIR/proxy-open.log" HEAD '/manifests/dup$') -eq 1 ]]
	# by digest with everything cached: no request beyond the ping
	: >"$REG_DIR/proxy-open.log"
	pull "docker://$REG_PROXY/test/umoci@$(jq -r .manifest <<<"$output")"
	[[ $(count_requests "$REG_DIR/proxy-open.log" GET '/v2/.+') -eq 0 ]]
}

@test "pull: Docker v2s2 and zstd images" {
	pull "docker://$REG_OPEN/test/v2s2:dup"
	[[ $(jq -r '.layers[0].media_type' <<<"$output") == application/vnd.docker.image.rootfs.diff.tar.gzip ]]
	[[ $(jq -r .manifest <<<"$output") == "$(registry_manifest_digest "$REG_OPEN" test/v2s2 dup)" ]]
	pull "docker://$REG_OPEN/test/zstd:dup"
	[[ $(jq -r '.layers[0].media_type' <<<"$output") == application/vnd.oci.image.layer.v1.tar+zstd ]]
	[[ $(jq '[.layers[] | select(.read != .size)] | length' <<<"$output") -eq 0 ]]
}

@test "pull: a multi-platform index gives the wanted platform's manifest" {
	local amd arm
	amd=$(jq -r .amd64 "$REG_DIR/multi.json")
	arm=$(jq -r .arm64 "$REG_DIR/multi.json")
	pull "docker://$REG_OPEN/test/multi:latest" --platform linux/amd64
	[[ $(jq -r .manifest <<<"$output") == "$amd" ]]
	[[ $(jq -r .arch <<<"$output") == amd64 ]]
	pull "docker://$REG_OPEN/test/multi:latest" --platform linux/arm64
	[[ $(jq -r .manifest <<<"$output") == "$arm" ]]
	[[ $(jq -r .arch <<<"$output") == arm64 ]]
	pull "docker://$REG_OPEN/test/multi:latest" --platform linux/arm64/v8
	[[ $(jq -r .manifest <<<"$output") == "$arm" ]]
	fail_pull "docker://$REG_OPEN/test/multi:latest" --platform linux/s390x
	[[ $stderr == *"no image for linux/s390x (available: linux/amd64, linux/arm64/v8)"* ]]
}

@test "pull: by digest, and a digest the registry does not have" {
	local d
	d=$(registry_manifest_digest "$REG_OPEN" test/umoci dup)
	pull "docker://$REG_OPEN/test/umoci@$d" --no-cache
	[[ $(jq -r .manifest <<<"$output") == "$d" ]]
	fail_pull "docker://$REG_OPEN/test/umoci@sha256:$(printf x | sha256sum | cut -d' ' -f1)"
	[[ $stderr == *"manifest unknown"* ]]
}

@test "pull: an unknown tag or repository is a clear error" {
	fail_pull "docker://$REG_OPEN/test/umoci:nope"
	[[ $stderr == *"docker://$REG_OPEN/test/umoci:nope: manifest unknown"* ]]
	fail_pull "docker://$REG_OPEN/no/such/repo:x"
	[[ $stderr == *"docker://$REG_OPEN/no/such/repo:x: manifest unknown"* ]]
	fail_pull "docker://$REG_OPEN/Test/x"
	[[ $stderr == *"invalid repository name"* ]]
}

# ---------------------------------------------------------------------------------------------
# Authentication

@test "Basic auth: explicit credentials, the environment, a wrong password, none" {
	pull "docker://$REG_BASIC/test/umoci:dup" -u alice -p secret
	LITHO_DOCKER_USERNAME=alice LITHO_DOCKER_PASSWORD=secret pull "docker://$REG_BASIC/test/umoci:dup" --no-cache
	APPTAINER_DOCKER_USERNAME=alice APPTAINER_DOCKER_PASSWORD=secret pull "docker://$REG_BASIC/test/umoci:latest"
	fail_pull "docker://$REG_BASIC/test/umoci:dup" -u alice -p wrong --no-cache
	[[ $stderr == *"registry $REG_BASIC: authentication failed for user alice"* ]]
	[[ $stderr == *"docker://$REG_BASIC/test/umoci:dup"* ]]
	fail_pull "docker://$REG_BASIC/test/umoci:dup" --no-cache
	[[ $stderr == *"registry $REG_BASIC: "*"authentication required"* ]]
}

@test "Bearer auth: anonymous public pulls, one token per scope, credentials, refusals" {
	pull "docker://$REG_TOKEN/public/umoci:dup" --prefetch
	# ping, then one anonymous token for repository:public/umoci:pull, used by every thread
	[[ $(wc -l <"$REG_DIR/token-requests.log") -eq 1 ]]
	jq -e '.scopes == ["repository:public/umoci:pull"] and .auth == false' "$REG_DIR/token-requests.log"
	: >"$REG_DIR/token-requests.log"
	pull "docker://$REG_TOKEN/test/umoci:dup" -u alice -p secret --no-cache
	[[ $(wc -l <"$REG_DIR/token-requests.log") -eq 1 ]]
	jq -e '.account == "alice" and .user == "alice"' "$REG_DIR/token-requests.log"
	fail_pull "docker://$REG_TOKEN/test/umoci:dup" -u alice -p wrong
	[[ $stderr == *"registry $REG_TOKEN: authentication failed for user alice"* ]]
	fail_pull "docker://$REG_TOKEN/test/umoci:dup"
	[[ $stderr == *"registry $REG_TOKEN: "*"authentication required"* ]]
}

@test "login: verified against Basic and Bearer registries, stored 0600, used, logout" {
	drv login "$REG_BASIC" alice wrong --no-https
	[[ $status -ne 0 ]]
	[[ $stderr == *"registry $REG_BASIC: authentication failed for user alice"* ]]
	[[ ! -e $LITHO_CONFIGDIR/registry-auth.json ]]
	drv login "docker://$REG_BASIC" alice secret --no-https
	[[ $status -eq 0 ]]
	[[ $(stat -c %a "$LITHO_CONFIGDIR/registry-auth.json") == 600 ]]
	[[ $(jq -r --arg h "$REG_BASIC" '.auths[$h].auth' "$LITHO_CONFIGDIR/registry-auth.json" | base64 -d) == alice:secret ]]
	drv login "$REG_TOKEN" alice wrong --no-https
	[[ $status -ne 0 ]]
	[[ $stderr == *"registry $REG_TOKEN: authentication failed for user alice"* ]]
	drv login "$REG_TOKEN" alice secret --no-https
	[[ $status -eq 0 ]]
	drv logins
	[[ $output == *"$REG_BASIC alice"* && $output == *"$REG_TOKEN alice"* ]]
	pull "docker://$REG_BASIC/test/umoci:dup"
	pull "docker://$REG_TOKEN/test/umoci:dup" --no-cache
	drv logout "$REG_BASIC"
	[[ $status -eq 0 ]]
	fail_pull "docker://$REG_BASIC/test/umoci:dup" --no-cache
	[[ $stderr == *"authentication required"* ]]
	drv logout "$REG_BASIC"
	[[ $status -ne 0 && $stderr == *"not logged in to $REG_BASIC"* ]]
}

@test "login: credentials from Docker's config.json and Apptainer's docker-config.json" {
	mkdir -p "$DOCKER_CONFIG" "$HOME/.apptainer"
	printf '{"auths":{"http://%s":{"auth":"%s"}}}\n' "$REG_BASIC" "$(printf alice:secret | base64)" \
		>"$DOCKER_CONFIG/config.json"
	pull "docker://$REG_BASIC/test/umoci:dup"
	rm "$DOCKER_CONFIG/config.json"
	printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REG_TOKEN" "$(printf alice:secret | base64)" \
		>"$HOME/.apptainer/docker-config.json"
	pull "docker://$REG_TOKEN/test/umoci:dup" --no-cache
}

# ---------------------------------------------------------------------------------------------
# Faults

@test "faults: a connection dropped in the middle of a blob is resumed with Range" {
	set_faults open '{"blob_drop": 1}'
	pull "docker://$REG_PROXY/test/umoci:dup"
	[[ $(jq -r .blob_drop "$REG_DIR/faults-open.json") -eq 0 ]]
	jq -s -e '[.[] | select(.range != null and (.range | test("^bytes=[1-9][0-9]*-$")) and .status == 206)] | length == 1' \
		"$REG_DIR/proxy-open.log"
	[[ $stderr == *"resuming at byte"* ]]
	assert_cache_clean
	# the same without the cache (an unlinked temporary file)
	set_faults open '{"blob_drop": 1}'
	pull "docker://$REG_PROXY/test/umoci:dup" --no-cache
	[[ $(jq -r .blob_drop "$REG_DIR/faults-open.json") -eq 0 ]]
}

@test "faults: 429 with Retry-After on the first manifest request is waited out" {
	set_faults open '{"manifest_429": 1, "retry_after": "1"}'
	local t0=$SECONDS
	pull "docker://$REG_PROXY/test/umoci:dup"
	[[ $((SECONDS - t0)) -ge 1 ]]
	[[ $(jq -r .manifest_429 "$REG_DIR/faults-open.json") -eq 0 ]]
	[[ $stderr == *"HTTP 429 (too many requests); retrying in 1.0 s"* ]]
	# a registry that keeps refusing: bounded attempts, a clear error
	set_faults open '{"manifest_429": -1, "retry_after": "0"}'
	fail_pull "docker://$REG_PROXY/test/umoci:latest"
	[[ $stderr == *"registry $REG_PROXY: manifest latest: HTTP 429 (TOOMANYREQUESTS: slow down): gave up after 5 attempts"* ]] ||
		[[ $stderr == *"gave up after 5 attempts"*"HTTP 429"* ]]
	[[ $(count_requests "$REG_DIR/proxy-open.log" HEAD '/manifests/' 429) -eq 5 ]]
	# asked to wait longer than the backoff limit: give up at once
	set_faults open '{"manifest_429": -1, "retry_after": "3600"}'
	fail_pull "docker://$REG_PROXY/test/umoci:latest"
	[[ $stderr == *"registry $REG_PROXY: manifest latest: too many requests (the registry asks to wait 3600 s"* ]]
}

@test "faults: a corrupted blob is rejected with a digest error and never cached" {
	set_faults open '{"blob_corrupt": -1}'
	fail_pull "docker://$REG_PROXY/test/umoci:dup"
	local big
	big=$(layout_layers dup | head -1)
	[[ $stderr == *"docker://$REG_PROXY/test/umoci:dup: "*"registry $REG_PROXY: blob $big: digest mismatch: the downloaded bytes hash to sha256:"* ]]
	[[ ! -e $LITHO_CACHEDIR/blobs/sha256/${big#sha256:} ]]
	assert_cache_clean
	# the prefetching path and the no-cache path give the same error
	fail_pull "docker://$REG_PROXY/test/umoci:dup" --prefetch
	[[ $stderr == *"digest mismatch"* ]]
	fail_pull "docker://$REG_PROXY/test/umoci:dup" --no-cache
	[[ $stderr == *"digest mismatch"* ]]
	assert_cache_clean
	# a corrupt config
	rm -rf "$LITHO_CACHEDIR"
	set_faults open '{"small_blob_corrupt": 1}'
	fail_pull "docker://$REG_PROXY/test/umoci:dup"
	[[ $stderr == *"registry $REG_PROXY: config blob sha256:"*": digest mismatch: got sha256:"* ]]
	assert_cache_clean
	set_faults open '{}'
	pull "docker://$REG_PROXY/test/umoci:dup"
	assert_cache_clean
	# a cache entry corrupted on disk is detected when read, and removed
	local f=$LITHO_CACHEDIR/blobs/sha256/${big#sha256:}
	printf 'X' | dd of="$f" bs=1 seek=1000 conv=notrunc status=none
	fail_pull "docker://$REG_PROXY/test/umoci:dup"
	[[ $stderr == *"blob $big: digest mismatch: got sha256:"* ]]
	[[ ! -e $f ]]
	pull "docker://$REG_PROXY/test/umoci:dup"
	assert_cache_clean
}

@test "faults: a 200 answer to a Range request restarts the blob; a wrong Content-Range fails" {
	set_faults open '{"blob_drop": 1, "blob_ignore_range": 1}'
	pull "docker://$REG_PROXY/test/umoci:dup"
	[[ $(jq -r .blob_ignore_range "$REG_DIR/faults-open.json") -eq 0 ]]
	assert_cache_clean
	rm -rf "$LITHO_CACHEDIR"
	set_faults open '{"blob_drop": 1, "blob_bad_range": 1}'
	fail_pull "docker://$REG_PROXY/test/umoci:dup"
	[[ $stderr == *"got Content-Range \"bytes 0-"* ]]
	assert_cache_clean
}

@test "faults: a redirect to another host does not carry the Authorization header" {
	set_faults basic "{\"redirect_blobs\": \"http://$REG_CDN\"}"
	pull "docker://$REG_PROXY_B/test/umoci:dup" -u alice -p secret
	# the registry side saw credentials and redirected every blob ...
	[[ $(count_requests "$REG_DIR/proxy-basic.log" GET '/blobs/' 307) -eq 4 ]]
	jq -s -e '[.[] | select(.status == 307 and .auth == false)] | length == 0' "$REG_DIR/proxy-basic.log"
	# ... and the CDN got them without (it answers 400 to an Authorization header)
	[[ $(count_requests "$REG_DIR/cdn.log" GET '/blobs/' 200) -eq 4 ]]
	jq -s -e '[.[] | select(.auth)] | length == 0' "$REG_DIR/cdn.log"
}

@test "faults: a registry that never answers times out; a closed port fails fast" {
	set_faults open '{"hang": true}'
	local t0=$SECONDS
	LITHO_HTTP_TIMEOUT=1 fail_pull "docker://$REG_PROXY/test/umoci:dup"
	[[ $((SECONDS - t0)) -lt 30 ]]
	[[ $stderr == *"registry $REG_PROXY: cannot reach http://$REG_PROXY"* ]]
	set_faults open '{}'
	local port
	port=$(free_port)
	t0=$SECONDS
	fail_pull "docker://127.0.0.1:$port/x:y"
	[[ $((SECONDS - t0)) -lt 5 ]]
	[[ $stderr == *"docker://127.0.0.1:$port/x:y: registry 127.0.0.1:$port: cannot reach"* ]]
}

@test "TLS: a self-signed registry needs its CA (or insecure); plain HTTP does not work" {
	drv pull "docker://$REG_TLS/test/umoci:dup"
	[[ $status -ne 0 ]]
	[[ $stderr == *"docker://$REG_TLS/test/umoci:dup: registry $REG_TLS: cannot reach https://$REG_TLS"*"certificate"* ]]
	drv pull "docker://$REG_TLS/test/umoci:dup" --ca "$REG_DIR/tls.crt"
	[[ $status -eq 0 ]] || { echo "$stderr" >&2; false; }
	[[ $(jq -r .manifest <<<"$output") == "$(registry_manifest_digest "$REG_OPEN" test/umoci dup)" ]]
	drv pull "docker://localhost:${REG_TLS#*:}/test/umoci:dup" --ca "$REG_DIR/tls.crt" --no-cache
	[[ $status -eq 0 ]] || { echo "$stderr" >&2; false; }
	drv pull "docker://$REG_TLS/test/umoci:dup" --insecure --no-cache
	[[ $status -eq 0 ]] || { echo "$stderr" >&2; false; }
	fail_pull "docker://$REG_TLS/test/umoci:dup"
	[[ $stderr == *"registry $REG_TLS: GET /v2/"*"HTTP 400"* ]]
}

@test "faults: a 500 on a manifest is retried" {
	set_faults open '{"manifest_500": 2}'
	pull "docker://$REG_PROXY/test/umoci:dup"
	[[ $(jq -r .manifest_500 "$REG_DIR/faults-open.json") -eq 0 ]]
}

# ---------------------------------------------------------------------------------------------
# Downloads: no cache, prefetch, concurrency

@test "no cache: layers read twice, each blob downloaded once, nothing in the cache" {
	pull "docker://$REG_PROXY/test/umoci:dup" --no-cache
	[[ $(count_requests "$REG_DIR/proxy-open.log" GET '/blobs/') -eq 4 ]]
	[[ $(jq '[.layers[] | select(.read != .size)] | length' <<<"$output") -eq 0 ]]
	[[ ! -e $LITHO_CACHEDIR ]]
}

@test "prefetch: every blob downloaded once, while the layers are read" {
	set_faults open '{"blob_delay_ms": 20}'
	pull "docker://$REG_PROXY/test/umoci:dup" --prefetch --jobs 2
	[[ $(count_requests "$REG_DIR/proxy-open.log" GET '/blobs/') -eq 4 ]]
	assert_cache_clean
}

@test "concurrency: two processes pull the same image into one cache" {
	set_faults open '{"blob_delay_ms": 30}'
	"$REGDRV" pull "docker://$REG_PROXY/test/umoci:dup" --no-https --prefetch >a.out 2>a.err &
	local a=$!
	"$REGDRV" pull "docker://$REG_PROXY/test/umoci:dup" --no-https >b.out 2>b.err &
	local b=$!
	local sa=0 sb=0
	wait $a || sa=$?
	wait $b || sb=$?
	[[ $sa -eq 0 ]] || { cat a.err >&2; false; }
	[[ $sb -eq 0 ]] || { cat b.err >&2; false; }
	diff <(jq -c .layers a.out) <(jq -c .layers b.out)
	# one process waited for the other instead of downloading a layer again (the small config
	# is not locked: both may fetch it)
	local d
	for d in $(layout_layers dup | sort -u); do
		[[ $(count_requests "$REG_DIR/proxy-open.log" GET "/blobs/$d\$") -eq 1 ]]
	done
	assert_cache_clean
	[[ $(count_files "$LITHO_CACHEDIR/blobs/sha256") -eq 5 ]] # 3 layers, config, manifest
}

# ---------------------------------------------------------------------------------------------
# ORAS

# mksif FILE SIZE: a SIF made with `litho sif new` + `litho sif add` (SIZE random bytes).
mksif() {
	"$LITHO" sif new "$1"
	head -c "$2" /dev/urandom >"$1.data"
	"$LITHO" sif add --datatype 7 "$1" "$1.data"
}

@test "oras: push a SIF, pull it back, the manifest is Apptainer's" {
	mksif x.sif 5000
	drv oras-push x.sif "oras://$REG_OPEN/oras/test:v1" --no-https --annotation org.example.k=v
	[[ $status -eq 0 ]] || { echo "$stderr" >&2; false; }
	local mdigest=$output ctime created
	drv oras-pull "oras://$REG_OPEN/oras/test:v1" y.sif --no-https
	[[ $status -eq 0 ]] || { echo "$stderr" >&2; false; }
	cmp x.sif y.sif
	[[ $output == "sha256:$(sha256sum x.sif | cut -d' ' -f1)" ]]
	[[ $(stat -c %a y.sif) == 755 ]]
	no_tmp_files .
	ctime=$(od -An -t d8 -j 64 -N 8 x.sif | tr -d ' ')
	created=$(date -u -d "@$ctime" +%Y-%m-%dT%H:%M:%SZ)
	curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$REG_OPEN/v2/oras/test/manifests/v1" >manifest.json
	jq -cnj --arg d "$(sha256sum x.sif | cut -d' ' -f1)" --argjson s "$(stat -c %s x.sif)" \
		--arg c "$created" '{schemaVersion: 2,
		mediaType: "application/vnd.oci.image.manifest.v1+json",
		config: {mediaType: "application/vnd.sylabs.sif.config.v1+json", size: 2,
			digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
			data: "e30="},
		layers: [{mediaType: "application/vnd.sylabs.sif.layer.v1.sif", size: $s,
			digest: ("sha256:" + $d),
			annotations: {"org.opencontainers.image.title": "x.sif"}}],
		annotations: {"org.example.k": "v", "org.opencontainers.image.created": $c}}' >expected.json
	assert_same_file expected.json manifest.json
	[[ $mdigest == "sha256:$(sha256sum manifest.json | cut -d' ' -f1)" ]]
	# the config blob exists too (registries check it)
	[[ $(curl -fsS "http://$REG_OPEN/v2/oras/test/blobs/sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a") == "{}" ]]
	# a second pull of the same digest comes from the cache
	[[ -f $LITHO_CACHEDIR/oras/sha256/$(sha256sum x.sif | cut -d' ' -f1) ]]
	drv oras-pull "oras://$REG_PROXY/oras/test:v1" z.sif --no-https
	[[ $status -eq 0 ]]
	cmp x.sif z.sif
	[[ $(count_requests "$REG_DIR/proxy-open.log" GET '/blobs/') -eq 0 ]]
}

@test "oras: chunked upload; a second push skips the blobs the registry has" {
	mksif big.sif 300000
	LITHO_UPLOAD_CHUNK_SIZE=65536 drv oras-push big.sif "oras://$REG_PROXY/oras/big:1" --no-https
	[[ $status -eq 0 ]] || { echo "$stderr" >&2; false; }
	[[ $(count_requests "$REG_DIR/proxy-open.log" PATCH '/blobs/uploads/' 202) -ge 5 ]]
	[[ $(count_requests "$REG_DIR/proxy-open.log" PUT '/blobs/uploads/.*digest=' 201) -eq 2 ]]
	drv oras-pull "oras://$REG_OPEN/oras/big:1" big2.sif --no-https --no-cache
	cmp big.sif big2.sif
	: >"$REG_DIR/proxy-open.log"
	drv oras-push big.sif "oras://$REG_PROXY/oras/big:2" --no-https
	[[ $status -eq 0 ]]
	[[ $(count_requests "$REG_DIR/proxy-open.log" POST '/blobs/uploads/') -eq 0 ]]
	[[ $(count_requests "$REG_DIR/proxy-open.log" HEAD '/blobs/' 200) -eq 2 ]]
	# a monolithic push (under the threshold): one PUT with the whole body
	: >"$REG_DIR/proxy-open.log"
	mksif small.sif 1000
	drv oras-push small.sif "oras://$REG_PROXY/oras/small:1" --no-https
	[[ $status -eq 0 ]]
	[[ $(count_requests "$REG_DIR/proxy-open.log" PATCH '/blobs/uploads/') -eq 0 ]]
	[[ $(count_requests "$REG_DIR/proxy-open.log" PUT '/blobs/uploads/.*digest=' 201) -eq 2 ]] # {} and the SIF
}

@test "oras: an Apptainer-shaped manifest pushed with curl is pulled (legacy media type)" {
	mksif a.sif 3000
	printf '{}' >cfg.json
	upload_blob "$REG_OPEN" oras/legacy cfg.json
	upload_blob "$REG_OPEN" oras/legacy a.sif
	local d s
	d=$(sha256sum a.sif | cut -d' ' -f1)
	s=$(stat -c %s a.sif)
	printf '{"schemaVersion":2,"config":{"mediaType":"application/vnd.sylabs.sif.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"appliciation/vnd.sylabs.sif.layer.tar","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.title":"a.sif"}}]}' \
		"$d" "$s" >m.json
	curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		--data-binary @m.json "http://$REG_OPEN/v2/oras/legacy/manifests/old" -o /dev/null
	drv oras-pull "oras://$REG_OPEN/oras/legacy:old" b.sif --no-https
	[[ $status -eq 0 ]] || { echo "$stderr" >&2; false; }
	cmp a.sif b.sif
	# by digest as well
	drv oras-pull "oras://$REG_OPEN/oras/legacy@sha256:$(sha256sum m.json | cut -d' ' -f1)" c.sif --no-https --no-cache
	[[ $status -eq 0 ]]
	cmp a.sif c.sif
}

@test "oras: non-SIF artifacts are refused; pushes need push rights" {
	drv oras-pull "oras://$REG_OPEN/test/umoci:dup" out.sif --no-https
	[[ $status -ne 0 ]]
	[[ $stderr == *"oras://$REG_OPEN/test/umoci:dup: not a SIF artifact: the manifest has 4 layers"* ]]
	[[ ! -e out.sif ]] && no_tmp_files .
	drv oras-pull "oras://$REG_OPEN/test/multi:latest" out.sif --no-https
	[[ $status -ne 0 && $stderr == *"not a SIF artifact: this is an image index"* ]]
	# a blob that is not a SIF
	printf '{}' >cfg.json
	echo "not a sif" >fake.sif
	upload_blob "$REG_OPEN" oras/fake cfg.json
	upload_blob "$REG_OPEN" oras/fake fake.sif
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.sylabs.sif.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/vnd.sylabs.sif.layer.v1.sif","digest":"sha256:%s","size":%s}]}' \
		"$(sha256sum fake.sif | cut -d' ' -f1)" "$(stat -c %s fake.sif)" >m.json
	curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		--data-binary @m.json "http://$REG_OPEN/v2/oras/fake/manifests/1" -o /dev/null
	drv oras-pull "oras://$REG_OPEN/oras/fake:1" out.sif --no-https
	[[ $status -ne 0 && $stderr == *"is not a SIF image (no SIF magic)"* ]]
	[[ ! -e out.sif ]] && no_tmp_files .
	drv oras-push fake.sif "oras://$REG_OPEN/oras/x:1" --no-https
	[[ $status -ne 0 && $stderr == *"fake.sif is not a SIF image"* ]]
	# Bearer: pull,push scope with credentials; anonymous pushes are refused
	mksif t.sif 2000
	drv oras-push t.sif "oras://$REG_TOKEN/oras/t:1" --no-https
	[[ $status -ne 0 ]]
	[[ $stderr == *"pushing t.sif to oras://$REG_TOKEN/oras/t:1"*"authentication required"* ]]
	: >"$REG_DIR/token-requests.log"
	drv oras-push t.sif "oras://$REG_TOKEN/oras/t:1" --no-https -u alice -p secret
	[[ $status -eq 0 ]] || { echo "$stderr" >&2; false; }
	jq -s -e 'map(select(.scopes == ["repository:oras/t:pull,push"])) | length == 1' "$REG_DIR/token-requests.log"
	drv oras-pull "oras://$REG_TOKEN/oras/t:1" t2.sif --no-https -u alice -p secret
	[[ $status -eq 0 ]]
	cmp t.sif t2.sif
	drv oras-push t.sif "oras://$REG_BASIC/oras/t:1" --no-https -u alice -p nope
	[[ $status -ne 0 && $stderr == *"registry $REG_BASIC: authentication failed for user alice"* ]]
}

# ---------------------------------------------------------------------------------------------
# Cache and the CLI

@test "cache: list, clean by kind and age, dry run; converted-SIF entries" {
	pull "docker://$REG_OPEN/test/umoci:dup"
	mksif s.sif 100
	drv sif-cache "sha256:abc build-opts" s.sif
	[[ $status -eq 0 && -f $output ]]
	cmp s.sif "$output"
	drv cache-list
	[[ $(grep -c '^blob ' <<<"$output") -eq 5 ]]
	[[ $(grep -c '^sif ' <<<"$output") -eq 1 ]]
	drv cache-clean --kind blob --days 1
	[[ $status -eq 0 && -z $output ]]
	touch -d '3 days ago' "$LITHO_CACHEDIR"/blobs/sha256/*
	drv cache-clean --kind blob --days 1 --dry-run
	[[ $(grep -c '^blob ' <<<"$output") -eq 5 ]]
	[[ $(count_files "$LITHO_CACHEDIR/blobs/sha256") -eq 5 ]]
	drv cache-clean --kind blob --days 1
	[[ $(grep -c '^blob ' <<<"$output") -eq 5 ]]
	drv cache-list
	[[ $output == "sif "* && $(wc -l <<<"$output") -eq 1 ]]
	drv cache-clean
	drv cache-list
	[[ -z $output ]]
}

@test "litho build from docker:// gives the same tree as from oci:" {
	require_root
	require_cmd siftool unsquashfs
	export SOURCE_DATE_EPOCH=$SDE
	litho_build ref.sif "oci:$FIX:dup"
	# no --no-https here: the loopback registry is found to speak plain HTTP
	litho_build reg.sif "docker://$REG_OPEN/test/umoci:dup"
	extract_sif ref.sif ref
	extract_sif reg.sif reg
	grep -qx "from: $REG_OPEN/test/umoci:dup" reg/.singularity.d/Singularity
	grep -qx "bootstrap: docker" reg/.singularity.d/Singularity
	local f
	for f in Singularity labels.json; do
		sed -E -e 's/^(bootstrap|from): .*/\1: X/' \
			-e 's/("org.label-schema.usage.singularity.deffile.(bootstrap|from)": ).*/\1X/' \
			"reg/.singularity.d/$f" >"$f.reg"
		sed -E -e 's/^(bootstrap|from): .*/\1: X/' \
			-e 's/("org.label-schema.usage.singularity.deffile.(bootstrap|from)": ).*/\1X/' \
			"ref/.singularity.d/$f" >"$f.ref"
		assert_same_file "$f.ref" "$f.reg"
		cp -p "ref/.singularity.d/$f" "reg/.singularity.d/$f"
	done
	touch -r ref/.singularity.d reg/.singularity.d
	tree_compare ref reg
	# errors name the reference
	run_split "$LITHO" build bad.sif "docker://$REG_OPEN/test/umoci:nope"
	[[ $status -ne 0 && $stderr == *"docker://$REG_OPEN/test/umoci:nope: manifest unknown"* ]]
	[[ ! -e bad.sif ]]
}
