/*
 * test_mqconn.c - common/mqconn.c, the one MQTT connection of both daemons:
 * the subscription table (filters, first match, limits), libmosquitto's
 * errors as -errno, publishing while down, and against a real mosquitto on
 * 127.0.0.1: connect, hooks, a message through the table, the broker killed
 * (the on-lost hook, back-off) and back (re-subscribed), and a wrong
 * account (refused, backed off like any failure, never connected).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "capture.h"
#include "config.h"
#include "loop.h"
#include "mosqpw.h"
#include "mqconn.h"
#include "tap.h"
#include "util.h"

static char dir[64];

static int got_a, got_b;
static char last_topic[128], last_payload[64];

static void on_a(const struct mqconn_msg *m, void *arg)
{
	got_a += *(int *)arg;
	snprintf(last_topic, sizeof(last_topic), "%s", m->topic);
	snprintf(last_payload, sizeof(last_payload), "%.*s", (int)m->len,
		 (const char *)m->payload);
}

static void on_b(const struct mqconn_msg *m, void *arg)
{
	(void)m;
	(void)arg;
	got_b++;
}

static struct cfg_mqtt cfg_for(int port)
{
	struct cfg_mqtt c;

	memset(&c, 0, sizeof(c));
	strcpy(c.host, "127.0.0.1");
	c.port = port;
	c.keepalive = 30;
	return c;
}

static void test_table(void)
{
	struct cfg_mqtt cfg = cfg_for(1);
	struct mqconn_opts o = { .name = "test", .client_id = "t", .cfg = &cfg };
	static struct mqconn c;
	struct mqconn_msg m = { .topic = "loaxa/x/node/n1/status", .payload = "hi", .len = 2 };
	int one = 1, k, rc = 0;
	const char *out;

	mqconn_init(&c, &o);
	CHECK(mqconn_subscribe(&c, "loaxa/x/node/+/status", 1, on_a, &one) == 0 &&
	      mqconn_subscribe(&c, "loaxa/x/#", 0, on_b, NULL) == 0,
	      "two filters with wildcards in the table");
	CHECK(mqconn_route(&c, "loaxa/x/node/n1/status") == &c.subs[0] &&
	      mqconn_route(&c, "loaxa/x/zone/a/cmd") == &c.subs[1] &&
	      mqconn_route(&c, "loaxa/y/node/n1/status") == NULL,
	      "a topic goes to the first entry it matches, none when it matches none");
	got_a = got_b = 0;
	mqconn_dispatch(&c, &m);
	CHECK(got_a == 1 && got_b == 0 && strcmp(last_payload, "hi") == 0,
	      "dispatch calls that entry's callback with its argument and the payload");
	m.topic = "elsewhere/x";
	capture_begin();
	mqconn_dispatch(&c, &m);
	out = capture_end();
	CHECK(got_a == 1 && got_b == 0 && strstr(out, "unexpected topic elsewhere/x"),
	      "a topic no entry matches is logged and goes nowhere");
	CHECK(mqconn_subscribe(&c, "a/#/b", 1, on_b, NULL) == -EINVAL &&
	      mqconn_subscribe(&c, "a/b", 3, on_b, NULL) == -EINVAL &&
	      mqconn_subscribe(&c, "", 1, on_b, NULL) == -EINVAL &&
	      mqconn_subscribe(&c, "a/b", 1, NULL, NULL) == -EINVAL,
	      "invalid filters, QoS or callbacks are refused");
	for (k = c.nsubs; k < MQCONN_MAX_SUBS && rc == 0; k++)
		rc = mqconn_subscribe(&c, "a/b", 1, on_b, NULL);
	CHECK(rc == 0 && mqconn_subscribe(&c, "a/b", 1, on_b, NULL) == -ENOSPC,
	      "the table holds %d entries, then -ENOSPC", MQCONN_MAX_SUBS);
}

static void test_errno(void)
{
	CHECK(mqconn_errno(MOSQ_ERR_SUCCESS) == 0 && mqconn_errno(MOSQ_ERR_NO_CONN) == -ENOTCONN &&
	      mqconn_errno(MOSQ_ERR_CONN_LOST) == -ENOTCONN &&
	      mqconn_errno(MOSQ_ERR_NOMEM) == -ENOMEM &&
	      mqconn_errno(MOSQ_ERR_PAYLOAD_SIZE) == -EMSGSIZE &&
	      mqconn_errno(MOSQ_ERR_OVERSIZE_PACKET) == -EMSGSIZE &&
	      mqconn_errno(MOSQ_ERR_INVAL) == -EINVAL &&
	      mqconn_errno(MOSQ_ERR_PROTOCOL) == -EIO,
	      "libmosquitto's errors map to -errno");
}

/* A port nobody listens on right now. */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void test_offline(void)
{
	struct cfg_mqtt cfg = cfg_for(free_port());
	struct mqconn_opts o = { .name = "test", .client_id = "t-off", .cfg = &cfg,
				 .max_publish = 16 };
	static struct mqconn c, q;

	mqconn_init(&c, &o);
	CHECK(mqconn_publish(&c, "a/b", "x", 1, 1, 0, NULL) == -ENOTCONN,
	      "publishing before the start: -ENOTCONN");
	CHECK(mqconn_start(&c, NULL) == 0, "start against a port that refuses (non-blocking)");
	CHECK(mqconn_publish(&c, "a/b", "x", 1, 1, 0, NULL) == -ENOTCONN && c.unacked == 0,
	      "while down, without queue_offline: -ENOTCONN, nothing queued");
	mqconn_stop(&c);
	o.queue_offline = 1;
	o.client_id = "t-queue";
	mqconn_init(&q, &o);
	CHECK(mqconn_start(&q, NULL) == 0, "a second client");
	CHECK(mqconn_publish(&q, "a/b", "x", 1, 1, 0, NULL) == -ENOTCONN && q.unacked == 1,
	      "while down, with queue_offline: -ENOTCONN and the QoS 1 message kept (%llu)",
	      (unsigned long long)q.unacked);
	CHECK(mqconn_publish(&q, "a/b", "0123456789abcdefg", 17, 1, 0, NULL) == -EMSGSIZE,
	      "a payload over max_publish: -EMSGSIZE");
	mqconn_stop(&q);
	CHECK(q.m == NULL && !q.connected, "mqconn_stop destroys the client");
}

/* ---- against a real broker ---- */

static pid_t broker_start(int port, int accounts)
{
	char conf[128], log[128], line[512], hash[MOSQ_PW_HASH_MAX];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)port) };
	FILE *f;
	pid_t pid;
	int i;

	snprintf(conf, sizeof(conf), "%s/mosquitto.conf", dir);
	snprintf(log, sizeof(log), "%s/broker.log", dir);
	f = fopen(conf, "w");
	if (!f)
		return -1;
	fprintf(f, "listener %d 127.0.0.1\npersistence false\n", port);
	/* as root mosquitto would become user "mosquitto", who cannot read dir */
	if (getpwuid(getuid()))
		fprintf(f, "user %s\n", getpwuid(getuid())->pw_name);
	if (accounts) {
		fprintf(f, "allow_anonymous false\npassword_file %s/passwd\n", dir);
		snprintf(line, sizeof(line), "%s/passwd", dir);
		FILE *p = fopen(line, "w");

		if (!p || mosq_password_hash("right", hash) < 0)
			return -1;
		fprintf(p, "u:%s\n", hash);
		fclose(p);
	} else {
		fprintf(f, "allow_anonymous true\n");
	}
	fclose(f);
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf, (char *)NULL);
		_exit(127);
	}
	/* up when the port accepts (test set-up only; the code under test never waits) */
	for (i = 0; pid > 0 && i < 100; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

		ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			return pid;
		usleep(50000);
	}
	return -1;
}

static void broker_kill(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

static int ups, losses;

static void hook_up(void *arg)
{
	/* the subscriptions were sent before the hooks ran */
	struct mqconn *c = arg;

	if (c->connected)
		ups++;
}

static void hook_lost(void *arg)
{
	(void)arg;
	losses++;
}

/* Loop turns until *flag reaches want or ms passed; returns the ms it took. */
static int64_t run_until(struct loop *l, const int *flag, int want, int64_t ms)
{
	int64_t t0 = mono_ms();

	while (*flag < want && mono_ms() - t0 < ms) {
		l->max_wait_ms = 100;
		loop_once(l);
	}
	return mono_ms() - t0;
}

static void test_broker(void)
{
	int port = free_port(), one = 1, not_up = 0;
	struct cfg_mqtt cfg = cfg_for(port);
	struct mqconn_opts o = { .name = "test", .client_id = "t-live", .cfg = &cfg };
	static struct mqconn c;
	static struct loop l;
	pid_t b = broker_start(port, 0);
	int64_t took;

	if (b < 0 || loop_init(&l) < 0) {
		CHECK(0, "start mosquitto on 127.0.0.1:%d and a loop", port);
		broker_kill(b);
		return;
	}
	mqconn_init(&c, &o);
	CHECK(mqconn_subscribe(&c, "t/mqconn/+", 1, on_a, &one) == 0 &&
	      mqconn_hook(&c, hook_up, hook_lost, &c) == 0 && mqconn_register(&l, &c) == 0 &&
	      mqconn_start(&c, NULL) == 0, "a connection with one subscription and hooks");
	took = run_until(&l, &ups, 1, 5000);
	CHECK(ups == 1 && mqconn_connected(&c), "connected in %lld ms, the on-connect hook ran",
	      (long long)took);
	got_a = 0;
	CHECK(mqconn_publish(&c, "t/mqconn/a", "hello", 5, 1, 0, NULL) == 0,
	      "a QoS 1 publish while up: 0");
	took = run_until(&l, &got_a, 1, 3000);
	CHECK(got_a == 1 && strcmp(last_topic, "t/mqconn/a") == 0 &&
	      strcmp(last_payload, "hello") == 0,
	      "our own message came back through the broker and the table (%lld ms)",
	      (long long)took);
	run_until(&l, &not_up, 1, 300); /* the PUBACK */
	CHECK(c.unacked == 0, "the broker acknowledged it");

	broker_kill(b);
	took = run_until(&l, &losses, 1, 3000);
	CHECK(losses == 1 && !mqconn_connected(&c) &&
	      mqconn_publish(&c, "t/mqconn/a", "x", 1, 1, 0, NULL) == -ENOTCONN,
	      "the broker killed: lost in %lld ms, the on-lost hook ran, publishing says -ENOTCONN",
	      (long long)took);
	CHECK(c.link.state == MQLINK_IDLE && c.link.last_delay_ms >= 500 &&
	      c.link.last_delay_ms <= 1000 && c.link.backoff_ms == 2000,
	      "a connection lost within 10 s backs off (next try in %d ms, then %d ms)",
	      c.link.last_delay_ms, c.link.backoff_ms);
	b = broker_start(port, 0);
	took = run_until(&l, &ups, 2, 10000);
	CHECK(ups == 2 && mqconn_connected(&c), "the broker back: reconnected in %lld ms",
	      (long long)took);
	got_a = 0;
	mqconn_publish(&c, "t/mqconn/b", "again", 5, 1, 0, NULL);
	run_until(&l, &got_a, 1, 3000);
	CHECK(got_a == 1 && strcmp(last_payload, "again") == 0,
	      "subscribed again after the reconnect (a clean session)");
	mqconn_stop(&c);
	broker_kill(b);

	/* a wrong password: refused, and backed off like any failure */
	port = free_port();
	cfg = cfg_for(port);
	strcpy(cfg.username, "u");
	strcpy(cfg.password, "wrong");
	o.client_id = "t-account";
	b = broker_start(port, 1);
	mqconn_init(&c, &o);
	ups = losses = 0;
	mqconn_hook(&c, hook_up, hook_lost, &c);
	if (b < 0 || mqconn_start(&c, NULL) < 0) {
		CHECK(0, "a broker with accounts");
	} else {
		capture_begin();
		not_up = 0;
		run_until(&l, &losses, 2, 6000);
		const char *out = capture_end();

		CHECK(ups == 0 && losses >= 2 && strstr(out, "refused the test connection"),
		      "a wrong password: refused %d times, never connected, logged", losses);
		CHECK(c.link.backoff_ms >= 4000,
		      "each refusal doubles the delay (next at most %d ms)", c.link.backoff_ms);
	}
	mqconn_stop(&c);
	broker_kill(b);
	/* the account right: connects */
	strcpy(cfg.password, "right");
	b = broker_start(port, 1);
	mqconn_init(&c, &o);
	ups = 0;
	mqconn_hook(&c, hook_up, hook_lost, &c);
	if (b >= 0 && mqconn_start(&c, NULL) == 0)
		run_until(&l, &ups, 1, 5000);
	CHECK(ups == 1, "the right password: connected");
	mqconn_stop(&c);
	broker_kill(b);
	loop_free(&l);
}

int main(void)
{
	char cmd[128];

	signal(SIGPIPE, SIG_IGN);
	strcpy(dir, "/tmp/loaxa-test-mqconn-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	test_table();
	test_errno();
	test_offline();
	test_broker();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	TAP_EXIT();
}
