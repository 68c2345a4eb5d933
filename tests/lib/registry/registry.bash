# shellcheck shell=bash
# Helpers of tests/cli/registry.bats: local Distribution registries (`docker-registry` from
# Debian) in three configurations sharing one storage folder (open, htpasswd Basic, Bearer
# tokens from tests/lib/registry/token_server.py), fault-injecting proxies in front of the open
# and the Basic one, and a CDN stand-in (tests/lib/registry/fault_proxy.py).
#
# Load after helpers.bash and build_common.bash. reg_start_all (from setup_file) starts
# everything under $REG_DIR and exports:
#   REG_OPEN REG_BASIC REG_TOKEN   "127.0.0.1:PORT" of the registries
#   REG_TLS                        an open registry on HTTPS with a self-signed certificate
#                                  ($REG_DIR/tls.crt)
#   REG_PROXY                      proxy in front of REG_OPEN (faults: $REG_DIR/faults-open.json,
#                                  log: $REG_DIR/proxy-open.log)
#   REG_PROXY_B                    proxy in front of REG_BASIC (faults-basic.json,
#                                  proxy-basic.log)
#   REG_CDN                        "localhost:PORT" of the CDN (log: $REG_DIR/cdn.log)
#   REG_TOKSRV                     the token server (log: $REG_DIR/token.log)
# Users: alice/secret (both auth registries). reg_stop_all (teardown_file) stops them by pid.

REG_LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# free_port: a TCP port that nothing listens on now.
free_port() {
	"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# reg_wait URL NAME [CURL-OPTIONS...]: waits (10 s at most) until URL answers any HTTP status.
reg_wait() {
	local i code url=$1 name=$2
	shift 2
	for ((i = 0; i < 100; i++)); do
		code=$(curl -s "$@" -o /dev/null -w '%{http_code}' "$url" 2>/dev/null || true)
		if [[ $code != 000 && -n $code ]]; then
			return 0
		fi
		sleep 0.1
	done
	echo "$name did not start; its log:" >&2
	cat "$REG_DIR/$name.log" >&2 || true
	return 1
}

# reg_bg NAME CMD...: starts CMD in the background (log $REG_DIR/NAME.log, pid NAME.pid).
reg_bg() {
	local name=$1
	shift
	"$@" >"$REG_DIR/$name.log" 2>&1 &
	echo $! >"$REG_DIR/$name.pid"
}

# reg_config NAME PORT [AUTH-YAML]: writes $REG_DIR/NAME.yml.
reg_config() {
	cat >"$REG_DIR/$1.yml" <<-EOF2
		version: 0.1
		log:
		  level: warn
		  accesslog:
		    disabled: true
		storage:
		  filesystem:
		    rootdirectory: $REG_DIR/storage
		  delete:
		    enabled: true
		http:
		  addr: 127.0.0.1:$2
	EOF2
	if [[ -n ${3:-} ]]; then
		printf '%s\n' "$3" >>"$REG_DIR/$1.yml"
	fi
}

reg_start_all() {
	REG_DIR=${REG_DIR:-$BATS_FILE_TMPDIR/reg}
	mkdir -p "$REG_DIR/storage"
	export REG_DIR
	local p_open p_basic p_token p_toksrv p_proxy p_proxy_b p_cdn p_tls
	p_open=$(free_port) p_basic=$(free_port) p_token=$(free_port) p_toksrv=$(free_port)
	p_tls=$(free_port)
	p_proxy=$(free_port) p_proxy_b=$(free_port) p_cdn=$(free_port)
	htpasswd -Bbn alice secret >"$REG_DIR/htpasswd" 2>/dev/null
	echo "alice:secret" >"$REG_DIR/users"
	"$PYTHON" "$REG_LIB/token_server.py" gen-cert "$REG_DIR/token.key" "$REG_DIR/token.crt"
	"$PYTHON" "$REG_LIB/token_server.py" gen-tls "$REG_DIR/tls.key" "$REG_DIR/tls.crt"
	reg_config open "$p_open"
	reg_config basic "$p_basic" "auth:
  htpasswd:
    realm: test-realm
    path: $REG_DIR/htpasswd"
	reg_config token "$p_token" "auth:
  token:
    realm: http://127.0.0.1:$p_toksrv/token
    service: test-registry
    issuer: litho-test
    rootcertbundle: $REG_DIR/token.crt"
	reg_config tls "$p_tls"
	cat >>"$REG_DIR/tls.yml" <<-EOF2
		  tls:
		    certificate: $REG_DIR/tls.crt
		    key: $REG_DIR/tls.key
	EOF2
	echo '{}' >"$REG_DIR/faults-open.json"
	echo '{}' >"$REG_DIR/faults-basic.json"
	reg_bg open docker-registry serve "$REG_DIR/open.yml"
	reg_bg basic docker-registry serve "$REG_DIR/basic.yml"
	reg_bg token docker-registry serve "$REG_DIR/token.yml"
	reg_bg tls docker-registry serve "$REG_DIR/tls.yml"
	reg_bg toksrv "$PYTHON" "$REG_LIB/token_server.py" serve --port "$p_toksrv" \
		--key "$REG_DIR/token.key" --cert "$REG_DIR/token.crt" --issuer litho-test \
		--users "$REG_DIR/users" --log "$REG_DIR/token-requests.log"
	reg_bg proxy "$PYTHON" "$REG_LIB/fault_proxy.py" proxy --port "$p_proxy" \
		--upstream "127.0.0.1:$p_open" --faults "$REG_DIR/faults-open.json" \
		--log "$REG_DIR/proxy-open.log"
	reg_bg proxy_b "$PYTHON" "$REG_LIB/fault_proxy.py" proxy --port "$p_proxy_b" \
		--upstream "127.0.0.1:$p_basic" --faults "$REG_DIR/faults-basic.json" \
		--log "$REG_DIR/proxy-basic.log"
	reg_bg cdn "$PYTHON" "$REG_LIB/fault_proxy.py" cdn --port "$p_cdn" \
		--storage "$REG_DIR/storage" --log "$REG_DIR/cdn.log"
	reg_wait "http://127.0.0.1:$p_open/v2/" open &&
		reg_wait "http://127.0.0.1:$p_basic/v2/" basic &&
		reg_wait "http://127.0.0.1:$p_token/v2/" token &&
		reg_wait "https://127.0.0.1:$p_tls/v2/" tls --cacert "$REG_DIR/tls.crt" &&
		reg_wait "http://127.0.0.1:$p_toksrv/token" toksrv &&
		reg_wait "http://127.0.0.1:$p_proxy/v2/" proxy &&
		reg_wait "http://127.0.0.1:$p_proxy_b/v2/" proxy_b &&
		reg_wait "http://127.0.0.1:$p_cdn/" cdn || return 1
	export REG_OPEN=127.0.0.1:$p_open REG_BASIC=127.0.0.1:$p_basic REG_TOKEN=127.0.0.1:$p_token
	export REG_TLS=127.0.0.1:$p_tls
	export REG_TOKSRV=127.0.0.1:$p_toksrv REG_PROXY=127.0.0.1:$p_proxy
	export REG_PROXY_B=127.0.0.1:$p_proxy_b REG_CDN=localhost:$p_cdn
}

reg_stop_all() {
	local f pid
	for f in "${REG_DIR:-/nonexistent}"/*.pid; do
		[[ -f $f ]] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null || true
	done
	for f in "${REG_DIR:-/nonexistent}"/*.pid; do
		[[ -f $f ]] || continue
		pid=$(cat "$f")
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$f"
	done
}

# reg_push SRC DEST [SKOPEO-OPTIONS...]: skopeo copy SRC docker://DEST (no TLS).
reg_push() {
	local src=$1 dest=$2
	shift 2
	if ! skopeo copy -q --dest-tls-verify=false "$@" "$src" "docker://$dest" \
		>"$REG_DIR/skopeo.log" 2>&1; then
		echo "skopeo copy $src docker://$dest failed:" >&2
		cat "$REG_DIR/skopeo.log" >&2
		return 1
	fi
}

# count_requests LOG METHOD PATH-REGEX [STATUS]: how many logged requests match.
count_requests() {
	jq -s --arg m "$2" --arg p "$3" --arg s "${4:-}" \
		'[.[] | select(.method == $m and (.path | test($p)) and
		  ($s == "" or (.status | tostring) == $s))] | length' "$1"
}

# faults FILE JSON: sets the faults of a proxy (and empties its log).
set_faults() {
	local name=$1
	printf '%s\n' "$2" >"$REG_DIR/faults-$name.json"
	: >"$REG_DIR/proxy-$name.log"
}

# upload_blob REGISTRY REPO FILE [CURL-AUTH...]: pushes FILE as a blob with curl (POST + PUT).
upload_blob() {
	local reg=$1 repo=$2 file=$3 loc digest
	shift 3
	digest="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
	loc=$(curl -fsS "$@" -X POST -D - -o /dev/null "http://$reg/v2/$repo/blobs/uploads/" |
		tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
	[[ $loc == /* ]] && loc="http://$reg$loc"
	curl -fsS "$@" -X PUT -H 'Content-Type: application/octet-stream' \
		--data-binary "@$file" "$loc&digest=$digest" -o /dev/null
}
