/* The image config's "config" object as Apptainer stores it in oci-config.json: decoded the way
 * Go's encoding/json decodes it into the config struct Apptainer uses (json.Unmarshal: keys
 * matched exactly or else case-insensitively, later keys win, null leaves a string or bool
 * alone and clears a list or map, unknown keys dropped, wrong types are errors) and encoded
 * like json.Marshal (struct field order, omitempty everywhere, map keys sorted).
 *
 * Apptainer >= 1.4 (conveyorPacker_oci.go insertOCIConfig(): json.Marshal(cp.imgConfig) with
 * imgConfig a go-containerregistry v1.Config) and Apptainer <= 1.3 (the same function with an
 * image-spec v1 ImageConfig from containers/image) differ in field order and field set. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "meta_internal.h"

enum cf_type {
	CF_BOOL,    /* bool */
	CF_STRING,  /* string */
	CF_STRINGS, /* []string */
	CF_STRMAP,  /* map[string]string */
	CF_SET,	    /* map[string]struct{} */
	CF_HEALTH,  /* *HealthConfig */
};

struct cf_field {
	const char *name;
	enum cf_type type;
};

/* go-containerregistry pkg/v1/config.go, type Config */
static const struct cf_field ggcr_fields[] = {
    {"AttachStderr", CF_BOOL},	{"AttachStdin", CF_BOOL},   {"AttachStdout", CF_BOOL},
    {"Cmd", CF_STRINGS},	{"Healthcheck", CF_HEALTH}, {"Domainname", CF_STRING},
    {"Entrypoint", CF_STRINGS}, {"Env", CF_STRINGS},	    {"Hostname", CF_STRING},
    {"Image", CF_STRING},	{"Labels", CF_STRMAP},	    {"OnBuild", CF_STRINGS},
    {"OpenStdin", CF_BOOL},	{"StdinOnce", CF_BOOL},	    {"Tty", CF_BOOL},
    {"User", CF_STRING},	{"Volumes", CF_SET},	    {"WorkingDir", CF_STRING},
    {"ExposedPorts", CF_SET},	{"ArgsEscaped", CF_BOOL},   {"NetworkDisabled", CF_BOOL},
    {"MacAddress", CF_STRING},	{"StopSignal", CF_STRING},  {"Shell", CF_STRINGS},
};

/* opencontainers/image-spec specs-go/v1/config.go (v1.1), type ImageConfig */
static const struct cf_field spec_fields[] = {
    {"User", CF_STRING},	{"ExposedPorts", CF_SET}, {"Env", CF_STRINGS},
    {"Entrypoint", CF_STRINGS}, {"Cmd", CF_STRINGS},	  {"Volumes", CF_SET},
    {"WorkingDir", CF_STRING},	{"Labels", CF_STRMAP},	  {"StopSignal", CF_STRING},
    {"ArgsEscaped", CF_BOOL},
};

/* go-containerregistry HealthConfig: Test []string, then time.Duration / int fields */
static const char *const health_ints[] = {"Interval", "Timeout", "StartPeriod", "Retries"};

_Static_assert(LT_ARRAY_SIZE(ggcr_fields) <= META_CONF_MAX_FIELDS, "meta_conf too small");
_Static_assert(LT_ARRAY_SIZE(spec_fields) <= META_CONF_MAX_FIELDS, "meta_conf too small");

static const struct cf_field *style_fields(enum meta_config_style style, size_t *n)
{
	if (style == META_CONFIG_IMAGE_SPEC) {
		*n = LT_ARRAY_SIZE(spec_fields);
		return spec_fields;
	}
	*n = LT_ARRAY_SIZE(ggcr_fields);
	return ggcr_fields;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "bool";
	default:
		return "null";
	}
}

static int type_error(lt_error **err, const char *field, const char *want, const json_t *v)
{
	return lt_error_set(err, 0, "cannot use a JSON %s as config.%s (%s)", json_kind(v), field,
			    want);
}

/* The field of `names` that JSON key `key` selects: an exact match, else one that is equal
 * ignoring ASCII case (Go's encoding/json rule), else -1. */
static int match_key(const char *key, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(key, names[i]) == 0)
			return (int)i;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(key, names[i]) == 0)
			return (int)i;
	}
	return -1;
}

static int decode_strings(const json_t *v, const char *field, json_t **out, lt_error **err)
{
	if (!json_is_array(v))
		return type_error(err, field, "a list of strings", v);
	json_t *list = json_array();
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *e = json_array_get(v, i);
		if (json_is_null(e)) {
			json_array_append_new(list, json_string(""));
		} else if (json_is_string(e)) {
			json_array_append(list, e);
		} else {
			json_decref(list);
			return type_error(err, field, "a list of strings", e);
		}
	}
	json_decref(*out);
	*out = list;
	return 0;
}

/* Decodes a JSON object into a Go map held in *out, adding to a map a case-variant key already
 * filled (Go reuses a non-nil map). */
static int decode_map(const json_t *v, const char *field, bool set, json_t **out, lt_error **err)
{
	if (!json_is_object(v))
		return type_error(err, field, set ? "an object of objects" : "an object of strings",
				  v);
	json_t *map = *out != NULL ? json_incref(*out) : json_object();
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)v, key, val)
	{
		if (set && (json_is_object(val) || json_is_null(val))) {
			json_object_set_new(map, key, json_object());
		} else if (!set && json_is_null(val)) {
			json_object_set_new(map, key, json_string(""));
		} else if (!set && json_is_string(val)) {
			json_object_set(map, key, val);
		} else {
			json_decref(map);
			return type_error(
			    err, field, set ? "an object of objects" : "an object of strings", val);
		}
	}
	json_decref(*out);
	*out = map;
	return 0;
}

static int decode_health(const json_t *v, json_t **out, lt_error **err)
{
	if (!json_is_object(v))
		return type_error(err, "Healthcheck", "an object", v);
	json_t *h = *out != NULL ? json_incref(*out) : json_object();
	static const char *const names[] = {"Test", "Interval", "Timeout", "StartPeriod",
					    "Retries"};
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)v, key, val)
	{
		int f = match_key(key, names, LT_ARRAY_SIZE(names));
		if (f < 0 || json_is_null(val)) {
			if (f == 0)
				json_object_del(h, "Test");
			continue;
		}
		if (f == 0) {
			json_t *test = json_incref(json_object_get(h, "Test"));
			if (decode_strings(val, "Healthcheck.Test", &test, err) < 0) {
				json_decref(test);
				json_decref(h);
				return -1;
			}
			json_object_set_new(h, "Test", test);
		} else if (json_is_integer(val)) {
			json_object_set(h, names[f], val);
		} else {
			json_decref(h);
			return type_error(err, "Healthcheck", "an integer", val);
		}
	}
	json_decref(*out);
	*out = h;
	return 0;
}

static int decode_field(const struct cf_field *f, const json_t *v, json_t **slot, lt_error **err)
{
	if (json_is_null(v)) {
		/* null is a no-op for a bool or string and sets a slice, map or pointer to nil */
		if (f->type != CF_BOOL && f->type != CF_STRING) {
			json_decref(*slot);
			*slot = NULL;
		}
		return 0;
	}
	switch (f->type) {
	case CF_BOOL:
		if (!json_is_boolean(v))
			return type_error(err, f->name, "a bool", v);
		break;
	case CF_STRING:
		if (!json_is_string(v))
			return type_error(err, f->name, "a string", v);
		break;
	case CF_STRINGS:
		return decode_strings(v, f->name, slot, err);
	case CF_STRMAP:
		return decode_map(v, f->name, false, slot, err);
	case CF_SET:
		return decode_map(v, f->name, true, slot, err);
	case CF_HEALTH:
		return decode_health(v, slot, err);
	}
	json_decref(*slot);
	*slot = json_incref((json_t *)v);
	return 0;
}

int meta_conf_decode(const json_t *doc, enum meta_config_style style, meta_conf *out,
		     lt_error **err)
{
	memset(out, 0, sizeof(*out));
	out->style = style;
	if (doc == NULL || json_is_null(doc))
		return 0;
	if (!json_is_object(doc))
		return lt_error_set(err, 0, "image config is a JSON %s, not an object",
				    json_kind(doc));

	size_t n;
	const struct cf_field *fields = style_fields(style, &n);
	const char *names[META_CONF_MAX_FIELDS];
	for (size_t i = 0; i < n; i++)
		names[i] = fields[i].name;

	static const char *const top[] = {"config"};
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)doc, key, val)
	{
		if (match_key(key, top, 1) != 0 || json_is_null(val))
			continue;
		if (!json_is_object(val)) {
			meta_conf_free(out);
			return lt_error_set(err, 0, "image config: \"config\" is a JSON %s",
					    json_kind(val));
		}
		const char *ckey;
		json_t *cval;
		json_object_foreach(val, ckey, cval)
		{
			int f = match_key(ckey, names, n);
			if (f < 0)
				continue;
			if (decode_field(&fields[f], cval, &out->v[f], err) < 0) {
				meta_conf_free(out);
				return lt_error_wrap(err, "image config");
			}
		}
	}
	return 0;
}

const json_t *meta_conf_get(const meta_conf *c, const char *name)
{
	size_t n;
	const struct cf_field *fields = style_fields(c->style, &n);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(fields[i].name, name) == 0)
			return c->v[i];
	}
	return NULL;
}

/* omitempty: false, "", and empty lists and maps are left out; a non-nil pointer is not. */
static bool is_empty(const struct cf_field *f, const json_t *v)
{
	if (v == NULL)
		return true;
	switch (f->type) {
	case CF_BOOL:
		return !json_is_true(v);
	case CF_STRING:
		return json_string_length(v) == 0;
	case CF_STRINGS:
		return json_array_size(v) == 0;
	case CF_STRMAP:
	case CF_SET:
		return json_object_size(v) == 0;
	case CF_HEALTH:
		return false;
	}
	return true;
}

static void encode_strings(lt_buf *b, const json_t *list)
{
	lt_buf_addc(b, '[');
	for (size_t i = 0; i < json_array_size(list); i++) {
		size_t len;
		const char *s = meta_jstr(json_array_get(list, i), &len);
		if (i > 0)
			lt_buf_addc(b, ',');
		meta_add_json_string(b, s, len);
	}
	lt_buf_addc(b, ']');
}

/* map[string]struct{}: {"k":{},...} with sorted keys */
static void encode_set(lt_buf *b, const json_t *obj)
{
	size_t k;
	const char **keys = lt_json_sorted_keys(obj, &k);
	lt_buf_addc(b, '{');
	for (size_t i = 0; i < k; i++) {
		if (i > 0)
			lt_buf_addc(b, ',');
		meta_add_json_string(b, keys[i], strlen(keys[i]));
		lt_buf_add(b, ":{}");
	}
	lt_buf_addc(b, '}');
	free(keys);
}

static void encode_health(lt_buf *b, const json_t *h)
{
	bool first = true;
	lt_buf_addc(b, '{');
	const json_t *test = json_object_get(h, "Test");
	if (json_array_size(test) > 0) {
		lt_buf_add(b, "\"Test\":");
		encode_strings(b, test);
		first = false;
	}
	for (size_t i = 0; i < LT_ARRAY_SIZE(health_ints); i++) {
		json_int_t v = json_integer_value(json_object_get(h, health_ints[i]));
		if (v == 0)
			continue;
		lt_buf_printf(b, "%s\"%s\":%lld", first ? "" : ",", health_ints[i], (long long)v);
		first = false;
	}
	lt_buf_addc(b, '}');
}

void meta_conf_encode(const meta_conf *c, lt_buf *b)
{
	size_t n;
	const struct cf_field *fields = style_fields(c->style, &n);
	bool first = true;
	lt_buf_addc(b, '{');
	for (size_t i = 0; i < n; i++) {
		const json_t *v = c->v[i];
		if (is_empty(&fields[i], v))
			continue;
		if (!first)
			lt_buf_addc(b, ',');
		first = false;
		meta_add_json_string(b, fields[i].name, strlen(fields[i].name));
		lt_buf_addc(b, ':');
		switch (fields[i].type) {
		case CF_BOOL:
			lt_buf_add(b, "true");
			break;
		case CF_STRING: {
			size_t len;
			const char *s = meta_jstr(v, &len);
			meta_add_json_string(b, s, len);
			break;
		}
		case CF_STRINGS:
			encode_strings(b, v);
			break;
		case CF_STRMAP:
			meta_add_json_string_map(b, v, false);
			break;
		case CF_SET:
			encode_set(b, v);
			break;
		case CF_HEALTH:
			encode_health(b, v);
			break;
		}
	}
	lt_buf_addc(b, '}');
}

void meta_conf_free(meta_conf *c)
{
	for (size_t i = 0; i < META_CONF_MAX_FIELDS; i++) {
		json_decref(c->v[i]);
		c->v[i] = NULL;
	}
}

int meta_oci_config_json(const json_t *config, enum meta_config_style style, char **out,
			 lt_error **err)
{
	meta_conf c;
	if (meta_conf_decode(config, style, &c, err) < 0)
		return -1;
	lt_buf b;
	lt_buf_init(&b);
	meta_conf_encode(&c, &b);
	meta_conf_free(&c);
	*out = lt_buf_steal(&b, NULL);
	return 0;
}
