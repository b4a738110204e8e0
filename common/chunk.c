/*
 * chunk.c - the content chunk codec (chunk.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "chunk.h"

void chunk_header_write(uint8_t out[CHUNK_HEADER], const uint8_t hash[32], uint32_t index,
			uint32_t count, uint32_t size, uint64_t total)
{
	memcpy(out, hash, 32);
	put_be32(out + 32, index);
	put_be32(out + 36, count);
	put_be32(out + 40, size);
	put_be64(out + 44, total);
}

int chunk_parse(const uint8_t *body, size_t len, struct chunk_hdr *h, char *why,
		size_t whylen)
{
	uint64_t want;

	memset(h, 0, sizeof(*h));
	if (len < CHUNK_HEADER) {
		snprintf(why, whylen, "too short to be a content chunk (%zu bytes, a chunk "
			 "has a %d-byte header)", len, CHUNK_HEADER);
		return -EINVAL;
	}
	memcpy(h->hash, body, 32);
	h->index = get_be32(body + 32);
	h->count = get_be32(body + 36);
	h->size = get_be32(body + 40);
	h->total = get_be64(body + 44);
	h->data = body + CHUNK_HEADER;
	h->data_len = len - CHUNK_HEADER;
	if (h->total == 0 && h->count == 0)
		return 0; /* "the controller does not have it" */
	if (h->size == 0 || h->count == 0 || h->total == 0) {
		snprintf(why, whylen, "content chunk with chunk size %" PRIu32 ", count %"
			 PRIu32 " and total size %" PRIu64 " makes no sense", h->size, h->count,
			 h->total);
		return -EINVAL;
	}
	if (h->total / h->size + (h->total % h->size != 0) != h->count) {
		snprintf(why, whylen, "content chunk count %" PRIu32 " does not match %" PRIu64
			 " bytes in chunks of %" PRIu32, h->count, h->total, h->size);
		return -EINVAL;
	}
	if (h->index >= h->count) {
		snprintf(why, whylen, "content chunk %" PRIu32 " of only %" PRIu32, h->index,
			 h->count);
		return -EINVAL;
	}
	want = h->index + 1 < h->count ? h->size : h->total - (uint64_t)h->size * h->index;
	if (h->data_len != want) {
		snprintf(why, whylen, "content chunk %" PRIu32 " carries %zu bytes, expected %"
			 PRIu64, h->index, h->data_len, want);
		return -EINVAL;
	}
	return 0;
}
