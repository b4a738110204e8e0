/*
 * chunk.h - the binary body of a content chunk (docs/protocol.md).
 *
 * The controller (delivery.c) writes these and the node (fetch.c) reads
 * them; both sides use this one codec so the layout cannot drift:
 *
 *   0   32  SHA-256 of the whole content (its id)
 *   32   4  chunk index, big-endian
 *   36   4  chunk count
 *   40   4  chunk size (every chunk but the last has exactly this many bytes)
 *   44   8  total size in bytes
 *   52  ..  the chunk's bytes
 *
 * Count 0 and total 0 mean "this controller does not have that content";
 * the index then says which chunk was asked for.
 */
#ifndef LOAXA_CHUNK_H
#define LOAXA_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define CHUNK_HEADER 52

struct chunk_hdr {
	uint8_t hash[32];
	uint32_t index, count, size;
	uint64_t total;
	const uint8_t *data;   /* into the parsed body */
	size_t data_len;
};

/* Write the header of chunk index of content hash into out. */
void chunk_header_write(uint8_t out[CHUNK_HEADER], const uint8_t hash[32], uint32_t index,
			uint32_t count, uint32_t size, uint64_t total);

/*
 * Parse and check a chunk body: the counts agree with the sizes, the index
 * is in range and the data is as long as that chunk must be. 0, or -EINVAL
 * with why saying what is wrong. A "not here" answer parses (count 0).
 */
int chunk_parse(const uint8_t *body, size_t len, struct chunk_hdr *h, char *why,
		size_t whylen);

#endif
