/*
 * lossyproxy - a TCP proxy on loopback between MQTT clients and a broker
 * that loses and delays what the broker sends, for live-audio tests.
 *
 *   lossyproxy --listen PORT --to PORT [--drop PCT] [--match SUBSTR]
 *              [--delay MS] [--jitter MS] [--seed N] [--stats FILE]
 *
 * Client -> broker bytes pass unchanged. Broker -> client bytes are cut into
 * MQTT packets (fixed header + remaining length); a QoS 0 PUBLISH whose topic
 * contains SUBSTR (default "/live") is dropped with probability PCT percent
 * (what a lossy radio link does to a datagram; over TCP MQTT cannot lose a
 * packet, but a live stream over a bad 4G link loses whole batches to
 * retransmission delays beyond their play time). Every packet is held back
 * DELAY + uniform(0, JITTER) ms, never reordered. On SIGTERM/SIGINT it
 * writes "forwarded N dropped N" to --stats (or stderr) and exits 0.
 *
 * One thread, poll(), at most 256 client connections.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONN 256
#define BUF_MAX (4 * 1024 * 1024)

struct held {
	struct held *next;
	int64_t release_ms;
	size_t len;
	uint8_t data[];
};

struct conn {
	int cfd, sfd;                 /* client side, broker side; -1 when unused */
	uint8_t *in;                  /* broker -> client bytes not yet a whole packet */
	size_t in_len, in_cap;
	struct held *head, *tail;     /* packets waiting for their release time */
	uint8_t *out;                 /* released bytes not yet written to the client */
	size_t out_len, out_cap;
	uint8_t *up;                  /* client -> broker bytes not yet written */
	size_t up_len, up_cap;
};

static volatile sig_atomic_t stopping;
static struct conn conns[MAX_CONN];
static double drop_pct;
static const char *match = "/live";
static int delay_ms, jitter_ms;
static unsigned long long forwarded, dropped;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int append(uint8_t **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
	if (*len + n > BUF_MAX)
		return -1;
	if (*len + n > *cap) {
		size_t nc = (*len + n) * 2;
		uint8_t *nb = realloc(*buf, nc);

		if (!nb)
			return -1;
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
	return 0;
}

static void conn_close(struct conn *c)
{
	struct held *h, *next;

	if (c->cfd >= 0)
		close(c->cfd);
	if (c->sfd >= 0)
		close(c->sfd);
	for (h = c->head; h; h = next) {
		next = h->next;
		free(h);
	}
	free(c->in);
	free(c->out);
	free(c->up);
	memset(c, 0, sizeof(*c));
	c->cfd = c->sfd = -1;
}

/* Length of the first whole MQTT packet in buf, 0 if not complete, -1 if malformed. */
static long packet_len(const uint8_t *buf, size_t len, size_t *hdr)
{
	size_t i, rem = 0, mul = 1;

	for (i = 1; i < 5; i++) {
		if (i >= len)
			return 0;
		rem += (buf[i] & 127) * mul;
		mul *= 128;
		if (!(buf[i] & 128))
			break;
	}
	if (i == 5)
		return -1;
	*hdr = i + 1;
	if (len < *hdr + rem)
		return 0;
	return (long)(*hdr + rem);
}

static int wanted_drop(const uint8_t *p, size_t len, size_t hdr)
{
	size_t tl;
	char topic[512];

	if ((p[0] >> 4) != 3 || (p[0] & 0x06) != 0) /* PUBLISH, QoS 0 only */
		return 0;
	if (len < hdr + 2)
		return 0;
	tl = (size_t)(p[hdr] << 8 | p[hdr + 1]);
	if (hdr + 2 + tl > len || tl >= sizeof(topic))
		return 0;
	memcpy(topic, p + hdr + 2, tl);
	topic[tl] = '\0';
	if (!strstr(topic, match))
		return 0;
	return drand48() * 100.0 < drop_pct;
}

static void take_packets(struct conn *c)
{
	size_t off = 0, hdr = 0;

	for (;;) {
		long n = packet_len(c->in + off, c->in_len - off, &hdr);
		struct held *h;
		int64_t rel;

		if (n <= 0)
			break;
		if (wanted_drop(c->in + off, (size_t)n, hdr)) {
			dropped++;
		} else {
			h = malloc(sizeof(*h) + (size_t)n);
			if (!h)
				break;
			rel = now_ms() + delay_ms + (jitter_ms ? (int64_t)(drand48() * jitter_ms) : 0);
			if (c->tail && rel < c->tail->release_ms)
				rel = c->tail->release_ms; /* TCP keeps order */
			h->next = NULL;
			h->release_ms = rel;
			h->len = (size_t)n;
			memcpy(h->data, c->in + off, (size_t)n);
			if (c->tail)
				c->tail->next = h;
			else
				c->head = h;
			c->tail = h;
			forwarded++;
		}
		off += (size_t)n;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

static void release(struct conn *c, int64_t now)
{
	while (c->head && c->head->release_ms <= now) {
		struct held *h = c->head;

		if (append(&c->out, &c->out_len, &c->out_cap, h->data, h->len) < 0)
			break;
		c->head = h->next;
		if (!c->head)
			c->tail = NULL;
		free(h);
	}
}

static int flush(int fd, uint8_t *buf, size_t *len)
{
	ssize_t w;

	if (*len == 0)
		return 0;
	w = write(fd, buf, *len);
	if (w < 0)
		return errno == EAGAIN ? 0 : -1;
	memmove(buf, buf + w, *len - (size_t)w);
	*len -= (size_t)w;
	return 0;
}

static int connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' }, { "to", required_argument, NULL, 't' },
		{ "drop", required_argument, NULL, 'd' },   { "match", required_argument, NULL, 'm' },
		{ "delay", required_argument, NULL, 'D' },  { "jitter", required_argument, NULL, 'j' },
		{ "seed", required_argument, NULL, 's' },   { "stats", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	int listen_port = 0, to_port = 0, ch, lfd, one = 1, i;
	long seed = 1;
	const char *stats = NULL;
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct pollfd pfds[1 + 2 * MAX_CONN];
	struct sigaction sa;
	FILE *sf;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': listen_port = atoi(optarg); break;
		case 't': to_port = atoi(optarg); break;
		case 'd': drop_pct = atof(optarg); break;
		case 'm': match = optarg; break;
		case 'D': delay_ms = atoi(optarg); break;
		case 'j': jitter_ms = atoi(optarg); break;
		case 's': seed = atol(optarg); break;
		case 'S': stats = optarg; break;
		default:
			fprintf(stderr, "usage: lossyproxy --listen PORT --to PORT [--drop PCT] "
				"[--match SUBSTR] [--delay MS] [--jitter MS] [--seed N] "
				"[--stats FILE]\n");
			return 2;
		}
	}
	if (listen_port <= 0 || to_port <= 0 || drop_pct < 0 || drop_pct > 100) {
		fprintf(stderr, "lossyproxy: --listen and --to are required; --drop is 0-100\n");
		return 2;
	}
	srand48(seed);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < MAX_CONN; i++)
		conns[i].cfd = conns[i].sfd = -1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_port = htons((uint16_t)listen_port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 64) < 0) {
		fprintf(stderr, "lossyproxy: cannot listen on 127.0.0.1:%d: %s\n", listen_port,
			strerror(errno));
		return 1;
	}
	while (!stopping) {
		int n = 0, timeout = 1000, idx[MAX_CONN][2];
		int64_t now = now_ms();

		pfds[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (i = 0; i < MAX_CONN; i++) {
			struct conn *c = &conns[i];

			idx[i][0] = idx[i][1] = -1;
			if (c->cfd < 0)
				continue;
			release(c, now);
			flush(c->cfd, c->out, &c->out_len);
			flush(c->sfd, c->up, &c->up_len);
			if (c->head) {
				int64_t d = c->head->release_ms - now;
				if (d < timeout)
					timeout = d < 0 ? 0 : (int)d;
			}
			idx[i][0] = n;
			pfds[n++] = (struct pollfd){ .fd = c->cfd, .events = (short)(POLLIN |
						     (c->out_len ? POLLOUT : 0)) };
			idx[i][1] = n;
			pfds[n++] = (struct pollfd){ .fd = c->sfd, .events = (short)(POLLIN |
						     (c->up_len ? POLLOUT : 0)) };
		}
		if (poll(pfds, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfds[0].revents & POLLIN) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			for (i = 0; cfd >= 0 && i < MAX_CONN && conns[i].cfd >= 0; i++)
				;
			if (cfd >= 0 && i < MAX_CONN) {
				conns[i].sfd = connect_to(to_port);
				if (conns[i].sfd < 0) {
					close(cfd);
				} else {
					setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					conns[i].cfd = cfd;
				}
			} else if (cfd >= 0) {
				close(cfd);
			}
		}
		for (i = 0; i < MAX_CONN; i++) {
			struct conn *c = &conns[i];
			uint8_t buf[65536];
			ssize_t r;

			if (c->cfd < 0 || idx[i][0] < 0)
				continue;
			if (pfds[idx[i][0]].revents & (POLLIN | POLLHUP | POLLERR)) {
				r = read(c->cfd, buf, sizeof(buf));
				if (r == 0 || (r < 0 && errno != EAGAIN) ||
				    (r > 0 && append(&c->up, &c->up_len, &c->up_cap, buf,
						     (size_t)r) < 0)) {
					conn_close(c);
					continue;
				}
			}
			if (pfds[idx[i][1]].revents & (POLLIN | POLLHUP | POLLERR)) {
				r = read(c->sfd, buf, sizeof(buf));
				if (r == 0 || (r < 0 && errno != EAGAIN) ||
				    (r > 0 && append(&c->in, &c->in_len, &c->in_cap, buf,
						     (size_t)r) < 0)) {
					conn_close(c);
					continue;
				}
				take_packets(c);
			}
		}
	}
	for (i = 0; i < MAX_CONN; i++)
		if (conns[i].cfd >= 0)
			conn_close(&conns[i]);
	close(lfd);
	sf = stats ? fopen(stats, "w") : stderr;
	if (sf) {
		fprintf(sf, "forwarded %llu dropped %llu\n", forwarded, dropped);
		if (sf != stderr)
			fclose(sf);
	}
	return 0;
}
