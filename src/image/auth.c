/* Registry authentication: WWW-Authenticate challenges, Bearer token requests, where
 * credentials come from, and litho's own credential store (`litho registry login/logout`).
 *
 * Credential order (first match wins): explicit options; LITHO_DOCKER_USERNAME/PASSWORD,
 * APPTAINER_DOCKER_USERNAME/PASSWORD, SINGULARITY_DOCKER_USERNAME/PASSWORD; litho's store;
 * Docker's config.json; Apptainer's docker-config.json. Docker credential helpers (credsStore,
 * credHelpers) and identity tokens are not supported: such entries are skipped with a note. */
#include <ctype.h>
#include "dlib/dlib.h"
#include <errno.h>
#include <fcntl.h>
#include "dlib/dlib.h"
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_internal.h"

#define MIN_TOKEN_LIFETIME 60 /* seconds (containers/image raises shorter ones to this) */

/* ---------------------------------------------------------------------------------------------
 * base64
 */
char *img_reg_base64(const char *s, size_t len)
{
	char *out = lt_xmalloc(4 * ((len + 2) / 3) + 1);
	int n = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)len);
	out[n] = '\0';
	return out;
}

char *img_reg_unbase64(const char *s, size_t *lenp)
{
	/* EVP_DecodeBlock wants a multiple of 4 characters and ignores no whitespace. */
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	size_t padded = (n + 3) / 4 * 4;
	char *in = lt_xmalloc(padded + 1);
	memcpy(in, s, n);
	memset(in + n, '=', padded - n);
	in[padded] = '\0';
	char *out = lt_xmalloc(padded / 4 * 3 + 1);
	int r = EVP_DecodeBlock((unsigned char *)out, (unsigned char *)in, (int)padded);
	if (r < 0) {
		free(in);
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	size_t len = (size_t)r;
	for (size_t i = padded; i > 0 && in[i - 1] == '=' && len > 0; i--)
		len--;
	free(in);
	out[len] = '\0';
	if (lenp)
		*lenp = len;
	return out;
}

/* ---------------------------------------------------------------------------------------------
 * Challenges
 */
void img_reg_challenge_clear(reg_challenge *ch)
{
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	free(ch->error);
	memset(ch, 0, sizeof(*ch));
}

/* Parses `key=value` or `key="quoted \" value"` at *p; returns false at the end. */
static bool next_param(const char **p, char **key, char **value)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t' || *s == ',')
		s++;
	if (*s == '\0')
		return false;
	const char *k = s;
	while (*s && *s != '=' && *s != ',' && *s != ' ')
		s++;
	size_t klen = (size_t)(s - k);
	while (*s == ' ')
		s++;
	if (*s != '=') {
		/* A token without a value (or the next scheme): stop here. */
		*p = s;
		*key = lt_xstrndup(k, klen);
		*value = NULL;
		return true;
	}
	s++;
	while (*s == ' ')
		s++;
	char *v = lt_xmalloc(strlen(s) + 1);
	size_t n = 0;
	if (*s == '"') {
		s++;
		while (*s && *s != '"') {
			if (*s == '\\' && s[1] != '\0')
				s++;
			v[n++] = *s++;
		}
		if (*s == '"')
			s++;
	} else {
		while (*s && *s != ',' && *s != ' ')
			v[n++] = *s++;
	}
	v[n] = '\0';
	*key = lt_xstrndup(k, klen);
	*value = v;
	*p = s;
	return true;
}

int img_reg_challenge_parse(const char *value, reg_challenge *ch)
{
	memset(ch, 0, sizeof(*ch));
	if (value == NULL)
		return -1;
	const char *s = value;
	while (*s == ' ')
		s++;
	size_t n = 0;
	while (s[n] && s[n] != ' ' && n < sizeof(ch->scheme) - 1) {
		ch->scheme[n] = (char)tolower((unsigned char)s[n]);
		n++;
	}
	ch->scheme[n] = '\0';
	if (strcmp(ch->scheme, "basic") != 0 && strcmp(ch->scheme, "bearer") != 0)
		return -1;
	s += n;
	char *k, *v;
	while (next_param(&s, &k, &v)) {
		if (v == NULL) { /* another challenge follows: ours is complete */
			free(k);
			break;
		}
		char **field = NULL;
		if (strcasecmp(k, "realm") == 0)
			field = &ch->realm;
		else if (strcasecmp(k, "service") == 0)
			field = &ch->service;
		else if (strcasecmp(k, "scope") == 0)
			field = &ch->scope;
		else if (strcasecmp(k, "error") == 0)
			field = &ch->error;
		if (field != NULL && *field == NULL)
			*field = v;
		else
			free(v);
		free(k);
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Tokens
 */
static void append_param(char **url, const char *key, const char *value)
{
	char *esc = curl_easy_escape(NULL, value, 0);
	char *u =
	    lt_strdup_printf("%s%s%s=%s", *url, strchr(*url, '?') ? "&" : "?", key, esc ? esc : "");
	curl_free(esc);
	free(*url);
	*url = u;
}

int img_reg_token_fetch(reg_client *c, const char *realm, const char *service, const char *scope,
			const reg_creds *cr, const volatile bool *abort, char **token,
			int64_t *expires_in, lt_error **err)
{
	*token = NULL;
	*expires_in = MIN_TOKEN_LIFETIME;
	if (!lt_str_has_prefix(realm, "https://") && !lt_str_has_prefix(realm, "http://"))
		return lt_error_set(err, 0, "%s: unsupported token realm \"%s\"",
				    img_reg_client_name(c), realm);
	char *url = lt_xstrdup(realm);
	if (service != NULL)
		append_param(&url, "service", service);
	/* Several scopes are separated by spaces: one parameter each. */
	for (const char *s = scope; s != NULL && *s;) {
		size_t n = strcspn(s, " ");
		if (n > 0) {
			char *one = lt_xstrndup(s, n);
			append_param(&url, "scope", one);
			free(one);
		}
		s += n;
		while (*s == ' ')
			s++;
	}
	char *basic = NULL;
	if (cr != NULL) {
		append_param(&url, "account", cr->user);
		char *up = lt_strdup_printf("%s:%s", cr->user, cr->pass);
		char *b = img_reg_base64(up, strlen(up));
		basic = lt_strdup_printf("Basic %s", b);
		free(b);
		free(up);
	}
	reg_req q = {.url = url,
		     .what = "token request",
		     .authorization = basic,
		     .no_auth = basic == NULL,
		     .follow = true,
		     .abort = abort};
	reg_resp r = {0};
	int rc = img_reg_do(c, &q, &r, err);
	free(basic);
	if (rc < 0) {
		lt_error_wrap(err, "token server %s", realm);
		goto out;
	}
	if (r.status == 401 || r.status == 403) {
		if (cr != NULL)
			rc = lt_error_set(err, 0, "%s: authentication failed for user %s",
					  img_reg_client_name(c), cr->user);
		else
			rc =
			    lt_error_set(err, 0,
					 "%s: the token server %s refuses anonymous access (log in "
					 "with `litho registry login`)",
					 img_reg_client_name(c), realm);
		goto out;
	}
	if (r.status != 200) {
		rc = img_reg_http_error(c, "token request", &r, err);
		goto out;
	}
	json_t *j = json_loadb(r.body ? r.body : "", r.body_len, 0, NULL);
	const char *t = lt_json_string(j, "token");
	if (t == NULL || t[0] == '\0')
		t = lt_json_string(j, "access_token");
	if (t == NULL || t[0] == '\0') {
		rc = lt_error_set(err, 0, "%s: the token server %s answered without a token",
				  img_reg_client_name(c), realm);
	} else {
		*token = lt_xstrdup(t);
		json_t *e = json_object_get(j, "expires_in");
		if (json_is_integer(e) && json_integer_value(e) > MIN_TOKEN_LIFETIME)
			*expires_in = json_integer_value(e);
		rc = 0;
	}
	json_decref(j);
out:
	img_reg_resp_clear(&r);
	free(url);
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Where credentials come from
 */
void img_reg_creds_clear(reg_creds *c)
{
	free(c->user);
	free(c->pass);
	free(c->source);
	memset(c, 0, sizeof(*c));
}

char *img_reg_store_path(void)
{
	const char *dir = lt_env_nonempty("LITHO_CONFIGDIR");
	if (dir != NULL)
		return lt_path_join(dir, "registry-auth.json");
	return lt_strdup_printf("%s/.litho/registry-auth.json", img_home_dir());
}

char *img_reg_host_key(const char *registry)
{
	if (registry == NULL)
		return NULL;
	const char *s = registry;
	const char *sep = strstr(s, "://");
	if (sep != NULL)
		s = sep + 3;
	while (*s == '/')
		s++;
	size_t n = strcspn(s, "/");
	if (n == 0)
		return NULL;
	char *h = lt_xstrndup(s, n);
	for (char *p = h; *p; p++) {
		*p = (char)tolower((unsigned char)*p);
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != ':' &&
		    *p != '[' && *p != ']' && *p != '_') {
			free(h);
			return NULL;
		}
	}
	if (strcmp(h, "index.docker.io") == 0 || strcmp(h, DOCKER_HUB_API) == 0 ||
	    strcmp(h, "registry.hub.docker.com") == 0) {
		free(h);
		h = lt_xstrdup(DOCKER_HUB);
	}
	return h;
}

/* Looks host up in a Docker-format file ({"auths":{KEY:{"auth"|"username"/"password"}}}).
 * 1 found, 0 not. */
static int lookup_file(const char *path, const char *host, reg_creds *out)
{
	if (access(path, F_OK) != 0)
		return 0;
	lt_error *err = NULL;
	json_t *j = lt_json_load_file(path, &err);
	if (j == NULL) {
		lt_warn("ignoring %s: %s", path, err->message);
		lt_error_free(&err);
		return 0;
	}
	json_t *auths = json_object_get(j, "auths");
	const char *key;
	json_t *v;
	int found = 0;
	json_object_foreach(auths, key, v)
	{
		char *k = img_reg_host_key(key);
		bool match = k != NULL && strcmp(k, host) == 0;
		free(k);
		if (!match)
			continue;
		const char *auth = lt_json_string(v, "auth");
		const char *user = lt_json_string(v, "username");
		const char *pass = lt_json_string(v, "password");
		if (auth != NULL && auth[0] != '\0') {
			size_t len;
			char *dec = img_reg_unbase64(auth, &len);
			char *colon = dec ? memchr(dec, ':', len) : NULL;
			if (colon == NULL) {
				lt_warn("%s: the \"auth\" of %s is not base64 of user:password",
					path, key);
				free(dec);
				continue;
			}
			*colon = '\0';
			out->user = lt_xstrdup(dec);
			out->pass = lt_xstrdup(colon + 1);
			free(dec);
		} else if (user != NULL && pass != NULL) {
			out->user = lt_xstrdup(user);
			out->pass = lt_xstrdup(pass);
		} else {
			if (lt_json_string(v, "identitytoken") != NULL)
				lt_verbose("%s: identity tokens are not supported (entry %s)", path,
					   key);
			continue;
		}
		out->source = lt_xstrdup(path);
		found = 1;
		break;
	}
	if (!found && (json_object_get(j, "credsStore") || json_object_get(j, "credHelpers")))
		lt_debug("%s: credential helpers are not supported", path);
	json_decref(j);
	return found;
}

int img_reg_creds_lookup(const char *host, const img_registry_opts *o, reg_creds *out)
{
	memset(out, 0, sizeof(*out));
	if (o != NULL && o->username != NULL) {
		out->user = lt_xstrdup(o->username);
		out->pass = lt_xstrdup(o->password ? o->password : "");
		out->source = lt_xstrdup("the options");
		return 1;
	}
	static const char *const prefixes[] = {"LITHO", "APPTAINER", "SINGULARITY"};
	for (size_t i = 0; i < LT_ARRAY_SIZE(prefixes); i++) {
		char un[64], pn[64];
		snprintf(un, sizeof(un), "%s_DOCKER_USERNAME", prefixes[i]);
		snprintf(pn, sizeof(pn), "%s_DOCKER_PASSWORD", prefixes[i]);
		const char *u = lt_env_nonempty(un), *p = getenv(pn);
		if (u != NULL && p != NULL) {
			out->user = lt_xstrdup(u);
			out->pass = lt_xstrdup(p);
			out->source = lt_strdup_printf("the environment (%s)", un);
			return 1;
		}
		if (u != NULL)
			lt_warn("%s is set but %s is not: ignoring it", un, pn);
	}
	char *key = img_reg_host_key(host);
	if (key == NULL)
		return 0;
	char *files[4];
	size_t nf = 0;
	files[nf++] = img_reg_store_path();
	const char *dc = lt_env_nonempty("DOCKER_CONFIG");
	files[nf++] = dc ? lt_path_join(dc, "config.json")
			 : lt_strdup_printf("%s/.docker/config.json", img_home_dir());
	const char *ac = lt_env_nonempty("APPTAINER_CONFIGDIR");
	files[nf++] = ac ? lt_path_join(ac, "docker-config.json")
			 : lt_strdup_printf("%s/.apptainer/docker-config.json", img_home_dir());
	files[nf++] = lt_strdup_printf("%s/.singularity/docker-config.json", img_home_dir());
	int found = 0;
	for (size_t i = 0; i < nf && !found; i++)
		found = lookup_file(files[i], key, out);
	for (size_t i = 0; i < nf; i++)
		free(files[i]);
	free(key);
	return found;
}

/* ---------------------------------------------------------------------------------------------
 * litho's store
 */
/* Locks the store's folder (created 0700) against concurrent logins; returns the fd. */
static int store_lock(const char *path, lt_error **err)
{
	char *dir = lt_path_dirname(path);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		lt_error_set(err, errno, "creating %s", dir);
		free(dir);
		return -1;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		lt_error_set(err, errno, "locking %s", dir);
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	free(dir);
	return fd;
}

static json_t *store_load(const char *path, lt_error **err)
{
	if (access(path, F_OK) != 0)
		return json_pack("{s:{}}", "auths");
	json_t *j = lt_json_load_file(path, err);
	if (j == NULL)
		return NULL;
	if (!json_is_object(j)) {
		json_decref(j);
		lt_error_set(err, 0, "%s is not a JSON object", path);
		return NULL;
	}
	if (!json_is_object(json_object_get(j, "auths")))
		json_object_set_new(j, "auths", json_object());
	return j;
}

static int store_save(const char *path, const json_t *j, lt_error **err)
{
	char *text = lt_json_dump_indent(j, 1);
	size_t len = strlen(text);
	text = lt_xrealloc(text, len + 2);
	text[len++] = '\n';
	lt_atomic_file af;
	int rc = lt_atomic_open(&af, path, 0600, err);
	if (rc == 0) {
		if (lt_write_all(af.fd, text, len, path, err) < 0) {
			lt_atomic_abort(&af);
			rc = -1;
		} else {
			rc = lt_atomic_commit(&af, err);
		}
	}
	free(text);
	return rc;
}

/* Verifies credentials against the registry. */
static int verify_login(const char *host, const char *user, const char *password,
			const img_registry_opts *opts, lt_error **err)
{
	img_registry_opts o = opts ? *opts : (img_registry_opts){0};
	o.username = user;
	o.password = password;
	const char *api = strcmp(host, DOCKER_HUB) == 0 ? DOCKER_HUB_API : host;
	reg_client *c = img_reg_client_new(host, api, &o);
	int rc = img_reg_ping(c, NULL, err);
	if (rc == 0) {
		/* Basic: /v2/ with the credentials. Bearer: a token without a scope (as docker
		 * login does). Anonymous registries accept anything. */
		reg_req q = {.url = "/v2/", .what = "login"};
		reg_resp r = {0};
		rc = img_reg_do(c, &q, &r, err);
		if (rc == 0 && r.status != 200)
			rc = img_reg_http_error(c, "login", &r, err);
		img_reg_resp_clear(&r);
	}
	img_reg_client_free(c);
	return rc;
}

int img_registry_login(const char *registry, const char *username, const char *password,
		       const img_registry_opts *opts, bool verify, lt_error **err)
{
	char *host = img_reg_host_key(registry);
	if (host == NULL)
		return lt_error_set(err, 0, "invalid registry \"%s\"", registry ? registry : "");
	if (username == NULL || username[0] == '\0' || strchr(username, ':') != NULL) {
		lt_error_set(err, 0, "login to %s: invalid user name", host);
		free(host);
		return -1;
	}
	if (password == NULL)
		password = "";
	if (verify && verify_login(host, username, password, opts, err) < 0) {
		free(host);
		return -1;
	}
	char *path = img_reg_store_path();
	int rc = -1;
	int lock = store_lock(path, err);
	if (lock >= 0) {
		json_t *j = store_load(path, err);
		if (j != NULL) {
			char *up = lt_strdup_printf("%s:%s", username, password);
			char *b = img_reg_base64(up, strlen(up));
			json_object_set_new(json_object_get(j, "auths"), host,
					    json_pack("{s:s}", "auth", b));
			rc = store_save(path, j, err);
			free(b);
			free(up);
			json_decref(j);
		}
		close(lock);
	}
	if (rc < 0)
		lt_error_wrap(err, "saving the credentials of %s", host);
	free(path);
	free(host);
	return rc;
}

int img_registry_logout(const char *registry, lt_error **err)
{
	char *host = img_reg_host_key(registry);
	if (host == NULL)
		return lt_error_set(err, 0, "invalid registry \"%s\"", registry ? registry : "");
	char *path = img_reg_store_path();
	int rc = -1;
	int lock = store_lock(path, err);
	if (lock >= 0) {
		json_t *j = store_load(path, err);
		if (j != NULL) {
			json_t *auths = json_object_get(j, "auths");
			const char *key;
			json_t *v;
			void *tmp;
			bool found = false;
			json_object_foreach_safe(auths, tmp, key, v)
			{
				char *k = img_reg_host_key(key);
				if (k != NULL && strcmp(k, host) == 0) {
					json_object_del(auths, key);
					found = true;
				}
				free(k);
			}
			if (!found)
				lt_error_set(err, 0, "not logged in to %s", host);
			else
				rc = store_save(path, j, err);
			json_decref(j);
		}
		close(lock);
	}
	free(path);
	free(host);
	return rc;
}

static int cmp_login(const void *a, const void *b)
{
	return strcmp(((const img_registry_login_entry *)a)->registry,
		      ((const img_registry_login_entry *)b)->registry);
}

int img_registry_list(img_registry_login_entry **entries, size_t *n, lt_error **err)
{
	*entries = NULL;
	*n = 0;
	char *path = img_reg_store_path();
	json_t *j = store_load(path, err);
	free(path);
	if (j == NULL)
		return -1;
	json_t *auths = json_object_get(j, "auths");
	img_registry_login_entry *v = lt_xcalloc(json_object_size(auths) + 1, sizeof(*v));
	size_t k = 0;
	const char *key;
	json_t *val;
	json_object_foreach(auths, key, val)
	{
		const char *auth = lt_json_string(val, "auth");
		size_t len;
		char *dec = auth ? img_reg_unbase64(auth, &len) : NULL;
		char *colon = dec ? strchr(dec, ':') : NULL;
		if (colon != NULL)
			*colon = '\0';
		char *host = img_reg_host_key(key);
		v[k].registry = host ? host : lt_xstrdup(key);
		v[k].username = lt_xstrdup(colon ? dec : "?");
		k++;
		free(dec);
	}
	json_decref(j);
	qsort(v, k, sizeof(*v), cmp_login);
	*entries = v;
	*n = k;
	return 0;
}

void img_registry_list_free(img_registry_login_entry *entries, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(entries[i].registry);
		free(entries[i].username);
	}
	free(entries);
}
