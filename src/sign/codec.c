/* Byte-level codecs of signatures: base64 as Go decodes it, OpenPGP ASCII armor, the
 * clear-signed message framework (RFC 4880 section 7) as the reference library decodes it, and
 * DSSE envelopes. Nothing here checks a signature; these parse untrusted bytes (fuzzed). */
#include <stdlib.h>
#include <string.h>

#include "sign_internal.h"

static int b64_value(unsigned char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* OpenSSL's decoder accepts whitespace anywhere and no URL alphabet, so it would take inputs
 * the reference rejects and reject some it takes: the few lines below follow Go's rules
 * (padding required, CR and LF skipped, nothing after the padding). */
static int b64_decode(const char *s, size_t len, bool url, sign_buf *out)
{
	uint8_t *o = lt_xmalloc(len / 4 * 3 + 3);
	size_t n = 0, q = 0, pad = 0;
	uint32_t acc = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			if (q < 2)
				goto bad;
			pad++;
			q++;
			acc <<= 6;
			if (q == 4)
				break;
			continue;
		}
		if (pad > 0)
			goto bad;
		int v = b64_value(c, url);
		if (v < 0)
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		if (++q == 4) {
			o[n++] = (uint8_t)(acc >> 16);
			o[n++] = (uint8_t)(acc >> 8);
			o[n++] = (uint8_t)acc;
			q = 0;
			acc = 0;
		}
	}
	if (pad > 0) {
		if (q != 4)
			goto bad;
		/* only line breaks may follow the padding */
		const char *end = memchr(s, '=', len);
		for (const char *p = end; p < s + len; p++)
			if (*p != '=' && *p != '\r' && *p != '\n')
				goto bad;
		size_t eqs = 0;
		for (const char *p = end; p < s + len; p++)
			eqs += *p == '=';
		if (eqs != pad)
			goto bad;
		o[n++] = (uint8_t)(acc >> 16);
		if (pad == 1)
			o[n++] = (uint8_t)(acc >> 8);
	} else if (q != 0) {
		goto bad;
	}
	out->data = o;
	out->len = n;
	return 0;
bad:
	free(o);
	return -1;
}

int sign_base64_decode(const char *s, size_t len, sign_buf *out)
{
	if (b64_decode(s, len, false, out) == 0)
		return 0;
	return b64_decode(s, len, true, out);
}

char *sign_base64_encode(const uint8_t *data, size_t len)
{
	char *s = lt_xmalloc(4 * ((len + 2) / 3) + 1);
	int n = EVP_EncodeBlock((unsigned char *)s, data, (int)len);
	s[n < 0 ? 0 : n] = '\0';
	return s;
}

static uint32_t crc24(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xB704CE;
	for (size_t i = 0; i < len; i++) {
		crc ^= (uint32_t)p[i] << 16;
		for (int b = 0; b < 8; b++) {
			crc <<= 1;
			if (crc & 0x1000000)
				crc ^= 0x1864CFB;
		}
	}
	return crc & 0xFFFFFF;
}

char *sign_armor_encode(const char *type, const uint8_t *data, size_t len)
{
	char *b64 = sign_base64_encode(data, len);
	size_t n = strlen(b64);
	uint8_t c[3];
	uint32_t crc = crc24(data, len);
	c[0] = (uint8_t)(crc >> 16), c[1] = (uint8_t)(crc >> 8), c[2] = (uint8_t)crc;
	char *crc64 = sign_base64_encode(c, 3);
	size_t cap = n + n / 64 + strlen(type) * 2 + 128;
	char *out = lt_xmalloc(cap);
	size_t o = (size_t)snprintf(out, cap, "-----BEGIN %s-----\n\n", type);
	for (size_t i = 0; i < n; i += 64) {
		size_t l = n - i < 64 ? n - i : 64;
		memcpy(out + o, b64 + i, l);
		o += l;
		out[o++] = '\n';
	}
	snprintf(out + o, cap - o, "=%s\n-----END %s-----\n", crc64, type);
	free(b64);
	free(crc64);
	return out;
}

/* The next line of [*p, end): its start and length without the line break. */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
	if (*p >= end)
		return false;
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	*line = *p;
	*len = (size_t)((nl ? nl : end) - *p);
	*p = nl ? nl + 1 : end;
	if (*len > 0 && (*line)[*len - 1] == '\r')
		(*len)--;
	return true;
}

static bool line_is(const char *line, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(line, s, len) == 0;
}

int sign_armor_decode(const uint8_t *data, size_t len, sign_buf *out)
{
	const char *p = (const char *)data, *end = p + len, *line;
	size_t l;
	bool begun = false;
	while (!begun && next_line(&p, end, &line, &l))
		begun = l > 20 && memcmp(line, "-----BEGIN PGP ", 15) == 0 &&
			memcmp(line + l - 5, "-----", 5) == 0;
	if (!begun)
		return -1;
	/* armor headers ("Key: value") up to an empty line */
	const char *body = p;
	while (next_line(&p, end, &line, &l) && l > 0) {
		if (memchr(line, ':', l) == NULL) {
			p = body; /* no header block at all */
			break;
		}
	}
	char *b64 = lt_xmalloc(len + 1);
	size_t n = 0;
	const char *crc = NULL;
	bool ended = false;
	while (next_line(&p, end, &line, &l)) {
		if (l >= 9 && memcmp(line, "-----END ", 9) == 0) {
			ended = true;
			break;
		}
		if (l == 5 && line[0] == '=') {
			crc = line + 1;
			continue;
		}
		memcpy(b64 + n, line, l);
		n += l;
	}
	int rc = -1;
	if (ended && b64_decode(b64, n, false, out) == 0) {
		rc = 0;
		if (crc != NULL) {
			sign_buf c = {0};
			uint32_t want = crc24(out->data, out->len);
			if (b64_decode(crc, 4, false, &c) != 0 || c.len != 3 ||
			    ((uint32_t)c.data[0] << 16 | (uint32_t)c.data[1] << 8 | c.data[2]) !=
				want) {
				sign_buf_free(out);
				rc = -1;
			}
			sign_buf_free(&c);
		}
	}
	free(b64);
	return rc;
}

static void buf_append(sign_buf *b, const void *data, size_t len)
{
	b->data = lt_xrealloc(b->data, b->len + len + 1);
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = 0;
}

int sign_clearsign_decode(const uint8_t *data, size_t len, sign_clearsigned *out)
{
	static const char start[] = "-----BEGIN PGP SIGNED MESSAGE-----";
	static const char sig_start[] = "-----BEGIN PGP SIGNATURE-----";
	static const char sig_end[] = "\n-----END PGP SIGNATURE-----";
	const char *s = (const char *)data, *end = s + len, *p = NULL, *line;
	size_t l;
	memset(out, 0, sizeof(*out));
	if (len >= strlen(start) && memcmp(s, start, strlen(start)) == 0) {
		p = s + strlen(start);
	} else {
		for (const char *q = s; q + strlen(start) < end; q++)
			if (*q == '\n' && memcmp(q + 1, start, strlen(start)) == 0) {
				p = q + 1 + strlen(start);
				break;
			}
	}
	if (p == NULL)
		return -1;
	/* the rest of the start line must be empty */
	if (!next_line(&p, end, &line, &l) || l != 0)
		return -1;
	/* headers: only Hash and SaltedHash, printable ASCII */
	for (;;) {
		if (p >= end || !next_line(&p, end, &line, &l))
			return -1;
		if (l == 0)
			break;
		const char *colon = memchr(line, ':', l);
		for (size_t i = 0; i < l; i++)
			if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
				return -1;
		if (colon == NULL)
			return -1;
		const char *k = line, *ke = colon;
		while (k < ke && (*k == ' ' || *k == '\t'))
			k++;
		while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
			ke--;
		if (!line_is(k, (size_t)(ke - k), "Hash") &&
		    !line_is(k, (size_t)(ke - k), "SaltedHash"))
			return -1;
	}
	bool first = true;
	for (;;) {
		const char *at = p;
		if (!next_line(&p, end, &line, &l) || (l == 0 && p >= end && at >= end)) {
			sign_clearsigned_free(out);
			return -1;
		}
		if (line_is(line, l, sig_start)) {
			p = at;
			break;
		}
		if (l == 0 && p >= end) {
			sign_clearsigned_free(out);
			return -1;
		}
		if (!first)
			buf_append(&out->text, "\r\n", 2);
		first = false;
		if (l >= 2 && line[0] == '-' && line[1] == ' ')
			line += 2, l -= 2;
		while (l > 0 && (line[l - 1] == ' ' || line[l - 1] == '\t'))
			l--;
		buf_append(&out->text, line, l);
		buf_append(&out->plain, line, l);
		buf_append(&out->plain, "\n", 1);
	}
	if (out->text.data == NULL)
		buf_append(&out->text, "", 0);
	if (out->plain.data == NULL)
		buf_append(&out->plain, "", 0);
	const char *e = NULL;
	for (const char *q = p; q + strlen(sig_end) <= end; q++)
		if (memcmp(q, sig_end, strlen(sig_end)) == 0) {
			e = q + strlen(sig_end);
			break;
		}
	if (e == NULL) {
		sign_clearsigned_free(out);
		return -1;
	}
	while (e < end && (*e == '\r' || *e == '\n'))
		e++;
	out->armor = p;
	out->armor_len = (size_t)(e - p);
	sign_buf body = {0};
	if (sign_armor_decode((const uint8_t *)p, out->armor_len, &body) < 0 || body.len == 0) {
		sign_buf_free(&body);
		sign_clearsigned_free(out);
		return -1;
	}
	sign_buf_free(&body);
	return 0;
}

void sign_clearsigned_free(sign_clearsigned *c)
{
	sign_buf_free(&c->text);
	sign_buf_free(&c->plain);
	c->armor = NULL;
	c->armor_len = 0;
}

bool sign_is_legacy(const uint8_t *data, size_t len)
{
	sign_clearsigned c;
	if (sign_clearsign_decode(data, len, &c) < 0)
		return false;
	bool legacy = c.plain.len >= 9 && memcmp(c.plain.data, "SIFHASH:\n", 9) == 0;
	sign_clearsigned_free(&c);
	return legacy;
}

bool sign_is_envelope(const uint8_t *data, size_t len)
{
	json_error_t je;
	/* like Go's json.Decoder: the first value decides, whatever follows it */
	json_t *root = json_loadb((const char *)data, len, JSON_DISABLE_EOF_CHECK, &je);
	if (root == NULL)
		return false;
	const char *type = lt_json_string(root, "payloadType");
	bool yes = json_is_object(root) && type != NULL && strcmp(type, SIGN_MEDIA_TYPE) == 0;
	json_decref(root);
	return yes;
}

int sign_envelope_decode(const uint8_t *data, size_t len, sign_envelope *out, lt_error **err)
{
	json_error_t je;
	memset(out, 0, sizeof(*out));
	json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return lt_error_set(err, 0, "DSSE envelope is not JSON: %s", je.text);
	int rc = -1;
	const json_t *type = json_object_get(root, "payloadType");
	const json_t *payload = json_object_get(root, "payload");
	const json_t *sigs = json_object_get(root, "signatures");
	if (!json_is_object(root) || !json_is_string(type) || !json_is_string(payload)) {
		lt_error_set(err, 0, "DSSE envelope lacks payloadType or payload");
		goto out;
	}
	out->payload_type = lt_xstrdup(json_string_value(type));
	if (sign_base64_decode(json_string_value(payload), json_string_length(payload),
			       &out->payload) < 0) {
		lt_error_set(err, 0, "DSSE envelope: payload is not base64");
		goto out;
	}
	if (sigs != NULL && !json_is_null(sigs) && !json_is_array(sigs)) {
		lt_error_set(err, 0, "DSSE envelope: signatures is not a list");
		goto out;
	}
	size_t n = json_array_size(sigs);
	out->key_ids = lt_xcalloc(n + 1, sizeof(char *));
	out->sigs = lt_xcalloc(n + 1, sizeof(sign_buf));
	for (size_t i = 0; i < n; i++, out->n_sigs++) {
		const json_t *s = json_array_get(sigs, i);
		const json_t *keyid = json_object_get(s, "keyid");
		const json_t *sig = json_object_get(s, "sig");
		if (!json_is_object(s) || (keyid != NULL && !json_is_string(keyid)) ||
		    !json_is_string(sig)) {
			lt_error_set(err, 0, "DSSE envelope: signature %zu is malformed", i);
			goto out;
		}
		out->key_ids[i] = lt_xstrdup(keyid ? json_string_value(keyid) : "");
		if (sign_base64_decode(json_string_value(sig), json_string_length(sig),
				       &out->sigs[i]) < 0) {
			free(out->key_ids[i]);
			out->key_ids[i] = NULL;
			lt_error_set(err, 0, "DSSE envelope: signature %zu is not base64", i);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		sign_envelope_free(out);
	return rc;
}

void sign_envelope_free(sign_envelope *e)
{
	free(e->payload_type);
	sign_buf_free(&e->payload);
	for (size_t i = 0; i < e->n_sigs; i++) {
		free(e->key_ids[i]);
		sign_buf_free(&e->sigs[i]);
	}
	free(e->key_ids);
	free(e->sigs);
	memset(e, 0, sizeof(*e));
}

/* Go's json.Marshal of the envelope: payloadType, payload, signatures [{keyid, sig}]. Key IDs
 * and base64 need no escaping. */
char *sign_envelope_encode(const char *payload, size_t len, const char *const *key_ids,
			   const sign_buf *sigs, size_t n)
{
	char *p64 = sign_base64_encode((const uint8_t *)payload, len);
	char *s = lt_strdup_printf("{\"payloadType\":\"%s\",\"payload\":\"%s\",\"signatures\":[",
				   SIGN_MEDIA_TYPE, p64);
	free(p64);
	for (size_t i = 0; i < n; i++) {
		char *sig = sign_base64_encode(sigs[i].data, sigs[i].len);
		char *t = lt_strdup_printf("%s%s{\"keyid\":\"%s\",\"sig\":\"%s\"}", s, i ? "," : "",
					   key_ids[i], sig);
		free(sig);
		free(s);
		s = t;
	}
	char *t = lt_strdup_printf("%s]}", s);
	free(s);
	return t;
}
