/*
 * sealcmd - wrap a body read from stdin in a signed loaxa envelope, for tests
 * that talk to a node without a controller (docs/protocol.md, "Envelope").
 *
 *   sealcmd --key SECRET_FILE --site SITE --type TYPE [--seq N]
 *           [--expires-in MS] [--issued-offset MS] [--issued-at MS] [--flags N]
 *           < body > envelope.bin
 *
 *   --key            controller secret key (128 hex digits, `loaxa keygen`)
 *   --site           site id written into the envelope (any valid site)
 *   --type           plan | cmd | live | content | time | key, or 1-6
 *   --seq            sequence number (default: microseconds since the epoch,
 *                    which is how the controller starts its sequences)
 *   --issued-offset  issued-at = now + MS (negative: in the past); default 0
 *   --issued-at      issued-at = MS since the epoch (overrides the offset)
 *   --expires-in     expires-at = issued-at + MS (negative: expires before it
 *                    was issued); default 600000 (10 minutes)
 *   --flags          the 16-bit flags field (default 0)
 *
 * Exit status 0, or 1 with a message on stderr. Examples:
 *   an expired command:  --issued-offset -120000 --expires-in 60000
 *   dated an hour ahead: --issued-offset 3600000
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "envelope.h"
#include "log.h"
#include "util.h"

#define BODY_MAX (64 * 1024 * 1024)

static void usage(void)
{
	fprintf(stderr,
		"usage: sealcmd --key SECRET_FILE --site SITE --type TYPE [--seq N]\n"
		"               [--expires-in MS] [--issued-offset MS] [--issued-at MS]\n"
		"               [--flags N] < body > envelope\n"
		"TYPE: plan, cmd, live, content, time, key (or 1-6)\n");
}

static int parse_type(const char *s, enum envelope_type *out)
{
	static const char *const names[] = { "", "plan", "cmd", "live", "content", "time",
					     "key" };
	char *end;
	long v;
	int i;

	for (i = 1; i <= ENV_TYPE_MAX; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum envelope_type)i;
			return 0;
		}
	}
	v = strtol(s, &end, 10);
	if (*s && !*end && v >= 1 && v <= ENV_TYPE_MAX) {
		*out = (enum envelope_type)v;
		return 0;
	}
	return -EINVAL;
}

static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || !*s || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static uint8_t *read_stdin(size_t *len)
{
	size_t cap = 65536, n = 0;
	uint8_t *buf = malloc(cap), *grown;

	while (buf) {
		ssize_t r;

		if (n == cap) {
			if (cap >= BODY_MAX) {
				fprintf(stderr, "sealcmd: body larger than %d bytes\n", BODY_MAX);
				free(buf);
				return NULL;
			}
			cap *= 2;
			grown = realloc(buf, cap);
			if (!grown) {
				free(buf);
				return NULL;
			}
			buf = grown;
		}
		r = read(0, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			perror("sealcmd: reading the body from stdin");
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "site", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ "seq", required_argument, NULL, 'n' },
		{ "expires-in", required_argument, NULL, 'e' },
		{ "issued-offset", required_argument, NULL, 'o' },
		{ "issued-at", required_argument, NULL, 'a' },
		{ "flags", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL, *site = NULL;
	enum envelope_type type = 0;
	int64_t seq = 0, expires_in = 600000, offset = 0, issued_at = 0, flags = 0, v;
	int have_issued_at = 0, have_type = 0, opt;
	struct signer signer;
	struct timeval tv;
	uint8_t *body = NULL, *env = NULL;
	size_t body_len = 0, env_len = 0, off = 0;
	int rc = 1;

	log_init("sealcmd", 0);
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'k': key = optarg; break;
		case 's': site = optarg; break;
		case 't':
			if (parse_type(optarg, &type) < 0) {
				fprintf(stderr, "sealcmd: unknown --type %s\n", optarg);
				return 1;
			}
			have_type = 1;
			break;
		case 'n':
			if (parse_i64(optarg, &seq) < 0 || seq < 0) {
				fprintf(stderr, "sealcmd: --seq must be a number >= 0\n");
				return 1;
			}
			break;
		case 'e':
		case 'o':
		case 'a':
		case 'f':
			if (parse_i64(optarg, &v) < 0) {
				fprintf(stderr, "sealcmd: --%s must be a whole number\n",
					opt == 'e' ? "expires-in" : opt == 'o' ? "issued-offset" :
					opt == 'a' ? "issued-at" : "flags");
				return 1;
			}
			if (opt == 'e')
				expires_in = v;
			else if (opt == 'o')
				offset = v;
			else if (opt == 'a')
				issued_at = v, have_issued_at = 1;
			else
				flags = v;
			break;
		case 'h': usage(); return 0;
		default: usage(); return 1;
		}
	}
	if (!key || !site || !have_type || optind != argc) {
		usage();
		return 1;
	}
	if (flags < 0 || flags > 65535) {
		fprintf(stderr, "sealcmd: --flags must be 0-65535\n");
		return 1;
	}
	if (signer_load(&signer, key, site) < 0)
		return 1;
	gettimeofday(&tv, NULL);
	if (!seq)
		seq = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	if (!have_issued_at)
		issued_at = now_ms() + offset;
	body = read_stdin(&body_len);
	if (!body)
		goto out;
	if (envelope_seal(&signer, type, (uint16_t)flags, (uint64_t)seq, issued_at,
			  issued_at + expires_in, body, body_len, &env, &env_len) < 0) {
		fprintf(stderr, "sealcmd: cannot seal the envelope\n");
		goto out;
	}
	while (off < env_len) {
		ssize_t w = write(1, env + off, env_len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			perror("sealcmd: writing the envelope");
			goto out;
		}
		off += (size_t)w;
	}
	rc = 0;
out:
	free(body);
	free(env);
	memset(&signer, 0, sizeof(signer));
	return rc;
}
