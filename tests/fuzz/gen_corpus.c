/*
 * gen_corpus.c - writes the seed inputs of fuzz_envelope into a directory:
 * validly sealed envelopes of every type (with the harness's fixed key), each
 * prefixed by the harness's mode byte. The seeds are committed under
 * tests/fuzz/corpus/fuzz_envelope/; regenerate with `tests/fuzz/run.sh --seeds`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "fuzz_key.h"

static int write_seed(const char *dir, const char *name, uint8_t mode, const uint8_t *buf,
		      size_t len)
{
	char path[4096];
	FILE *f;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -1;
	if (fwrite(&mode, 1, 1, f) != 1 || (len && fwrite(buf, 1, len, f) != len))
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

static int seed(const char *dir, const char *name, uint8_t mode, const struct signer *s,
		enum envelope_type type, uint64_t seq, int64_t issued, int64_t expires,
		const void *body, size_t body_len)
{
	uint8_t *buf = NULL;
	size_t len;
	int rc;

	if (envelope_seal(s, type, 0, seq, issued, expires, body, body_len, &buf, &len) < 0)
		return -1;
	rc = write_seed(dir, name, mode, buf, len);
	free(buf);
	return rc;
}

int main(int argc, char **argv)
{
	static const char play[] =
		"{\"cmd\": \"play\", \"broadcast\": \"b-20261123-011500-0001\", \"content\": "
		"\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\", "
		"\"bytes\": 123456, \"duration_ms\": 5120, \"at\": 0, \"level\": \"normal\", "
		"\"volume\": 100, \"title\": \"Th\xc3\xb4ng b\xc3\xa1o\"}";
	static const char stop[] = "{\"cmd\": \"stop\", \"broadcast\": \"b-1\"}";
	static const char plan[] = "{\"plan\": []}";
	uint8_t chunk[52 + 64];
	struct signer s, other;
	const int64_t now = FUZZ_NOW;
	int rc = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	fuzz_signer(&s);
	other = s;
	strcpy(other.site, "xa-other");
	memset(chunk, 0, sizeof(chunk));
	memset(chunk, 0xba, 32);
	chunk[35] = 0;          /* chunk index 0 */
	chunk[39] = 1;          /* of 1 */
	chunk[42] = 1;          /* chunk size 65536 */
	chunk[51] = 64;         /* total 64 bytes */
	memset(chunk + 52, 0x4f, 64);

	rc |= seed(argv[1], "cmd-play", 0, &s, ENV_CMD, 1795000000000000ULL, now, now + 600000,
		   play, strlen(play));
	rc |= seed(argv[1], "cmd-stop", 0, &s, ENV_CMD, 2, now, now + 600000, stop, strlen(stop));
	rc |= seed(argv[1], "plan", 0, &s, ENV_PLAN, 3, now, now + 86400000, plan, strlen(plan));
	rc |= seed(argv[1], "content", 0, &s, ENV_CONTENT, 4, now, now + 60000, chunk,
		   sizeof(chunk));
	rc |= seed(argv[1], "live", 0, &s, ENV_LIVE, 5, now, now + 5000, chunk + 52, 40);
	rc |= seed(argv[1], "time", 0, &s, ENV_TIME, 6, now, now + 1000, NULL, 0);
	rc |= seed(argv[1], "key", 0, &s, ENV_KEY, 7, now, now + 600000, "{}", 2);
	rc |= seed(argv[1], "wrong-site", 0, &other, ENV_CMD, 8, now, now + 600000, stop,
		   strlen(stop));
	rc |= seed(argv[1], "expired", 0, &s, ENV_CMD, 9, now - 700000, now - 100000, stop,
		   strlen(stop));
	rc |= seed(argv[1], "future", 0, &s, ENV_CMD, 10, now + 400000, now + 900000, stop,
		   strlen(stop));
	rc |= seed(argv[1], "resign-cmd", 1, &s, ENV_CMD, 11, now, now + 600000, play,
		   strlen(play));
	rc |= seed(argv[1], "resign-times", 1, &s, ENV_PLAN, 12, now + 1, now, plan, strlen(plan));
	rc |= seed(argv[1], "resign-small-limit", 0x81, &s, ENV_CONTENT, 13, now, now + 60000,
		   chunk, sizeof(chunk));
	rc |= write_seed(argv[1], "seal-json", 2, (const uint8_t *)play, strlen(play));
	rc |= write_seed(argv[1], "seal-empty", 2, NULL, 0);
	if (rc) {
		fprintf(stderr, "%s: could not write the seeds\n", argv[1]);
		return 1;
	}
	return 0;
}
