#include "dlib/dlib.h"
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

struct lt_sha256 {
	EVP_MD_CTX *ctx;
};

lt_sha256 *lt_sha256_new(void)
{
	lt_sha256 *h = lt_xcalloc(1, sizeof(*h));
	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		fputs("litho: cannot initialise SHA-256\n", stderr);
		abort();
	}
	return h;
}

void lt_sha256_update(lt_sha256 *h, const void *data, size_t len)
{
	if (len > 0 && EVP_DigestUpdate(h->ctx, data, len) != 1) {
		fputs("litho: SHA-256 update failed\n", stderr);
		abort();
	}
}

void lt_sha256_final(lt_sha256 *h, uint8_t out[LT_SHA256_LEN])
{
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != LT_SHA256_LEN) {
		fputs("litho: SHA-256 final failed\n", stderr);
		abort();
	}
	lt_sha256_free(h);
}

void lt_sha256_free(lt_sha256 *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void lt_sha256_buffer(const void *data, size_t len, uint8_t out[LT_SHA256_LEN])
{
	lt_sha256 *h = lt_sha256_new();
	lt_sha256_update(h, data, len);
	lt_sha256_final(h, out);
}

void lt_hex_encode(const uint8_t *data, size_t len, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		hex[2 * i] = digits[data[i] >> 4];
		hex[2 * i + 1] = digits[data[i] & 15];
	}
	hex[2 * len] = '\0';
}

void lt_sha256_digest_string(const uint8_t digest[LT_SHA256_LEN], char out[72])
{
	memcpy(out, "sha256:", 7);
	lt_hex_encode(digest, LT_SHA256_LEN, out + 7);
}
