/* Private to the sif module: the in-memory image and the byte codecs. */
#ifndef LITHO_SIF_INTERNAL_H
#define LITHO_SIF_INTERNAL_H

#include "sif/sif.h"

struct sif_image {
	int fd;
	bool owns_fd;
	bool writable;
	char *name;
	sif_header header;
	sif_descriptor *slots; /* header.descriptors_total entries */
	int64_t file_size;
	/* sif_begin_object state */
	bool pending;
	int64_t pending_slot;
	int64_t pending_offset;
	int64_t pending_unaligned;
};

void sif_header_decode(const uint8_t *buf, sif_header *h);
void sif_header_encode(const sif_header *h, uint8_t *buf);
void sif_descriptor_decode(const uint8_t *buf, sif_descriptor *d);
void sif_descriptor_encode(const sif_descriptor *d, uint8_t *buf);

static inline int64_t sif_get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return (int64_t)v;
}

static inline uint32_t sif_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void sif_put_le64(uint8_t *p, int64_t v)
{
	uint64_t u = (uint64_t)v;
	for (int i = 0; i < 8; i++, u >>= 8)
		p[i] = (uint8_t)u;
}

static inline void sif_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

#endif
