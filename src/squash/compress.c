/* Compressors for libsquashfs, with two things it lacks:
 *  - LZO: Debian's libsquashfs is built without it, so it is provided here on liblzo2, with
 *    SquashFS's option block (u32 algorithm, u32 level) and lzo1x_999 at a chosen level;
 *  - a guard that stores a block uncompressed when compressing does not make it smaller. Some
 *    libsquashfs compressors return a larger result for tiny blocks (LZ4 turns the 4-byte id
 *    table into 5 bytes), which unsquashfs 4.5 rejects as corrupt.
 */
#include <lzo/lzo1x.h>
#include <stdlib.h>
#include <string.h>

#include "squash_internal.h"

#define LZO_ALGORITHM_999 4 /* SquashFS's number for lzo1x_999 */
#define LZO_DEFAULT_LEVEL 8

typedef struct lzo_cmp {
	sqfs_compressor_t base;
	sqfs_compressor_config_t cfg;
	void *work;
} lzo_cmp;

static void lzo_destroy(sqfs_object_t *obj)
{
	lzo_cmp *c = (lzo_cmp *)obj;
	free(c->work);
	free(c);
}

static void lzo_get_configuration(const sqfs_compressor_t *base, sqfs_compressor_config_t *cfg)
{
	*cfg = ((const lzo_cmp *)base)->cfg;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The option block sits right after the superblock: u16 header (0x8000 | 8), 8 bytes. */
static int lzo_write_options(sqfs_compressor_t *base, sqfs_file_t *file)
{
	lzo_cmp *c = (lzo_cmp *)base;
	if (c->cfg.opt.lzo.algorithm == LZO_ALGORITHM_999 && c->cfg.level == LZO_DEFAULT_LEVEL)
		return 0;
	uint8_t block[10];
	block[0] = 8;
	block[1] = 0x80;
	put_le32(block + 2, c->cfg.opt.lzo.algorithm);
	put_le32(block + 6, c->cfg.level);
	int r = file->write_at(file, sizeof(sqfs_super_t), block, sizeof(block));
	return r != 0 ? r : (int)sizeof(block);
}

static int lzo_read_options(sqfs_compressor_t *base, sqfs_file_t *file)
{
	lzo_cmp *c = (lzo_cmp *)base;
	uint8_t block[10];
	int r = file->read_at(file, sizeof(sqfs_super_t), block, sizeof(block));
	if (r != 0)
		return r;
	if ((block[0] | block[1] << 8) != (0x8000 | 8))
		return SQFS_ERROR_CORRUPTED;
	c->cfg.opt.lzo.algorithm = (sqfs_u16)get_le32(block + 2);
	c->cfg.level = get_le32(block + 6);
	return 0;
}

static sqfs_s32 lzo_do_block(sqfs_compressor_t *base, const sqfs_u8 *in, sqfs_u32 size,
			     sqfs_u8 *out, sqfs_u32 outsize)
{
	lzo_cmp *c = (lzo_cmp *)base;
	lzo_uint len = outsize;
	if (c->cfg.flags & SQFS_COMP_FLAG_UNCOMPRESS) {
		int r = lzo1x_decompress_safe(in, size, out, &len, NULL);
		if (r == LZO_E_OUTPUT_OVERRUN)
			return 0;
		return r == LZO_E_OK ? (sqfs_s32)len : SQFS_ERROR_COMPRESSOR;
	}
	/* LZO may expand incompressible input by up to size/16 + 64 + 3 bytes */
	size_t worst = size + size / 16 + 67;
	uint8_t *tmp = out;
	if (outsize < worst)
		tmp = malloc(worst);
	if (tmp == NULL)
		return SQFS_ERROR_ALLOC;
	len = worst;
	int r =
	    lzo1x_999_compress_level(in, size, tmp, &len, c->work, NULL, 0, 0, (int)c->cfg.level);
	sqfs_s32 ret;
	if (r != LZO_E_OK)
		ret = SQFS_ERROR_COMPRESSOR;
	else if (len >= size || len > outsize)
		ret = 0; /* stored uncompressed */
	else
		ret = (sqfs_s32)len;
	if (tmp != out) {
		if (ret > 0)
			memcpy(out, tmp, len);
		free(tmp);
	}
	return ret;
}

static sqfs_object_t *lzo_copy(const sqfs_object_t *obj);

static sqfs_compressor_t *lzo_new(const sqfs_compressor_config_t *cfg)
{
	static bool initialised;
	if (!initialised) {
		if (lzo_init() != LZO_E_OK)
			return NULL;
		initialised = true;
	}
	lzo_cmp *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->cfg = *cfg;
	if (c->cfg.opt.lzo.algorithm == 0 && c->cfg.level == 0)
		c->cfg.opt.lzo.algorithm = LZO_ALGORITHM_999;
	if (c->cfg.level == 0)
		c->cfg.level = LZO_DEFAULT_LEVEL;
	if (!(cfg->flags & SQFS_COMP_FLAG_UNCOMPRESS)) {
		c->work = malloc(LZO1X_999_MEM_COMPRESS);
		if (c->work == NULL) {
			free(c);
			return NULL;
		}
	}
	c->base.base.destroy = lzo_destroy;
	c->base.base.copy = lzo_copy;
	c->base.get_configuration = lzo_get_configuration;
	c->base.write_options = lzo_write_options;
	c->base.read_options = lzo_read_options;
	c->base.do_block = lzo_do_block;
	return &c->base;
}

static sqfs_object_t *lzo_copy(const sqfs_object_t *obj)
{
	sqfs_compressor_t *c = lzo_new(&((const lzo_cmp *)obj)->cfg);
	return c ? &c->base : NULL;
}

/* ------------------------------------------------------------------------------------------ */

typedef struct guard {
	sqfs_compressor_t base;
	sqfs_compressor_t *inner;
} guard;

static void guard_destroy(sqfs_object_t *obj)
{
	guard *g = (guard *)obj;
	sqfs_destroy(g->inner);
	free(g);
}

static void guard_get_configuration(const sqfs_compressor_t *base, sqfs_compressor_config_t *cfg)
{
	const guard *g = (const guard *)base;
	g->inner->get_configuration(g->inner, cfg);
}

static int guard_write_options(sqfs_compressor_t *base, sqfs_file_t *file)
{
	guard *g = (guard *)base;
	return g->inner->write_options(g->inner, file);
}

static int guard_read_options(sqfs_compressor_t *base, sqfs_file_t *file)
{
	guard *g = (guard *)base;
	return g->inner->read_options(g->inner, file);
}

static sqfs_s32 guard_do_block(sqfs_compressor_t *base, const sqfs_u8 *in, sqfs_u32 size,
			       sqfs_u8 *out, sqfs_u32 outsize)
{
	guard *g = (guard *)base;
	sqfs_s32 r = g->inner->do_block(g->inner, in, size, out, outsize);
	return r >= (sqfs_s32)size ? 0 : r;
}

static sqfs_compressor_t *guard_wrap(sqfs_compressor_t *inner);

static sqfs_object_t *guard_copy(const sqfs_object_t *obj)
{
	const guard *g = (const guard *)obj;
	sqfs_compressor_t *inner = sqfs_copy(g->inner);
	if (inner == NULL)
		return NULL;
	sqfs_compressor_t *w = guard_wrap(inner);
	if (w == NULL)
		sqfs_destroy(inner);
	return w ? &w->base : NULL;
}

static sqfs_compressor_t *guard_wrap(sqfs_compressor_t *inner)
{
	guard *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	g->inner = inner;
	g->base.base.destroy = guard_destroy;
	g->base.base.copy = guard_copy;
	g->base.get_configuration = guard_get_configuration;
	g->base.write_options = guard_write_options;
	g->base.read_options = guard_read_options;
	g->base.do_block = guard_do_block;
	return &g->base;
}

int sq_compressor_create(const sqfs_compressor_config_t *cfg, sqfs_compressor_t **out)
{
	sqfs_compressor_t *inner = NULL;
	if (cfg->id == SQFS_COMP_LZO) {
		inner = lzo_new(cfg);
		if (inner == NULL)
			return SQFS_ERROR_ALLOC;
	} else {
		int r = sqfs_compressor_create(cfg, &inner);
		if (r != 0)
			return r;
	}
	if (cfg->flags & SQFS_COMP_FLAG_UNCOMPRESS) {
		*out = inner;
		return 0;
	}
	*out = guard_wrap(inner);
	if (*out == NULL) {
		sqfs_destroy(inner);
		return SQFS_ERROR_ALLOC;
	}
	return 0;
}
