/*
 * keygen.c - `loaxa keygen -o DIR`: the controller's Ed25519 key pair.
 *
 * DIR/controller.key holds the secret (128 hex digits, mode 0600) and goes
 * to the controller; DIR/controller.pub (64 hex digits) goes into every
 * node's config as controller_key. An existing key is never overwritten:
 * the nodes trust it, and replacing it silently would cut them off.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "envelope.h"
#include "util.h"

int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char sk[4096], pk[4096];
	uint8_t *pub = NULL;
	size_t publen;
	const char *dir = NULL;
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			dir = optarg;
			break;
		case 'h':
			printf("usage: loaxa keygen -o DIR\n");
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "usage: loaxa keygen -o DIR\n");
			return CLI_EXIT_USAGE;
		}
	}
	if (!dir || optind != argc) {
		fprintf(stderr, "usage: loaxa keygen -o DIR\n");
		return CLI_EXIT_USAGE;
	}
	if ((size_t)snprintf(sk, sizeof(sk), "%s/controller.key", dir) >= sizeof(sk) ||
	    (size_t)snprintf(pk, sizeof(pk), "%s/controller.pub", dir) >= sizeof(pk)) {
		fprintf(stderr, "loaxa keygen: %s: path too long\n", dir);
		return CLI_EXIT_ERROR;
	}
	rc = mkdir_p(dir, 0755);
	if (rc < 0) {
		fprintf(stderr, "loaxa keygen: cannot create %s: %s\n", dir, strerror(-rc));
		return CLI_EXIT_ERROR;
	}
	rc = keypair_generate(sk, pk);
	if (rc == -EEXIST) {
		fprintf(stderr, "loaxa keygen: %s or %s exists already: refusing to "
			"overwrite a key the nodes may trust (move it away first)\n", sk, pk);
		return CLI_EXIT_ERROR;
	}
	if (rc < 0) {
		fprintf(stderr, "loaxa keygen: cannot write the key pair in %s: %s\n", dir,
			strerror(-rc));
		return CLI_EXIT_ERROR;
	}
	printf("wrote %s (secret, mode 0600: for the controller's \"key\")\n", sk);
	printf("wrote %s (public)\n", pk);
	if (read_file(pk, 4096, &pub, &publen) == 0) {
		while (publen && (pub[publen - 1] == '\n' || pub[publen - 1] == ' '))
			pub[--publen] = '\0';
		printf("in every node's config: controller_key = \"%s\";\n", (char *)pub);
	}
	free(pub);
	return CLI_EXIT_OK;
}
