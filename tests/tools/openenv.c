/*
 * openenv - check a signed loaxa envelope read from stdin the way a node
 * does (envelope_open: size, magic, key, signature, site, times) and print
 * what it carries, for tests that read a plan with mosquitto_sub.
 *
 *   openenv --pub PUBLIC_FILE --site SITE < envelope > body
 *
 * On success prints the body on stdout and "type seq issued expires" on
 * stderr, exit 0; otherwise the node's reason (e.g. "signature does not
 * verify") on stderr, exit 1.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "util.h"

#define IN_MAX (16 * 1024 * 1024)

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pub", required_argument, NULL, 'p' },
		{ "site", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pub = NULL, *site = NULL;
	struct verifier v;
	struct envelope env;
	enum envelope_result r;
	uint8_t pk[32], *buf, *text = NULL;
	size_t len = 0, textlen = 0;
	ssize_t n;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'p')
			pub = optarg;
		else if (ch == 's')
			site = optarg;
		else
			return 2;
	}
	if (!pub || !site) {
		fprintf(stderr, "usage: openenv --pub PUBLIC_FILE --site SITE < envelope\n");
		return 2;
	}
	if (read_file(pub, 1024, &text, &textlen) < 0) {
		fprintf(stderr, "openenv: cannot read %s\n", pub);
		return 1;
	}
	while (textlen && (text[textlen - 1] == '\n' || text[textlen - 1] == ' '))
		text[--textlen] = '\0';
	if (public_key_parse(pk, (const char *)text) < 0) {
		fprintf(stderr, "openenv: %s is not a public key\n", pub);
		free(text);
		return 1;
	}
	free(text);
	buf = malloc(IN_MAX);
	if (!buf)
		return 1;
	while ((n = read(0, buf + len, IN_MAX - len)) > 0)
		len += (size_t)n;
	if (verifier_init(&v, site, NULL, IN_MAX, 300000) < 0 || verifier_add_key(&v, pk) < 0) {
		fprintf(stderr, "openenv: cannot set up the verifier\n");
		free(buf);
		return 1;
	}
	r = envelope_open(&v, buf, len, now_ms(), &env);
	if (r != ENV_OK) {
		fprintf(stderr, "%s\n", envelope_result_str(r));
		free(buf);
		return 1;
	}
	fwrite(env.body, 1, env.body_len, stdout);
	fprintf(stderr, "%s %" PRIu64 " %" PRId64 " %" PRId64 "\n",
		envelope_type_name((enum envelope_type)env.type), env.seq, env.issued_at,
		env.expires_at);
	free(buf);
	return 0;
}
