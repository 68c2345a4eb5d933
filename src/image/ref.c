/* Image references: "oci:DIR[:TAG|@DIGEST]", "oci-archive:FILE[:TAG|@DIGEST]",
 * "docker-archive:FILE[:NAME[:TAG]]", and Docker repository name normalisation. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image_internal.h"

static const struct {
	const char *name;
	enum img_transport transport;
} transports[] = {
    {"oci", IMG_OCI_DIR},
    {"oci-archive", IMG_OCI_ARCHIVE},
    {"docker-archive", IMG_DOCKER_ARCHIVE},
};

bool img_is_oras_reference(const char *ref)
{
	return ref != NULL && lt_str_has_prefix(ref, "oras://");
}

bool img_is_reference(const char *ref)
{
	if (ref == NULL)
		return false;
	if (lt_str_has_prefix(ref, "docker://") || img_is_oras_reference(ref))
		return true;
	for (size_t i = 0; i < LT_ARRAY_SIZE(transports); i++) {
		size_t n = strlen(transports[i].name);
		if (strncmp(ref, transports[i].name, n) == 0 && ref[n] == ':')
			return true;
	}
	return false;
}

/* Whether `path` exists as what the transport needs: a directory for oci:, anything else for
 * the archives. */
static bool path_fits(const char *path, bool want_dir)
{
	struct stat st;
	if (path[0] == '\0' || stat(path, &st) < 0)
		return false;
	return want_dir ? S_ISDIR(st.st_mode) : !S_ISDIR(st.st_mode);
}

void img_ref_free(img_ref *r)
{
	if (r == NULL)
		return;
	free(r->path);
	free(r->tag);
	free(r->digest);
	free(r->name);
	memset(r, 0, sizeof(*r));
}

/* Splits `rest` ("PATH[<sep>SUFFIX]") into path and separator/suffix. Paths may contain ':', so
 * the longest prefix that exists wins; when none exists the first separator splits. */
static void split_path(const char *rest, bool want_dir, bool allow_at, char **path, char *sep,
		       const char **suffix)
{
	*sep = '\0';
	*suffix = NULL;
	if (path_fits(rest, want_dir)) {
		*path = lt_xstrdup(rest);
		return;
	}
	for (size_t p = strlen(rest); p-- > 1;) {
		if (rest[p] != ':' && !(allow_at && rest[p] == '@'))
			continue;
		char *prefix = lt_xstrndup(rest, p);
		if (path_fits(prefix, want_dir)) {
			*path = prefix;
			*sep = rest[p];
			*suffix = rest + p + 1;
			return;
		}
		free(prefix);
	}
	/* Nothing exists: split at the first separator (the open reports the missing path). */
	size_t p = strcspn(rest, allow_at ? ":@" : ":");
	*path = lt_xstrndup(rest, p);
	if (rest[p] != '\0') {
		*sep = rest[p];
		*suffix = rest + p + 1;
	}
}

int img_ref_parse(const char *ref, img_ref *out, lt_error **err)
{
	memset(out, 0, sizeof(*out));
	size_t t;
	for (t = 0; t < LT_ARRAY_SIZE(transports); t++) {
		size_t n = strlen(transports[t].name);
		if (strncmp(ref, transports[t].name, n) == 0 && ref[n] == ':')
			break;
	}
	if (t == LT_ARRAY_SIZE(transports))
		return lt_error_set(err, 0,
				    "%s: not an image reference (expected oci:, oci-archive:, "
				    "docker-archive: or docker://)",
				    ref);
	out->transport = transports[t].transport;
	out->transport_name = transports[t].name;
	const char *rest = ref + strlen(transports[t].name) + 1;
	if (*rest == '\0')
		return lt_error_set(err, 0, "%s: missing path", ref);

	bool docker = out->transport == IMG_DOCKER_ARCHIVE;
	char sep;
	const char *suffix;
	split_path(rest, out->transport == IMG_OCI_DIR, !docker, &out->path, &sep, &suffix);
	if (out->path[0] == '\0') {
		img_ref_free(out);
		return lt_error_set(err, 0, "%s: missing path", ref);
	}
	if (sep == '\0')
		return 0;
	if (*suffix == '\0') {
		img_ref_free(out);
		return lt_error_set(err, 0, "%s: empty %s after '%c'", ref,
				    sep == '@' ? "digest" : (docker ? "name" : "tag"), sep);
	}
	if (sep == '@') {
		if (img_check_digest(suffix, "digest", err) < 0) {
			img_ref_free(out);
			return lt_error_wrap(err, "%s", ref);
		}
		out->digest = lt_xstrdup(suffix);
		return 0;
	}
	if (!docker) {
		out->tag = lt_xstrdup(suffix);
		return 0;
	}
	if (strchr(suffix, '@') != NULL) {
		img_ref_free(out);
		return lt_error_set(
		    err, 0, "%s: docker-archive references take NAME[:TAG], not a digest", ref);
	}
	char *name = NULL, *tag = NULL;
	if (img_docker_ref_split(suffix, &name, &tag) < 0) {
		img_ref_free(out);
		return lt_error_set(err, 0, "%s: invalid image name \"%s\"", ref, suffix);
	}
	free(name);
	/* Keep the name as given (for messages); matching normalises both sides. */
	const char *colon = strrchr(suffix, ':');
	const char *slash = strrchr(suffix, '/');
	if (colon != NULL && (slash == NULL || colon > slash))
		out->name = lt_xstrndup(suffix, (size_t)(colon - suffix));
	else
		out->name = lt_xstrdup(suffix);
	out->tag = tag;
	return 0;
}

static bool valid_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-' || c == '/' ||
	       c == ':';
}

int img_docker_ref_split(const char *s, char **name, char **tag)
{
	*name = *tag = NULL;
	if (s == NULL || *s == '\0' || strchr(s, '@') != NULL)
		return -1;
	const char *colon = strrchr(s, ':');
	const char *slash = strrchr(s, '/');
	size_t repo_len = strlen(s);
	const char *t = "latest";
	if (colon != NULL && (slash == NULL || colon > slash)) {
		repo_len = (size_t)(colon - s);
		t = colon + 1;
	}
	if (repo_len == 0 || *t == '\0' || s[0] == '/' || s[repo_len - 1] == '/')
		return -1;
	for (size_t i = 0; i < repo_len; i++)
		if (!valid_name_char(s[i]))
			return -1;
	for (const char *p = t; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return -1;

	char *repo = lt_xstrndup(s, repo_len);
	const char *first_slash = strchr(repo, '/');
	const char *domain = "docker.io";
	const char *remainder = repo;
	char *dom_buf = NULL;
	if (first_slash != NULL) {
		dom_buf = lt_xstrndup(repo, (size_t)(first_slash - repo));
		bool is_domain = strchr(dom_buf, '.') != NULL || strchr(dom_buf, ':') != NULL ||
				 strcmp(dom_buf, "localhost") == 0;
		for (const char *p = dom_buf; *p && !is_domain; p++)
			if (isupper((unsigned char)*p))
				is_domain = true;
		if (is_domain) {
			domain = dom_buf;
			remainder = first_slash + 1;
		}
	}
	if (strcmp(domain, "index.docker.io") == 0)
		domain = "docker.io";
	if (strchr(remainder, ':') != NULL) {
		free(dom_buf);
		free(repo);
		return -1;
	}
	if (strcmp(domain, "docker.io") == 0 && strchr(remainder, '/') == NULL)
		*name = lt_strdup_printf("%s/library/%s", domain, remainder);
	else
		*name = lt_strdup_printf("%s/%s", domain, remainder);
	*tag = lt_xstrdup(t);
	free(dom_buf);
	free(repo);
	return 0;
}

char *img_docker_ref_canonical(const char *s)
{
	char *name, *tag;
	if (img_docker_ref_split(s, &name, &tag) < 0)
		return NULL;
	char *r = lt_strdup_printf("%s:%s", name, tag);
	free(name);
	free(tag);
	return r;
}

char *img_join_list(char **items, size_t n)
{
	if (n == 0)
		return lt_xstrdup("none");
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(items[i]) + 2;
	char *s = lt_xmalloc(len);
	s[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strcat(s, ", ");
		strcat(s, items[i]);
	}
	return s;
}
