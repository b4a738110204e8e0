/*
 * secure.c - `loaxa broker-config`, `loaxa node add|revoke|list`,
 * `loaxa key rotate|list` (docs/security.md).
 *
 * broker-config runs without the controller, at install time (the
 * controller needs its broker account to start): it makes, in --dir,
 *   ca.key/ca.crt        a CA for this site only (EC P-256, 10 years)
 *   server.key/.crt      the broker's certificate (SAN localhost, 127.0.0.1
 *                        and every --host; 825 days)
 *   controller.password  the controller's broker password (0600)
 *   passwd.base acl.base the controller's account and ACL; the controller
 *                        appends the nodes' and writes passwd and acl
 *   mosquitto.conf       TLS listener, no anonymous access, password file,
 *                        ACL, max_packet_size, persistence
 * It never overwrites a CA, a key or a password that exists (running it
 * again only rewrites mosquitto.conf), so there is no default certificate
 * or password anywhere: each install makes its own. Keys and certificates
 * are made by the openssl command line tool.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "area.h"
#include "nodeupdate.h"
#include "cli.h"
#include "client.h"
#include "envelope.h"
#include "health.h"
#include "mosqpw.h"
#include "util.h"

extern char **environ;

#define CA_DAYS "3650"
#define SERVER_DAYS "825"
/* Largest MQTT packet the broker takes: a node's envelope limit + headroom. */
#define DEFAULT_MAX_PACKET (256 * 1024 + 4096)

/* Run argv (openssl ...) quietly; its stderr is shown only on failure. */
static int run(char *const argv[], const char *dir)
{
	char logpath[4096];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, rc;

	snprintf(logpath, sizeof(logpath), "%s/.openssl.log", dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, logpath,
					 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "loaxa: cannot run %s: %s\n", argv[0], strerror(rc));
		return -rc;
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char cmd[512] = "";
		size_t i, off = 0;
		uint8_t *log = NULL;
		size_t len = 0;

		for (i = 0; argv[i] && off < sizeof(cmd); i++)
			off += (size_t)snprintf(cmd + off, sizeof(cmd) - off, "%s ", argv[i]);
		fprintf(stderr, "loaxa: %sfailed\n", cmd);
		if (read_file(logpath, 8192, &log, &len) == 0)
			fprintf(stderr, "%s", (char *)log);
		free(log);
		unlink(logpath);
		return -EIO;
	}
	unlink(logpath);
	return 0;
}

static int exists(const char *dir, const char *name)
{
	char p[4096];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static int write_in(const char *dir, const char *name, const char *text, mode_t mode)
{
	char p[4096];
	int rc;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, name) >= sizeof(p))
		return -ENAMETOOLONG;
	rc = write_file_atomic(p, text, strlen(text), mode);
	if (rc < 0)
		fprintf(stderr, "loaxa: cannot write %s: %s\n", p, strerror(-rc));
	return rc;
}

/* ca.key/ca.crt in dir; cn names whose CA it is. */
static int make_ca(const char *dir, const char *cn)
{
	char key[4096], crt[4096], subj[128];
	char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
			 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
			 "-days", CA_DAYS, "-sha256", "-subj", subj, "-addext",
			 "basicConstraints=critical,CA:TRUE", "-addext",
			 "keyUsage=critical,keyCertSign,cRLSign", NULL };
	int rc;

	snprintf(key, sizeof(key), "%s/ca.key", dir);
	snprintf(crt, sizeof(crt), "%s/ca.crt", dir);
	snprintf(subj, sizeof(subj), "/CN=%.100s", cn);
	rc = run(argv, dir);
	if (rc == 0)
		chmod(key, 0600);
	return rc;
}

/* base.key/base.crt in dir ("server": the broker's, "web": the console's),
 * signed by dir's CA. */
static int make_server_cert(const char *dir, const char *base, char hosts[][256],
			    size_t nhosts)
{
	char key[4096], csr[4096], crt[4096], ca[4096], cakey[4096], ext[4096], serial[4096];
	char extbody[4096], subj[300], p[64];
	char *req[] = { "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
			"ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr,
			"-subj", subj, NULL };
	char *sign[] = { "openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey,
			 "-CAserial", serial, "-CAcreateserial", "-days", SERVER_DAYS,
			 "-sha256", "-extfile", ext, "-out", crt, NULL };
	size_t i, off;
	int rc;

	snprintf(key, sizeof(key), "%s/%s.key", dir, base);
	snprintf(csr, sizeof(csr), "%s/%s.csr", dir, base);
	snprintf(crt, sizeof(crt), "%s/%s.crt", dir, base);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(cakey, sizeof(cakey), "%s/ca.key", dir);
	snprintf(ext, sizeof(ext), "%s/%s.ext", dir, base);
	snprintf(serial, sizeof(serial), "%s/ca.srl", dir);
	snprintf(subj, sizeof(subj), "/CN=%.200s", nhosts ? hosts[0] : "localhost");
	off = (size_t)snprintf(extbody, sizeof(extbody),
			       "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
			       "extendedKeyUsage=serverAuth\n"
			       "subjectAltName=DNS:localhost,IP:127.0.0.1");
	for (i = 0; i < nhosts && off < sizeof(extbody); i++) {
		unsigned char bin[16];
		int ip = inet_pton(AF_INET, hosts[i], bin) == 1 ||
			 inet_pton(AF_INET6, hosts[i], bin) == 1;

		off += (size_t)snprintf(extbody + off, sizeof(extbody) - off, ",%s:%s",
					ip ? "IP" : "DNS", hosts[i]);
	}
	if (off + 2 >= sizeof(extbody))
		return -ENAMETOOLONG;
	strcat(extbody, "\n");
	snprintf(p, sizeof(p), "%s.ext", base);
	rc = write_in(dir, p, extbody, 0644);
	if (rc == 0)
		rc = run(req, dir);
	if (rc == 0)
		rc = run(sign, dir);
	if (rc == 0)
		chmod(key, 0600);
	unlink(csr);
	unlink(ext);
	return rc;
}

/* Append text to dir/name unless it holds key (an account made after install). */
static int append_missing(const char *dir, const char *name, const char *key,
			  const char *text)
{
	char p[4096];
	uint8_t *have = NULL;
	size_t len = 0;
	int rc;
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	rc = read_file(p, 1 << 20, &have, &len);
	if (rc < 0)
		return rc;
	if (strstr((char *)have, key)) {
		free(have);
		return 0;
	}
	free(have);
	f = fopen(p, "a");
	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -EIO;
}

/*
 * The bridge accounts of the sites below this broker (a district's for its
 * communes, a province's for its districts): downstream-<site>.password in
 * dir, one per lower site, made once by --downstream SITE and kept. Each
 * may read the area commands (loaxa/area/#) and write only its own site's
 * node status and summary (issue 18.2). Appended to passwd/acl text.
 */
static int downstream_accounts(const char *dir, char *passwd, size_t pwlen, char *acl,
			       size_t acllen)
{
	char pw[64], hash[MOSQ_PW_HASH_MAX], p[4096], name[64], key[80];
	char pwline[MOSQ_PW_HASH_MAX + 80], block[512];
	int live = exists(dir, "passwd") && exists(dir, "acl");
	struct dirent *e;
	DIR *d = opendir(dir);
	int rc = 0;

	if (!d)
		return -errno;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);

		if (strncmp(e->d_name, "downstream-", 11) != 0 || l < 11 + 9 + 1 ||
		    strcmp(e->d_name + l - 9, ".password") != 0 || l - 20 >= sizeof(name))
			continue;
		memcpy(name, e->d_name + 11, l - 20);
		name[l - 20] = '\0';
		if (!name_valid(name))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (read_secret_line(p, pw, sizeof(pw)) < 0) {
			fprintf(stderr, "loaxa: cannot read %s\n", p);
			rc = -EIO;
			break;
		}
		rc = mosq_password_hash(pw, hash);
		memset(pw, 0, sizeof(pw));
		if (rc < 0)
			break;
		snprintf(pwline, sizeof(pwline), "%s:%s\n", name, hash);
		snprintf(block, sizeof(block),
			 "\n# the bridge of site %s below (loaxa broker-config --downstream)\n"
			 "user %s\n"
			 "topic read loaxa/area/#\n"
			 "topic write loaxa/%s/node/+/status\n"
			 "topic write loaxa/%s/summary\n", name, name, name, name);
		snprintf(passwd + strlen(passwd), pwlen - strlen(passwd), "%s", pwline);
		snprintf(acl + strlen(acl), acllen - strlen(acl), "%s", block);
		/* the broker's files in use (the controller adds its nodes to them) */
		if (live) {
			snprintf(key, sizeof(key), "\n%s:", name);
			rc = append_missing(dir, "passwd", key, pwline);
			snprintf(key, sizeof(key), "\nuser %s\n", name);
			if (rc == 0)
				rc = append_missing(dir, "acl", key, block);
		}
	}
	closedir(d);
	return rc;
}

static int controller_account(const char *dir, const char *site, const char *area)
{
	char pw[64], hash[MOSQ_PW_HASH_MAX], line[MOSQ_PW_HASH_MAX + 64], p[4096];
	char acl[16384], passwd[16384], down_pw[16384] = "", down_acl[16384] = "";
	int rc;

	snprintf(p, sizeof(p), "%s/controller.password", dir);
	if (access(p, F_OK) != 0) {
		mosq_password_random(pw, sizeof(pw));
		snprintf(line, sizeof(line), "%s\n", pw);
		rc = write_in(dir, "controller.password", line, 0600);
		if (rc < 0)
			return rc;
	} else if (read_secret_line(p, pw, sizeof(pw)) < 0) {
		fprintf(stderr, "loaxa: cannot read %s\n", p);
		return -EIO;
	}
	rc = mosq_password_hash(pw, hash);
	memset(pw, 0, sizeof(pw));
	if (rc < 0)
		return rc;
	snprintf(line, sizeof(line), "controller:%s\n", hash);
	rc = downstream_accounts(dir, down_pw, sizeof(down_pw), down_acl, sizeof(down_acl));
	if (rc < 0)
		return rc;
	snprintf(passwd, sizeof(passwd), "%s%s", line, down_pw);
	rc = write_in(dir, "passwd.base", passwd, 0640);
	if (rc < 0)
		return rc;
	snprintf(acl, sizeof(acl),
		 "# loaxa broker ACL (loaxa broker-config). The controller appends one block\n"
		 "# per provisioned node and writes the result to \"acl\".\n"
		 "user controller\n"
		 "topic readwrite loaxa/%s/#\n", site);
	if (area)
		/* a district or province: its bulletins, and the roll-up of the sites below */
		snprintf(acl + strlen(acl), sizeof(acl) - strlen(acl),
			 "topic write loaxa/area/%s/cmd\n"
			 "topic read loaxa/+/summary\n"
			 "topic read loaxa/+/node/+/status\n", area);
	snprintf(acl + strlen(acl), sizeof(acl) - strlen(acl), "%s", down_acl);
	rc = write_in(dir, "acl.base", acl, 0640);
	/* The first passwd/acl; the controller rewrites them with the nodes. */
	if (rc == 0 && !exists(dir, "passwd"))
		rc = write_in(dir, "passwd", passwd, 0640);
	if (rc == 0 && !exists(dir, "acl"))
		rc = write_in(dir, "acl", acl, 0640);
	return rc;
}

/* Make DIR_ARG (0750) and put its absolute path in out; says why not. */
static int out_dir(const char *dir_arg, char *out, size_t outlen)
{
	char real[PATH_MAX];
	int rc = mkdir_p(dir_arg, 0750);

	if (rc < 0 || !realpath(dir_arg, real)) {
		fprintf(stderr, "loaxa: cannot create %s: %s\n", dir_arg,
			strerror(rc < 0 ? -rc : errno));
		return -1;
	}
	if (str_copy(out, outlen, real) < 0) {
		fprintf(stderr, "loaxa: %s: path too long\n", real);
		return -1;
	}
	return 0;
}

/*
 * loaxa web-cert --dir D [--site S] [--host NAME]...: the web console's
 * certificate (web.key/web.crt, SAN localhost, 127.0.0.1 and every --host:
 * the office PC reaches the controller by these) and the CA that signed it
 * (ca.crt: what a browser is told to trust once, docs/controller.md). Its
 * own CA, not the broker's: trusting the console's in a browser says
 * nothing about the broker. Like broker-config, it never overwrites a key
 * or a certificate that exists: a commune that has its own certificate
 * puts it in web.cert/web.key of controller.cfg instead.
 */
int cmd_web_cert(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "site", required_argument, NULL, 's' },
		{ "host", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir_arg = NULL, *site = NULL;
	char dir[2048], hosts[8][256], cn[64];
	size_t nhosts = 0;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': dir_arg = optarg; break;
		case 's': site = optarg; break;
		case 'H':
			if (nhosts >= 8 || strlen(optarg) >= 200 || !optarg[0] ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789.-:") != strlen(optarg))
				goto usage;
			snprintf(hosts[nhosts++], sizeof(hosts[0]), "%s", optarg);
			break;
		default: goto usage;
		}
	}
	if (optind != argc || !dir_arg)
		goto usage;
	if (site && (!name_valid(site) || strlen(site) > 16)) {
		fprintf(stderr, "loaxa: --site \"%s\" is not a site id (1-16 of a-z 0-9 _ -)\n",
			site);
		return CLI_EXIT_USAGE;
	}
	if (out_dir(dir_arg, dir, sizeof(dir)) < 0)
		return CLI_EXIT_ERROR;
	if (!exists(dir, "ca.crt") || !exists(dir, "ca.key")) {
		snprintf(cn, sizeof(cn), "loaxa %s web console CA", site ? site : "");
		if (make_ca(dir, cn) < 0)
			return CLI_EXIT_ERROR;
		fprintf(stderr, "made the web console's CA %s/ca.crt\n", dir);
	}
	if (!exists(dir, "web.crt") || !exists(dir, "web.key")) {
		if (make_server_cert(dir, "web", hosts, nhosts) < 0)
			return CLI_EXIT_ERROR;
		fprintf(stderr, "made the web console's certificate %s/web.crt\n", dir);
	} else {
		fprintf(stderr, "%s/web.crt exists: kept (remove web.crt and web.key to make "
			"a new one)\n", dir);
	}
	printf("web = { listen = \"0.0.0.0:8443\"; cert = \"%s/web.crt\"; key = \"%s/web.key\"; };\n",
	       dir, dir);
	return 0;
usage:
	fprintf(stderr, "usage: loaxa web-cert --dir D [--site S] [--host NAME-OR-ADDRESS]...\n"
		"  makes D/ca.crt (give it to the office browsers once) and D/web.crt,\n"
		"  D/web.key for controller.cfg's web group; at most 8 --host\n");
	return CLI_EXIT_USAGE;
}

struct bridge_opts {
	const char *name, *remote, *ca, *account, *password_file;
	const char *upper[4];
	size_t nupper;
};

/*
 * bridges/NAME.conf: Mosquitto's own bridge to the broker above (issue
 * 18.2). Down: the bulletins of each upper area (loaxa/area/<code>/cmd,
 * QoS 1). Up: this site's node status and its summary, nothing else - no
 * content, no live audio. cleansession false: the broker above keeps the
 * bulletins while the link is down and delivers them when it returns;
 * Mosquitto reconnects by itself (restart_timeout). TLS with the upper
 * broker's CA, its name checked; the password stays in a 0600 file.
 */
static int write_bridge(const char *dir, const char *site, const struct bridge_opts *b)
{
	char conf[8192], pw[128], name[96], bdir[4096], host[256];
	const char *colon;
	long port;
	size_t i, off;
	int rc;

	if (!name_valid(b->name) || !b->remote || !b->ca || !b->account || !b->password_file ||
	    !b->nupper || !name_valid(b->account)) {
		fprintf(stderr, "loaxa: --bridge NAME needs --remote HOST:PORT, --ca FILE (the upper "
			"broker's CA), --account USER and --password-file FILE (the account the "
			"upper level made with --downstream), and at least one --upper CODE\n");
		return -EINVAL;
	}
	colon = strrchr(b->remote, ':');
	port = colon ? strtol(colon + 1, NULL, 10) : 0;
	if (!colon || colon == b->remote || (size_t)(colon - b->remote) >= sizeof(host) ||
	    port < 1 || port > 65535) {
		fprintf(stderr, "loaxa: --remote \"%s\": give HOST:PORT of the broker above "
			"(e.g. huyen.example.vn:8883)\n", b->remote);
		return -EINVAL;
	}
	memcpy(host, b->remote, (size_t)(colon - b->remote));
	host[colon - b->remote] = '\0';
	if (strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
	    strlen(host) || access(b->ca, R_OK) != 0) {
		fprintf(stderr, "loaxa: --remote host \"%s\" or --ca %s is not usable (a host "
			"name or address; a readable CA file)\n", host, b->ca);
		return -EINVAL;
	}
	if (read_secret_line(b->password_file, pw, sizeof(pw)) < 0 || !pw[0]) {
		fprintf(stderr, "loaxa: cannot read the bridge password from %s\n",
			b->password_file);
		return -EIO;
	}
	off = (size_t)snprintf(conf, sizeof(conf),
		"# Bridge %s of site %s to the level above - written by `loaxa broker-config "
		"--bridge`.\n"
		"connection %s\n"
		"address %s:%ld\n"
		"bridge_protocol_version mqttv311\n"
		"bridge_cafile %s\n"
		"bridge_insecure false\n"
		"remote_username %s\n"
		"remote_password %s\n"
		"remote_clientid %s-bridge-%s\n"
		"cleansession false\n"
		"try_private false\n"
		"notifications false\n"
		"keepalive_interval 30\n"
		"restart_timeout 1 10\n"
		"start_type automatic\n",
		b->name, site, b->name, host, port, b->ca, b->account, pw, site, b->name);
	memset(pw, 0, sizeof(pw));
	for (i = 0; i < b->nupper; i++)
		off += (size_t)snprintf(conf + off, sizeof(conf) - off,
					"topic loaxa/area/%s/cmd in 1\n", b->upper[i]);
	snprintf(conf + off, sizeof(conf) - off,
		 "topic loaxa/%s/node/+/status out 1\n"
		 "topic loaxa/%s/summary out 1\n", site, site);
	snprintf(bdir, sizeof(bdir), "%s/bridges", dir);
	if (mkdir_p(bdir, 0750) < 0) {
		fprintf(stderr, "loaxa: cannot create %s\n", bdir);
		return -EIO;
	}
	snprintf(name, sizeof(name), "%s.conf", b->name);
	/* 0640: Mosquitto runs as its own user and reads it through the
	 * directory's group (first-install: root:mosquitto, setgid) */
	rc = write_in(bdir, name, conf, 0640);
	memset(conf, 0, sizeof(conf));
	if (rc == 0)
		fprintf(stderr, "bridge %s to %s written to %s/%s (restart mosquitto to use it)\n",
			b->name, b->remote, bdir, name);
	return rc;
}

int cmd_broker_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "site", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "listen", required_argument, NULL, 'l' },
		{ "host", required_argument, NULL, 'H' },
		{ "max-packet", required_argument, NULL, 'm' },
		{ "user", required_argument, NULL, 'u' },
		{ "area", required_argument, NULL, 'A' },
		{ "downstream", required_argument, NULL, 'D' },
		{ "bridge", required_argument, NULL, 'B' },
		{ "remote", required_argument, NULL, 'R' },
		{ "ca", required_argument, NULL, 'C' },
		{ "account", required_argument, NULL, 'U' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "upper", required_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir_arg = NULL, *site = NULL, *listen_addr = "0.0.0.0", *user = NULL;
	const char *area = NULL;
	char dir[2048], hosts[8][256], conf[32768], datadir[4096], downs[16][32];
	struct bridge_opts br = { 0 };
	long port = 8883, max_packet = DEFAULT_MAX_PACKET;
	size_t nhosts = 0, ndowns = 0, i;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': dir_arg = optarg; break;
		case 's': site = optarg; break;
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 'l': listen_addr = optarg; break;
		case 'H':
			if (nhosts >= 8 || strlen(optarg) >= 200 ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789.-:") != strlen(optarg))
				goto usage;
			snprintf(hosts[nhosts++], sizeof(hosts[0]), "%s", optarg);
			break;
		case 'm': max_packet = strtol(optarg, NULL, 10); break;
		case 'u': user = optarg; break;
		case 'A': area = optarg; break;
		case 'D':
			if (ndowns >= 16 || !name_valid(optarg) || strlen(optarg) > 16) {
				fprintf(stderr, "loaxa: --downstream \"%s\": give the site id of a "
					"commune or district below (1-16 of a-z 0-9 _ -), at most 16\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			snprintf(downs[ndowns++], sizeof(downs[0]), "%s", optarg);
			break;
		case 'B': br.name = optarg; break;
		case 'R': br.remote = optarg; break;
		case 'C': br.ca = optarg; break;
		case 'U': br.account = optarg; break;
		case 'P': br.password_file = optarg; break;
		case 'X':
			if (br.nupper >= 4 || (!area_code_valid(AREA_DISTRICT, optarg) &&
					       !area_code_valid(AREA_PROVINCE, optarg))) {
				fprintf(stderr, "loaxa: --upper \"%s\": give the code of the district "
					"(3 digits) or province (2 digits) whose bulletins come down "
					"this bridge, at most 4\n", optarg);
				return CLI_EXIT_USAGE;
			}
			br.upper[br.nupper++] = optarg;
			break;
		default: goto usage;
		}
	}
	if (optind != argc || !dir_arg || !site || port < 1 || port > 65535 ||
	    max_packet < 4096 || max_packet > 64L * 1024 * 1024)
		goto usage;
	if (area && !area_code_valid(AREA_DISTRICT, area) &&
	    !area_code_valid(AREA_PROVINCE, area)) {
		fprintf(stderr, "loaxa: --area \"%s\": give this district's (3 digits) or "
			"province's (2 digits) code; a commune's broker needs none\n", area);
		return CLI_EXIT_USAGE;
	}
	if (!name_valid(site) || strlen(site) > 16) {
		fprintf(stderr, "loaxa: --site \"%s\" is not a site id (1-16 of a-z 0-9 _ -)\n",
			site);
		return CLI_EXIT_USAGE;
	}
	if (strspn(listen_addr, "0123456789.:abcdef") != strlen(listen_addr) ||
	    (user && !name_valid(user)))
		goto usage;
	if (out_dir(dir_arg, dir, sizeof(dir)) < 0)
		return CLI_EXIT_ERROR;
	snprintf(datadir, sizeof(datadir), "%s/data", dir);
	if (mkdir_p(datadir, 0750) < 0) {
		fprintf(stderr, "loaxa: cannot create %s\n", datadir);
		return CLI_EXIT_ERROR;
	}
	if (!exists(dir, "ca.crt") || !exists(dir, "ca.key")) {
		char cn[64];

		snprintf(cn, sizeof(cn), "loaxa %s broker CA", site);
		if (make_ca(dir, cn) < 0)
			return CLI_EXIT_ERROR;
		fprintf(stderr, "made the broker CA %s/ca.crt\n", dir);
	}
	if (!exists(dir, "server.crt") || !exists(dir, "server.key")) {
		if (make_server_cert(dir, "server", hosts, nhosts) < 0)
			return CLI_EXIT_ERROR;
		fprintf(stderr, "made the broker certificate %s/server.crt\n", dir);
	}
	for (i = 0; i < ndowns; i++) {
		char name[64], line[80];

		if (snprintf(name, sizeof(name), "downstream-%s.password", downs[i]) >=
		    (int)sizeof(name)) {
			fprintf(stderr, "loaxa: --downstream %s: the name is too long\n", downs[i]);
			return CLI_EXIT_ERROR;
		}
		if (exists(dir, name))
			continue;
		mosq_password_random(line, 64);
		snprintf(line + strlen(line), sizeof(line) - strlen(line), "\n");
		if (write_in(dir, name, line, 0600) < 0)
			return CLI_EXIT_ERROR;
		memset(line, 0, sizeof(line));
		fprintf(stderr, "made the bridge account %s for the site below; give %s/%s to "
			"its operator (loaxa broker-config --bridge ... --account %s "
			"--password-file FILE)\n", downs[i], dir, name, downs[i]);
	}
	if (controller_account(dir, site, area) < 0)
		return CLI_EXIT_ERROR;
	if (br.name && write_bridge(dir, site, &br) < 0)
		return CLI_EXIT_ERROR;
	{
		char bdir[4096];

		snprintf(bdir, sizeof(bdir), "%s/bridges", dir);
		if (mkdir_p(bdir, 0750) < 0) {
			fprintf(stderr, "loaxa: cannot create %s\n", bdir);
			return CLI_EXIT_ERROR;
		}
	}
	snprintf(conf, sizeof(conf),
		 "# Mosquitto for loaxa site %s - written by `loaxa broker-config`.\n"
		 "# Secure by default: TLS only, no anonymous clients, one account per\n"
		 "# node (password_file) confined to its own topics (acl_file).\n"
		 "per_listener_settings false\n"
		 "allow_anonymous false\n"
		 "password_file %s/passwd\n"
		 "acl_file %s/acl\n"
		 "%s%s%s"
		 "listener %ld %s\n"
		 "protocol mqtt\n"
		 "cafile %s/ca.crt\n"
		 "certfile %s/server.crt\n"
		 "keyfile %s/server.key\n"
		 "tls_version tlsv1.2\n"
		 "require_certificate false\n"
		 "# Nothing larger than a node's envelope limit gets through (DoS).\n"
		 "max_packet_size %ld\n"
		 "max_inflight_messages 32\n"
		 "max_queued_messages 1000\n"
		 "max_keepalive 120\n"
		 "# Retained plans, keys and queued QoS 1 messages survive a restart.\n"
		 "persistence true\n"
		 "persistence_location %s/\n"
		 "autosave_interval 30\n"
		 "log_dest stderr\n"
		 "log_type error\n"
		 "log_type warning\n"
		 "log_type notice\n"
		 "log_type information\n"
		 "connection_messages true\n"
		 "# Bridges to the level above (loaxa broker-config --bridge), one file each.\n"
		 "include_dir %s/bridges\n",
		 site, dir, dir, user ? "user " : "", user ? user : "", user ? "\n" : "",
		 port, listen_addr, dir, dir, dir, max_packet, datadir, dir);
	if (write_in(dir, "mosquitto.conf", conf, 0640) < 0)
		return CLI_EXIT_ERROR;
	printf("# broker configuration written to %s/mosquitto.conf\n"
	       "# run: mosquitto -c %s/mosquitto.conf\n"
	       "# controller.cfg:\n"
	       "mqtt = { host = \"%s\"; port = %ld; username = \"controller\";\n"
	       "         password_file = \"%s/controller.password\"; cafile = \"%s/ca.crt\"; };\n"
	       "broker = { dir = \"%s\"; node_host = \"%s\"; node_port = %ld; };\n",
	       dir, dir, nhosts ? hosts[0] : "127.0.0.1", port, dir, dir, dir,
	       nhosts ? hosts[0] : "127.0.0.1", port);
	return CLI_EXIT_OK;
usage:
	fprintf(stderr, "usage: loaxa broker-config --dir D --site S [--port 8883] "
		"[--listen ADDR] [--host NAME]... [--max-packet BYTES] [--user U]\n"
		"         [--area CODE] [--downstream SITE]...\n"
		"         [--bridge NAME --remote HOST:PORT --ca FILE --account USER\n"
		"          --password-file FILE --upper CODE...]\n"
		"  --area: this broker's controller is district or province CODE (it sends\n"
		"    bulletins on loaxa/area/CODE/cmd and reads the summaries of the sites below)\n"
		"  --downstream: make the bridge account of a site below\n"
		"  --bridge: bridge to the level above (Mosquitto's own bridge): the bulletins\n"
		"    of every --upper area come down, this site's status and summary go up\n");
	return CLI_EXIT_USAGE;
}

static int write_bundle(const char *out, json_t *b)
{
	char line[256];
	int rc = mkdir_p(out, 0700);

	if (rc < 0) {
		fprintf(stderr, "loaxa: cannot create %s: %s\n", out, strerror(-rc));
		return rc;
	}
	snprintf(line, sizeof(line), "%s\n", jstr(b, "password"));
	rc = write_in(out, "mqtt.password", line, 0600);
	memset(line, 0, sizeof(line));
	if (rc == 0)
		rc = write_in(out, "ca.crt", jstr(b, "ca"), 0644);
	if (rc == 0)
		rc = write_in(out, "node.cfg", jstr(b, "node_cfg"), 0640);
	return rc;
}

static int node_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' },
		{ "out", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	json_t *zones = json_array(), *body;
	const char *out = NULL;
	char defout[300];
	struct cli_resp resp;
	int ch, rc, json = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'z': json_array_append_new(zones, json_string(optarg)); break;
		case 'o': out = optarg; break;
		case 'j': json = 1; break;
		default: goto usage;
		}
	}
	if (optind + 1 != argc || json_array_size(zones) == 0)
		goto usage;
	if (!out) {
		snprintf(defout, sizeof(defout), "loaxa-node-%.40s", argv[optind]);
		out = defout;
	}
	body = json_pack("{s:s, s:o}", "node", argv[optind], "zones", zones);
	rc = cli_post_json("/v1/provision/nodes", body, &resp);
	json_decref(body);
	if (rc < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 201)
		return cli_fail(&resp, NULL);
	rc = write_bundle(out, resp.json);
	if (rc == 0) {
		if (json)
			printf("{\"node\":\"%s\",\"bundle\":\"%s\"}\n", argv[optind], out);
		else
			printf("node %s provisioned; bundle in %s (node.cfg, ca.crt, "
			       "mqtt.password)\n", argv[optind], out);
		fprintf(stderr, "loaxa: %s\n", jstr(resp.json, "reload"));
	}
	cli_resp_free(&resp);
	return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
usage:
	json_decref(zones);
	fprintf(stderr, "usage: loaxa node add NAME --zone Z [--zone Z2 ...] [--out DIR]\n");
	return CLI_EXIT_USAGE;
}

int cmd_node(int argc, char **argv)
{
	struct cli_resp resp;
	char path[160];
	json_t *body, *list, *e;
	size_t i;

	if (argc >= 2 && cli_node_maint_verb(argv[1]))
		return cmd_node_maint(argc, argv); /* health.c */
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return node_add(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "update") == 0)
		return cmd_node_update(argc - 1, argv + 1);
	if (argc == 3 && strcmp(argv[1], "revoke") == 0 && name_valid(argv[2])) {
		snprintf(path, sizeof(path), "/v1/provision/nodes/%s/revoke", argv[2]);
		body = json_object();
		if (cli_post_json(path, body, &resp) < 0) {
			json_decref(body);
			return CLI_EXIT_ERROR;
		}
		json_decref(body);
		if (resp.status != 200)
			return cli_fail(&resp, NULL);
		printf("node %s revoked\n", argv[2]);
		fprintf(stderr, "loaxa: %s\n", jstr(resp.json, "reload"));
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	if (argc >= 2 && strcmp(argv[1], "list") == 0) {
		if (cli_get("/v1/provision/nodes", &resp) < 0)
			return CLI_EXIT_ERROR;
		if (resp.status != 200)
			return cli_fail(&resp, NULL);
		list = json_object_get(resp.json, "nodes");
		if (argc == 3 && strcmp(argv[2], "--json") == 0) {
			cli_print_json(list);
		} else {
			printf("%-20s %-10s %s\n", "NODE", "STATE", "ZONES");
			json_array_foreach(list, i, e) {
				char *z = json_dumps(json_object_get(e, "zones"), JSON_COMPACT);

				printf("%-20s %-10s %s\n", jstr(e, "node"),
				       json_is_null(json_object_get(e, "revoked")) ? "active" : "revoked",
				       z ? z : "");
				free(z);
			}
		}
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	fprintf(stderr, "usage: loaxa node add NAME --zone Z [--out DIR] | node revoke NAME | "
		"node list [--json]\n       loaxa node show|volume|stop|restart|test-tone N ... "
		"(loaxa node show --help)\n");
	return CLI_EXIT_USAGE;
}

/*
 * loaxa key recover: the break-glass trust document, signed by the offline
 * recovery key (docs/security.md). Runs anywhere, without the controller:
 * the operator publishes the file retained on <root>/zone/all/key.
 */
static int key_recover(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "recovery-key", required_argument, NULL, 'r' },
		{ "site", required_argument, NULL, 's' },
		{ "trust", required_argument, NULL, 't' },
		{ "revoke", required_argument, NULL, 'x' },
		{ "revoke-node", required_argument, NULL, 'n' },
		{ "days", required_argument, NULL, 'd' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *rkey = NULL, *site = NULL, *out = NULL;
	json_t *keys = json_array(), *revoked = json_array(), *nodes = json_array(), *doc = NULL;
	long days = 365;
	struct signer s;
	uint8_t pk[32], *env = NULL;
	size_t envlen = 0;
	char hex[80], *text = NULL;
	int64_t now = now_ms(), not_after;
	int ch, rc = CLI_EXIT_ERROR;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': rkey = optarg; break;
		case 's': site = optarg; break;
		case 'd': days = strtol(optarg, NULL, 10); break;
		case 'o': out = optarg; break;
		case 'n':
			if (!name_valid(optarg))
				goto usage;
			json_array_append_new(nodes, json_string(optarg));
			break;
		case 't':
		case 'x':
			if (read_secret_line(optarg, hex, sizeof(hex)) < 0 ||
			    public_key_parse(pk, hex) < 0) {
				fprintf(stderr, "loaxa: %s is not a public key file (64 hex digits)\n",
					optarg);
				goto out;
			}
			json_array_append_new(ch == 't' ? keys : revoked, json_string(hex));
			break;
		default: goto usage;
		}
	}
	if (optind != argc || !rkey || !site || !out || json_array_size(keys) == 0 ||
	    json_array_size(keys) > 3 || days < 1 || days > 3650)
		goto usage;
	if (signer_load(&s, rkey, site) < 0) {
		fprintf(stderr, "loaxa: cannot use the recovery key %s for site %s\n", rkey, site);
		goto out;
	}
	not_after = now + days * 86400000LL;
	{
		json_t *list = json_array(), *k;
		size_t i;

		json_array_foreach(keys, i, k)
			json_array_append_new(list, json_pack("{s:O, s:I}", "key", k, "not_after",
							      (json_int_t)not_after));
		doc = json_pack("{s:o, s:O, s:O}", "keys", list, "revoked_keys", revoked,
				"revoked_nodes", nodes);
	}
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	if (!text || envelope_seal(&s, ENV_KEY, 0, (uint64_t)now_us(),
				   now, not_after, text, strlen(text), &env, &envlen) < 0 ||
	    write_file_atomic(out, env, envlen, 0644) < 0) {
		fprintf(stderr, "loaxa: cannot make %s\n", out);
		sodium_memzero(&s, sizeof(s));
		goto out;
	}
	sodium_memzero(&s, sizeof(s));
	printf("recovery trust document written to %s (%zu bytes); publish it retained:\n"
	       "  mosquitto_pub -h BROKER -p 8883 --cafile ca.crt -u controller -P ... -r -q 1 "
	       "-t loaxa/%s/zone/all/key -f %s\n"
	       "then install the new key as the controller's key and restart it.\n", out,
	       envlen, site, out);
	rc = CLI_EXIT_OK;
	goto out;
usage:
	fprintf(stderr, "usage: loaxa key recover --recovery-key FILE --site S --trust PUB "
		"[--trust PUB2] [--revoke PUB]... [--revoke-node N]... [--days N] -o OUT\n");
	rc = CLI_EXIT_USAGE;
out:
	json_decref(keys);
	json_decref(revoked);
	json_decref(nodes);
	json_decref(doc);
	free(text);
	free(env);
	return rc;
}

int cmd_key(int argc, char **argv)
{
	struct cli_resp resp;
	json_t *body, *list, *e, *st;
	size_t i;

	if (argc >= 2 && strcmp(argv[1], "recover") == 0)
		return key_recover(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "rotate") == 0) {
		body = json_object();
		if (argc == 4 && strcmp(argv[2], "--lifetime-s") == 0) {
			json_object_set_new(body, "lifetime_s", json_integer(atoll(argv[3])));
		} else if (argc != 2) {
			json_decref(body);
			goto usage;
		}
		if (cli_post_json("/v1/keys/rotate", body, &resp) < 0) {
			json_decref(body);
			return CLI_EXIT_ERROR;
		}
		json_decref(body);
		if (resp.status != 200)
			return cli_fail(&resp, NULL);
		printf("new controller key %s announced; in use in %lld ms; nodes trust the old "
		       "one %lld s more\n", jstr(resp.json, "new_key"),
		       (long long)jint(resp.json, "switch_in_ms", 0),
		       (long long)jint(resp.json, "old_trusted_for_s", 0));
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	if (argc >= 2 && strcmp(argv[1], "list") == 0) {
		if (cli_get("/v1/keys", &resp) < 0)
			return CLI_EXIT_ERROR;
		if (resp.status != 200)
			return cli_fail(&resp, NULL);
		if (argc == 3 && strcmp(argv[2], "--json") == 0) {
			cli_print_json(resp.json);
		} else {
			list = json_object_get(resp.json, "keys");
			printf("%-18s %-8s %s\n", "KEY", "STATE", "EXPIRES (days from now)");
			json_array_foreach(list, i, e)
				printf("%-18s %-8s %lld\n", jstr(e, "id"),
				       jbool(e, "current") ? "current"
				       : !json_is_null(json_object_get(e, "revoked")) ? "revoked"
				       : !json_is_null(json_object_get(e, "retired")) ? "retired"
				       : "next",
				       (long long)((jint(e, "not_after", 0) - now_ms()) /
						   86400000));
			st = json_object_get(resp.json, "status");
			if (jbool(st, "alarm"))
				printf("ALARM: the current key expires in %lld days: loaxa key rotate\n",
				       (long long)jint(st, "days_left", 0));
		}
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
usage:
	fprintf(stderr, "usage: loaxa key rotate [--lifetime-s N] | key list [--json] | key "
		"recover ... (see loaxa help)\n");
	return CLI_EXIT_USAGE;
}
