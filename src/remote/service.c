/* An endpoint's services over HTTP(S), as Apptainer's internal/pkg/remote/endpoint and the
 * library client (scs-library-client) talk to them: service discovery through
 * /assets/config/config.prod.json, the token check, versions, and the library search. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dlib/dlib.h"
#include "remote/remote.h"

#define CONFIG_PATH	"/assets/config/config.prod.json"
#define TIMEOUT_SECONDS 10L

typedef struct body {
	char *data;
	size_t len;
} body;

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
	body *b = ctx;
	size_t add = size * n;
	if (b->len + add > (16u << 20))
		return 0; /* no answer of these services is that large */
	b->data = lt_xrealloc(b->data, b->len + add + 1);
	memcpy(b->data + b->len, p, add);
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

/* GET url (with a bearer token when given): the body of a 200 answer as JSON. */
static json_t *get_json(const char *url, const char *token, long *status, lt_error **err)
{
	static bool init;
	if (!init) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		init = true;
	}
	CURL *h = curl_easy_init();
	if (h == NULL) {
		lt_error_set(err, 0, "%s: cannot start an HTTP client", url);
		return NULL;
	}
	body b = {0};
	struct curl_slist *headers = NULL;
	char *auth = token && token[0] ? lt_strdup_printf("Authorization: Bearer %s", token) : NULL;
	if (auth != NULL)
		headers = curl_slist_append(headers, auth);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "litho/" LITHO_VERSION);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, TIMEOUT_SECONDS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	CURLcode rc = curl_easy_perform(h);
	*status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(h);
	curl_slist_free_all(headers);
	free(auth);
	json_t *doc = NULL;
	if (rc != CURLE_OK) {
		lt_error_set(err, 0, "error making request to server: %s: %s", url,
			     curl_easy_strerror(rc));
	} else if (*status != 200) {
		/* jsonresp errors: {"error":{"code":N,"message":"..."}} */
		json_t *e = b.data ? json_loads(b.data, 0, NULL) : NULL;
		const char *msg =
		    json_string_value(json_object_get(json_object_get(e, "error"), "message"));
		lt_error_set(err, 0, "error response from server: %s: %ld%s%s", url, *status,
			     msg ? " " : "", msg ? msg : "");
		json_decref(e);
	} else {
		doc = lt_json_parse(b.data ? b.data : "", b.len, url, err);
	}
	free(b.data);
	return doc;
}

char *rmt_endpoint_url(const rmt_endpoint *e)
{
	return lt_strdup_printf("%s://%s", e->insecure ? "http" : "https", e->uri);
}

static json_t *services_doc(const rmt_endpoint *e, lt_error **err)
{
	char *base = rmt_endpoint_url(e);
	char *url = lt_strdup_printf("%s%s", base, CONFIG_PATH);
	long status = 0;
	json_t *doc = get_json(url, NULL, &status, err);
	free(url);
	free(base);
	if (doc != NULL && !json_is_object(doc)) {
		json_decref(doc);
		lt_error_set(err, 0, "jsonresp: failed to unmarshal response: not an object");
		return NULL;
	}
	return doc;
}

int rmt_services(const rmt_endpoint *e, char ***names, char ***uris, lt_error **err)
{
	*names = *uris = NULL;
	json_t *doc = services_doc(e, err);
	if (doc == NULL)
		return -1;
	size_t n = 0;
	const char **keys = lt_json_sorted_keys(doc, &n);
	*names = lt_xcalloc(n + 1, sizeof(char *));
	*uris = lt_xcalloc(n + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *uri =
		    json_string_value(json_object_get(json_object_get(doc, keys[i]), "uri"));
		if (uri == NULL)
			continue;
		size_t len = strlen(keys[i]);
		if (len > 3 && strcmp(keys[i] + len - 3, "API") == 0)
			len -= 3;
		char *name = lt_xstrndup(keys[i], len);
		if (strcmp(name, "keystore") == 0) {
			free(name);
			name = lt_xstrdup("keyserver");
		}
		(*names)[k] = name;
		(*uris)[k++] = lt_xstrdup(uri);
	}
	free(keys);
	json_decref(doc);
	return 0;
}

int rmt_service_uri(const rmt_endpoint *e, const char *service, char **uri, lt_error **err)
{
	*uri = NULL;
	if (strcmp(e->uri, RMT_DEFAULT_CLOUD) == 0 && strcmp(service, "library") == 0) {
		*uri = lt_xstrdup(""); /* the default cloud has no library */
		return 0;
	}
	char **names = NULL, **uris = NULL;
	if (rmt_services(e, &names, &uris, err) < 0)
		return -1;
	for (size_t i = 0; names[i] != NULL && *uri == NULL; i++)
		if (strcmp(names[i], service) == 0)
			*uri = lt_xstrdup(uris[i]);
	lt_strv_free(names);
	lt_strv_free(uris);
	if (*uri == NULL)
		return lt_error_set(err, 0, "%s is not a service at endpoint", service);
	return 0;
}

int rmt_service_version(const char *uri, bool insecure, char **version, lt_error **err)
{
	char *url = lt_strdup_printf("%s/version", uri);
	long status = 0;
	json_t *doc = get_json(url, NULL, &status, err);
	free(url);
	if (doc == NULL)
		return -1;
	const char *v = json_string_value(json_object_get(json_object_get(doc, "data"), "version"));
	if (v == NULL)
		v = json_string_value(json_object_get(doc, "version"));
	*version = lt_xstrdup(v ? v : "");
	json_decref(doc);
	return 0;
}

int rmt_verify_token(const rmt_endpoint *e, const char *token, lt_error **err)
{
	char *uri = NULL;
	if (rmt_service_uri(e, "token", &uri, err) < 0)
		return lt_error_wrap(err, "while verifying token");
	char *url = lt_strdup_printf("%s/v1/token-status", uri);
	long status = 0;
	json_t *doc = get_json(url, token, &status, err);
	free(url);
	free(uri);
	if (doc == NULL)
		return lt_error_wrap(err, "while verifying token");
	json_decref(doc);
	lt_info("Access Token Verified!");
	return 0;
}

/* The strings of a JSON array joined with commas (new string), NULL when there are none. */
static char *join_array(const json_t *a)
{
	size_t n = json_is_array(a) ? json_array_size(a) : 0;
	if (n == 0)
		return NULL;
	char *out = lt_xstrdup("");
	for (size_t i = 0; i < n; i++) {
		const char *v = json_string_value(json_array_get(a, i));
		char *next = lt_strdup_printf("%s%s%s", out, i ? "," : "", v ? v : "");
		free(out);
		out = next;
	}
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int rmt_search(FILE *out, const char *library, const char *token, const char *query,
	       const char *arch, bool signed_only, lt_error **err)
{
	if (strlen(query) < 3)
		return lt_error_set(
		    err, 0,
		    "Couldn't search library: bad query '%s'. You must search for at "
		    "least 3 characters",
		    query);
	char *q = curl_easy_escape(NULL, query, 0);
	char *a = curl_easy_escape(NULL, arch, 0);
	size_t blen = strlen(library);
	while (blen > 0 && library[blen - 1] == '/')
		blen--;
	char *url = lt_strdup_printf("%.*s/v1/search?arch=%s%s&value=%s", (int)blen, library, a,
				     signed_only ? "&signed=true" : "", q);
	curl_free(q);
	curl_free(a);
	long status = 0;
	json_t *doc = get_json(url, token, &status, err);
	free(url);
	if (doc == NULL)
		return lt_error_wrap(err, "Couldn't search library");
	json_t *images = json_object_get(json_object_get(doc, "data"), "image");
	size_t n = json_is_array(images) ? json_array_size(images) : 0;
	char **items = lt_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		json_t *img = json_array_get(images, i);
		char *spec = join_array(json_object_get(img, "tags"));
		if (spec == NULL) {
			const char *hash = json_string_value(json_object_get(img, "hash"));
			spec = lt_xstrdup(hash ? hash : "");
		}
		const char *ent = json_string_value(json_object_get(img, "entityName"));
		const char *col = json_string_value(json_object_get(img, "collectionName"));
		const char *con = json_string_value(json_object_get(img, "containerName"));
		char *item = lt_strdup_printf("\tlibrary://%s/%s/%s:%s", ent ? ent : "",
					      col ? col : "", con ? con : "", spec);
		free(spec);
		const char *desc = json_string_value(json_object_get(img, "description"));
		if (desc != NULL && desc[0] != '\0' && strcasecmp(desc, "no description") != 0) {
			char *next = lt_strdup_printf("%s\n\t\t%s", item, desc);
			free(item);
			item = next;
		}
		char *fps = join_array(json_object_get(img, "fingerprints"));
		if (fps != NULL) {
			char *next = lt_strdup_printf("%s\n\t\tSigned by: %s", item, fps);
			free(fps);
			free(item);
			item = next;
		}
		items[i] = item;
	}
	json_decref(doc);
	if (n > 0) {
		qsort(items, n, sizeof(char *), cmp_str);
		fprintf(out, "Found %zu container images for %s matching \"%s\":\n\n", n, arch,
			query);
		for (size_t i = 0; i < n; i++)
			fprintf(out, "%s%s", i ? "\n\n" : "", items[i]);
		fputs("\n\n", out);
	} else {
		fprintf(out, "No container images found for %s matching \"%s\".\n\n", arch, query);
	}
	lt_strv_free(items);
	return 0;
}
