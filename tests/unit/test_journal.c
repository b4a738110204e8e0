/*
 * test_journal.c - the node's event journal on disk, without a broker: what
 * a crash leaves behind (a temporary file of an interrupted write, a damaged
 * entry) is removed and counted, entries from an earlier run are kept in
 * order, acknowledgements delete exactly the ids named, the bound drops the
 * oldest and the count of unreported drops survives a restart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "log.h"
#include "node.h"
#include "tap.h"
#include "util.h"

static struct node node;
static char dir[64];

static int files(void)
{
	char cmd[200];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls %s/events | wc -l", dir);
	p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static void put(const char *name, const char *text)
{
	char path[200];

	snprintf(path, sizeof(path), "%s/events/%s", dir, name);
	write_file_atomic(path, text, strlen(text), 0640);
}

static void start(uint64_t boot, size_t max)
{
	events_free(&node);
	memset(&node.events, 0, sizeof(node.events));
	node.status.boot = boot;
	node.cfg.health.journal_max = max;
	events_init(&node);
}

int main(void)
{
	struct event_info info = EVENT_INFO_INIT;
	const char *ids[2];
	char path[200];
	int i;

	log_init("test_journal", 0);
	strcpy(dir, "/tmp/loaxa-test-journal-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	snprintf(node.cfg.state_dir, sizeof(node.cfg.state_dir), "%s", dir);
	snprintf(node.cfg.node, sizeof(node.cfg.node), "n1");
	snprintf(node.root, sizeof(node.root), "loaxa/xa-test");

	start(1, 100);
	CHECK(node.events.npending == 1 && strcmp(node.events.pending[0].id, "n1-1-1") == 0,
	      "first start: node_started is journaled as n1-1-1");
	info.reason = "x";
	events_emit(&node, "content_ready", &info);
	events_emit(&node, "content_ready", &info);
	CHECK(files() == 3, "each event is a file on disk (%d)", files());

	/* what a crash leaves: an interrupted write and a damaged entry */
	put("n1-1-4.json.tmp.999", "{\"id\":\"n1-1-4\"");
	put("n1-1-5.json", "{\"id\":\"n1-1-5\",\"node\":");
	start(2, 100);
	CHECK(node.events.npending == 4, "restart: the 3 entries of boot 1 and node_started of "
	      "boot 2 wait (%zu)", node.events.npending);
	CHECK(strcmp(node.events.pending[0].id, "n1-1-1") == 0 &&
	      strcmp(node.events.pending[3].id, "n1-2-1") == 0, "oldest first, by boot then "
	      "number");
	snprintf(path, sizeof(path), "%s/events/n1-1-4.json.tmp.999", dir);
	CHECK(access(path, F_OK) < 0, "the torn temporary file is removed");
	snprintf(path, sizeof(path), "%s/events/n1-1-5.json", dir);
	CHECK(access(path, F_OK) < 0 && node.events.dropped == 1 && node.events.unreported == 1,
	      "the damaged entry is removed and counted as dropped");

	ids[0] = "n1-1-2";
	ids[1] = "n1-9-9";
	CHECK(events_ack(&node, ids, 2) == 1 && node.events.npending == 3 && files() == 3,
	      "an ack deletes exactly the ids it names (unknown ids ignored)");

	/* the bound: 5 entries, the oldest go first */
	start(3, 5);
	for (i = 0; i < 4; i++)
		events_emit(&node, "content_ready", &info);
	CHECK(node.events.npending == 5 && strcmp(node.events.pending[0].id, "n1-3-1") == 0,
	      "a full journal keeps %zu entries: the 3 older ones were dropped first",
	      node.events.npending);
	CHECK(files() == 5, "on disk too: 5 entries (%d)", files());
	{
		uint64_t unreported = node.events.unreported;

		start(4, 5);
		CHECK(node.events.unreported >= unreported && unreported >= 3,
		      "the count of unreported drops survives a restart (%llu)",
		      (unsigned long long)node.events.unreported);
	}
	events_mark_clean_stop(&node);
	start(5, 5);
	CHECK(node.events.clean_start == 1, "after a clean stop the next start knows it");
	events_free(&node);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	TAP_EXIT();
}
