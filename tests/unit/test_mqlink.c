/*
 * test_mqlink.c - common/mqlink.c: the back-off (jittered, reset only after
 * a connection that held), the TCP probe against a refused port, and an
 * attempt whose peer closes before CONNACK (given up, not spun on).
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mosquitto.h>

#include "mqlink.h"
#include "tap.h"
#include "util.h"

static int within(int v, int lo, int hi)
{
	return v >= lo && v <= hi;
}

static void test_backoff(void)
{
	struct mqlink l;
	int b, ok = 1;

	mqlink_init(&l, "test", "127.0.0.1", 1, 30);
	CHECK(l.state == MQLINK_IDLE && l.retry_at_ms <= mono_ms(),
	      "a new link is idle with its first attempt due now");
	CHECK(mqlink_on_disconnect(&l, 0) == MQLINK_IGNORED,
	      "a disconnect while idle (an abandoned attempt closing) is ignored");

	/* failures before CONNACK: 1, 2, 4 ... 30 s, each drawn in [half, all] */
	for (b = MQLINK_BACKOFF_MIN_MS; b <= 4 * MQLINK_BACKOFF_MAX_MS; b *= 2) {
		int want = b > MQLINK_BACKOFF_MAX_MS ? MQLINK_BACKOFF_MAX_MS : b;

		l.state = MQLINK_HANDSHAKE;
		if (mqlink_on_disconnect(&l, 0) != MQLINK_FAILED ||
		    !within(l.last_delay_ms, want / 2, want))
			ok = 0;
	}
	CHECK(ok, "failed attempts back off 1, 2, 4 ... 30 s, each delay between half and all");

	/* a connection lost within STABLE_MS keeps the long delay */
	mqlink_on_connect(&l, 0);
	CHECK(mqlink_up(&l), "CONNACK 0 makes the link up");
	CHECK(mqlink_on_disconnect(&l, 0) == MQLINK_LOST &&
	      within(l.last_delay_ms, MQLINK_BACKOFF_MAX_MS / 2, MQLINK_BACKOFF_MAX_MS),
	      "a connection dropped at once does not reset the back-off (%d ms)",
	      l.last_delay_ms);
	CHECK(l.short_lived == 1, "it counts as short-lived");

	/* one that held STABLE_MS does */
	mqlink_on_connect(&l, 0);
	l.up_at_ms -= MQLINK_STABLE_MS;
	CHECK(mqlink_on_disconnect(&l, 0) == MQLINK_LOST &&
	      within(l.last_delay_ms, MQLINK_BACKOFF_MIN_MS / 2, MQLINK_BACKOFF_MIN_MS),
	      "after a connection that held 10 s the first retry comes within 0.5-1 s (%d ms)",
	      l.last_delay_ms);

	mqlink_on_connect(&l, 1);
	CHECK(!mqlink_up(&l), "a refused CONNACK does not make the link up");
	l.state = MQLINK_UP;
	CHECK(mqlink_on_disconnect(&l, 1) == MQLINK_LOST && l.retry_at_ms == INT64_MAX,
	      "while stopping, a loss schedules no retry");
}

/* Many clients losing the same broker do not all come back at once. */
static void test_jitter(void)
{
	static struct mqlink links[100];
	int seen[11] = { 0 }, buckets = 0, i;

	for (i = 0; i < 100; i++) {
		mqlink_init(&links[i], "test", "127.0.0.1", 1, 30);
		links[i].state = MQLINK_UP;
		links[i].up_at_ms = mono_ms() - MQLINK_STABLE_MS;
		mqlink_on_disconnect(&links[i], 0);
		seen[(links[i].last_delay_ms - 500) / 50]++;
	}
	for (i = 0; i < 11; i++)
		buckets += seen[i] > 0;
	CHECK(buckets >= 6, "100 links' first retries spread over %d of the 11 50-ms slots of 0.5-1 s",
	      buckets);
}

/* A port nobody listens on: bound, never listened. */
static int unused_port(int *fd_out)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*fd_out = fd;
	return ntohs(a.sin_port);
}

/* Run the link's loop until it is idle again or n turns passed; returns turns. */
static int run_until_idle(struct mqlink *l, int lfd, int n)
{
	int turns;

	for (turns = 0; turns < n; turns++) {
		struct pollfd p[2];
		int np = mqlink_pollfd(l, &p[0]);

		p[np].fd = lfd;
		p[np].events = POLLIN;
		p[np].revents = 0;
		if (poll(p, (nfds_t)np + (lfd >= 0), 200) < 0)
			break;
		if (np)
			mqlink_handle(l, &p[0]);
		if (lfd >= 0 && (p[np].revents & POLLIN)) {
			/* the "broker" accepts and hangs up at once */
			int c = accept(lfd, NULL, NULL);

			if (c >= 0)
				close(c);
		}
		mqlink_tick(l);
		if (l->state == MQLINK_IDLE && l->retry_at_ms > mono_ms())
			break;
	}
	return turns;
}

static void test_network(void)
{
	struct mqlink l;
	struct mosquitto *m;
	int hold = -1, port, turns;

	mosquitto_lib_init();
	m = mosquitto_new("mqlink-test", true, NULL);
	port = unused_port(&hold);
	if (!m || port < 0) {
		CHECK(0, "set up a client and a port");
		return;
	}
	mqlink_init(&l, "test", "127.0.0.1", port, 30);
	l.m = m;
	mqlink_tick(&l);
	turns = run_until_idle(&l, -1, 20);
	CHECK(l.state == MQLINK_IDLE && l.last_err == ECONNREFUSED && turns < 5,
	      "a refused port: the probe fails in %d turn(s) (%s), libmosquitto untouched",
	      turns, strerror(l.last_err));
	CHECK(l.probe_fails == 1 && within(l.last_delay_ms, 500, 1000),
	      "the next probe within 0.5-1 s (%d ms)", l.last_delay_ms);

	/* a port that accepts and hangs up: the attempt is given up, no spin */
	if (listen(hold, 8) < 0) {
		CHECK(0, "listen");
	} else {
		l.retry_at_ms = mono_ms();
		mqlink_tick(&l);
		turns = run_until_idle(&l, hold, 50);
		CHECK(l.state == MQLINK_IDLE && l.probe_fails == 0 && turns < 20,
		      "a port that accepts and hangs up: the attempt ends in %d turns, then backs off",
		      turns);
		CHECK(within(l.last_delay_ms, 500, 1000) && l.backoff_ms == 2000,
		      "the failure after TCP doubles the back-off (next %d ms, then up to %d ms)",
		      l.last_delay_ms, l.backoff_ms);
	}
	close(hold);
	mqlink_stop(&l);
	CHECK(l.m == NULL && l.probe_fd < 0, "mqlink_stop destroys the client");
	mosquitto_lib_cleanup();
}

int main(void)
{
	test_backoff();
	test_jitter();
	test_network();
	TAP_EXIT();
}
