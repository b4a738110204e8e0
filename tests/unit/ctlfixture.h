/*
 * ctlfixture.h - a controller for unit tests: its database and a new key
 * pair in its state_dir, publishing through a hook instead of a broker, and
 * a verifier that trusts the key, to open what it published.
 */
#ifndef LOAXA_TEST_CTLFIXTURE_H
#define LOAXA_TEST_CTLFIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl.h"
#include "delivery.h"
#include "envelope.h"
#include "mqtt.h"
#include "nodes.h"
#include "timesvc.h"
#include "util.h"

/* c->cfg is set up already (site, state_dir, ...); exits 2 when it cannot. */
static void ctl_fixture(struct ctl *c, struct verifier *ver,
			int (*hook)(void *arg, enum ctl_conn_kind kind, const char *topic,
				    const void *payload, size_t len, int qos, int retain))
{
	char key[PATH_MAX + 32], pub[PATH_MAX + 32], dbpath[PATH_MAX + 32];
	uint8_t *text = NULL, pk[32];
	size_t len = 0;

	snprintf(dbpath, sizeof(dbpath), "%s/loaxa.db", c->cfg.state_dir);
	snprintf(key, sizeof(key), "%s/controller.key", c->cfg.state_dir);
	snprintf(pub, sizeof(pub), "%s/controller.pub", c->cfg.state_dir);
	if (ctl_db_open(&c->db, dbpath) < 0 || keypair_generate(key, pub) < 0 ||
	    signer_load(&c->signer, key, c->cfg.site) < 0 || read_file(pub, 1024, &text, &len) < 0 ||
	    len < 64)
		exit(2);
	text[64] = '\0';
	public_key_parse(pk, (char *)text);
	free(text);
	verifier_init(ver, c->cfg.site, NULL, ENVELOPE_DEFAULT_MAX, 300000);
	verifier_add_key(ver, pk);
	ctl_mqtt_init(c);
	/* what nodes send reaches its modules as in the daemon (main.c's parts) */
	if (ctl_nodes_register(c) < 0 || ctl_timesvc_register(c) < 0 ||
	    ctl_delivery_register(c) < 0)
		exit(2);
	c->mqtt.publish_hook = hook;
}

#endif
