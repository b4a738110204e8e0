/*
 * node.h - the state of one loaxa-node process, shared by its modules.
 *
 * One struct node lives in main() for the life of the daemon. Modules keep
 * their own state in their member and reach the others through it:
 *
 *   nodecfg  config file              mqtt     two broker connections
 *   cmd      envelope check, commands cache    content files on disk
 *   fetch    content transfers         queue    pending plays, scheduling
 *   playout  decoder + ALSA            status   boot counter, status JSON
 *   events   play/content events, on-disk journal until acknowledged
 *   clock    the controller's clock (ping/pong)   plan    the schedule
 *   amp      amplifier on/off commands
 *   mixer    the emergency level on an ALSA mixer control, and its restore
 *   sysinfo  network, link quality, disk, temperature, master volume
 *   update   remote software update: fetch, quiet moment, installer, confirm
 *
 * Everything runs on one thread, from the poll() loop in main.c.
 */
#ifndef LOAXA_NODE_H
#define LOAXA_NODE_H

#include <stdint.h>

#include "amp.h"
#include "cache.h"
#include "emergency.h"
#include "clock.h"
#include "envelope.h"
#include "events.h"
#include "fetch.h"
#include "keys.h"
#include "live.h"
#include "mixer.h"
#include "mqtt.h"
#include "nodecfg.h"
#include "plan.h"
#include "playout.h"
#include "queue.h"
#include "selftest.h"
#include "status.h"
#include "sysinfo.h"
#include "upper.h"
#include "update.h"

struct node {
	struct node_cfg cfg;
	struct verifier ver;
	struct node_mqtt mqtt;
	struct cache cache;
	struct fetcher fetch;
	struct play_queue queue;
	struct playout po;
	struct node_status status;
	struct node_events events;
	struct node_keys keys;   /* trusted controller keys, revocation (keys.h) */
	struct emergency emerg;
	struct node_live live;
	struct node_clock clock;
	struct node_plan plan;
	struct node_amp amp;
	struct node_mixer mixer;
	struct node_sysinfo sys;
	struct node_upper upper;  /* bulletins from the district and province (upper.h) */
	struct node_update upd;  /* remote software update (update.h) */
	struct node_selftest selftest; /* the horn self-test (selftest.h) */
	char root[64];           /* "loaxa/<site>" */
	int stopping;
	int restart;             /* re-exec after a clean stop (`restart` command) */
	/* rejections of signed messages whose body or topic was wrong */
	uint64_t rejected_body;
	uint64_t rejected_topic;
	uint64_t rejected_target; /* addressed to another topic (cmd_target_ok) */
};

#endif
