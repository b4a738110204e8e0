/*
 * backup.c - see backup.h. The archive is plain POSIX ustar so that an
 * administrator can look into it with tar(1); we write and read it here
 * rather than run tar, because a restore reads outside input and must
 * decide itself which names it accepts and where they go.
 */
#include "backup.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sqlite3.h>

#define BLK 512
#define NAME_MAX_TAR 100
/* More files than a station has: a bound for a hostile archive. */
#define MAX_ENTRIES 100000

/* ------------------------------------------------------------ writing */

struct tar_out {
	int fd;
	const char *path;
	uint64_t total, done;   /* bytes of file data, for progress */
	int last_decile, progress;
	unsigned files;
};

/* v in len - 1 octal digits and a NUL (the high digits go if it is wider) */
static void octal(char *field, size_t len, uint64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%0*llo", (int)len - 1, (unsigned long long)v);

	memcpy(field, tmp + (size_t)n - (len - 1), len - 1);
	field[len - 1] = 0;
}

/* One ustar header for a regular file. */
static int tar_header(struct tar_out *t, const char *name, const struct stat *st)
{
	char h[BLK];
	struct passwd *pw = getpwuid(st->st_uid);
	struct group *gr = getgrgid(st->st_gid);
	unsigned sum = 0;
	size_t i;

	if (strlen(name) >= NAME_MAX_TAR)
		return -ENAMETOOLONG;
	memset(h, 0, sizeof(h));
	memcpy(h, name, strlen(name));
	octal(h + 100, 8, st->st_mode & 07777);
	octal(h + 108, 8, st->st_uid);
	octal(h + 116, 8, st->st_gid);
	octal(h + 124, 12, (uint64_t)st->st_size);
	octal(h + 136, 12, (uint64_t)st->st_mtime);
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	if (pw)
		snprintf(h + 265, 32, "%s", pw->pw_name);
	if (gr)
		snprintf(h + 297, 32, "%s", gr->gr_name);
	for (i = 0; i < sizeof(h); i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	h[155] = ' ';
	return write_all(t->fd, h, sizeof(h));
}

static void progress(struct tar_out *t, const char *name)
{
	int decile;

	if (!t->progress || t->total == 0)
		return;
	decile = (int)(t->done * 10 / t->total);
	if (decile > t->last_decile) {
		t->last_decile = decile;
		fprintf(stderr, "loaxa backup: %d %% (%u files, %.1f of %.1f MB; %s)\n",
			decile * 10, t->files, (double)t->done / 1e6, (double)t->total / 1e6,
			name);
	}
}

/* Add the file at path as name. */
static int tar_add(struct tar_out *t, const char *path, const char *name)
{
	uint8_t buf[65536];
	struct stat st;
	uint64_t left;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = -errno;
		log_errorx("backup: cannot read %s: %s", path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		log_errorx("backup: %s is not a regular file", path);
		goto out;
	}
	rc = tar_header(t, name, &st);
	if (rc < 0)
		goto werr;
	for (left = (uint64_t)st.st_size; left > 0;) {
		ssize_t n = read(fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			log_errorx("backup: %s changed or cannot be read while copying it", path);
			goto out;
		}
		rc = write_all(t->fd, buf, (size_t)n);
		if (rc < 0)
			goto werr;
		left -= (uint64_t)n;
		t->done += (uint64_t)n;
	}
	if (st.st_size % BLK) {
		memset(buf, 0, BLK);
		rc = write_all(t->fd, buf, BLK - (size_t)(st.st_size % BLK));
		if (rc < 0)
			goto werr;
	}
	t->files++;
	progress(t, name);
	rc = 0;
	goto out;
werr:
	log_errorx("backup: cannot write %s: %s", t->path, strerror(-rc));
out:
	close(fd);
	return rc;
}

/* Add len bytes of data as name (a file made here, mode 0600). */
static int tar_add_mem(struct tar_out *t, const char *name, const void *data, size_t len,
		       time_t mtime)
{
	static const uint8_t zero[BLK];
	struct stat st;
	int rc;

	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0600;
	st.st_uid = geteuid();
	st.st_gid = getegid();
	st.st_size = (off_t)len;
	st.st_mtime = mtime;
	rc = tar_header(t, name, &st);
	if (rc == 0)
		rc = write_all(t->fd, data, len);
	if (rc == 0 && len % BLK)
		rc = write_all(t->fd, zero, BLK - len % BLK);
	if (rc < 0) {
		log_errorx("backup: cannot write %s: %s", t->path, strerror(-rc));
		return rc;
	}
	t->done += len;
	t->files++;
	progress(t, name);
	return 0;
}

/*
 * The schedule files as applied (the database's sched_files: the controller
 * keeps no other copy, it reads no operator's file), as readable files
 * schedules/NN-<name>: to look at with tar(1), or to apply again elsewhere.
 * The database in the archive holds them too; a restore takes them from it.
 * Read from the snapshot, so they are the ones of its database. With count
 * set, only counts their bytes.
 */
static int add_schedules(struct tar_out *t, const char *snapshot, int count)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = 0, step;

	if (sqlite3_open_v2(snapshot, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT pos, name, text, applied FROM sched_files ORDER BY "
			       "pos", -1, &st, NULL) != SQLITE_OK)
		goto out; /* a database from before schema 6: no files to add */
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *label = (const char *)sqlite3_column_text(st, 1);
		const void *text = sqlite3_column_blob(st, 2);
		size_t len = (size_t)sqlite3_column_bytes(st, 2), i, n;
		const char *base = label ? strrchr(label, '/') : NULL;
		char name[NAME_MAX_TAR];

		base = base ? base + 1 : label ? label : "schedule";
		n = (size_t)snprintf(name, sizeof(name), "schedules/%02d-%.60s",
				     sqlite3_column_int(st, 0), base);
		/* a plain name: what a restore accepts (no dot first, no odd bytes) */
		for (i = strlen("schedules/"); i < n && i < sizeof(name); i++)
			if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
			      (name[i] >= '0' && name[i] <= '9') || name[i] == '.' ||
			      name[i] == '_' || name[i] == '-'))
				name[i] = '_';
		if (count)
			t->total += len;
		else
			rc = tar_add_mem(t, name, text ? text : "", len,
					 (time_t)(sqlite3_column_int64(st, 3) / 1000));
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* The key's directory and the prefix its files share ("controller."). */
static int key_parts(const char *key_path, char *dir, size_t dlen, char *stem, size_t slen)
{
	const char *slash = strrchr(key_path, '/'), *base = slash ? slash + 1 : key_path;
	const char *dot = strchr(base, '.');

	if (slash) {
		if ((size_t)(slash - key_path) + 1 > dlen)
			return -ENAMETOOLONG;
		snprintf(dir, dlen, "%.*s", (int)(slash - key_path), key_path);
		if (!dir[0])
			snprintf(dir, dlen, "/");
	} else {
		snprintf(dir, dlen, ".");
	}
	snprintf(stem, slen, "%.*s", dot ? (int)(dot - base + 1) : (int)strlen(base), base);
	return 0;
}

/*
 * Every regular file of dir accepted by want(stem, name), added as
 * prefix/name, sorted for a stable archive. With count set, only counts
 * their bytes into t->total.
 */
static int add_dir(struct tar_out *t, const char *dir, const char *prefix,
		   int (*want)(const char *stem, const char *name), const char *stem, int count)
{
	struct dirent **list = NULL;
	char path[PATH_MAX], name[NAME_MAX_TAR + 8];
	struct stat st;
	int n, i, rc = 0;

	n = scandir(dir, &list, NULL, alphasort);
	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		log_errorx("backup: cannot list %s: %s", dir, strerror(errno));
		return rc;
	}
	for (i = 0; i < n; i++) {
		const char *e = list[i]->d_name;

		if (rc < 0 || e[0] == '.' || !want(stem, e))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e) >= sizeof(path) ||
		    (size_t)snprintf(name, sizeof(name), "%s/%s", prefix, e) >= NAME_MAX_TAR)
			continue;
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (count)
			t->total += (uint64_t)st.st_size;
		else
			rc = tar_add(t, path, name);
	}
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	return rc;
}

static int want_key(const char *stem, const char *name)
{
	return strncmp(name, stem, strlen(stem)) == 0 && !strstr(name, ".tmp");
}

static int broker_file(const char *base);

/* the broker files a restore accepts (below): the backup holds just those */
static int want_broker(const char *stem, const char *name)
{
	(void)stem;
	return broker_file(name);
}

static int want_content(const char *stem, const char *name)
{
	size_t n = strlen(name);
	char id[80];

	(void)stem;
	if (n != CONTENT_ID_LEN + 5 || strcmp(name + CONTENT_ID_LEN, ".opus") != 0)
		return 0;
	snprintf(id, sizeof(id), "%.*s", CONTENT_ID_LEN, name);
	return content_id_valid(id);
}

/* SQLite's online backup of db into the new file tmp. */
static int db_snapshot(const char *db, const char *tmp)
{
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b;
	int rc = -EIO;

	if (sqlite3_open_v2(db, &src, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		log_errorx("backup: cannot open the database %s: %s", db,
			   src ? sqlite3_errmsg(src) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(src, 10000);
	if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		log_errorx("backup: cannot create %s: %s", tmp,
			   dst ? sqlite3_errmsg(dst) : "out of memory");
		goto out;
	}
	b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b) {
		log_errorx("backup: cannot copy the database: %s", sqlite3_errmsg(dst));
		goto out;
	}
	/* a busy source (the daemon writing) is retried by busy_timeout */
	while ((rc = sqlite3_backup_step(b, 256)) == SQLITE_OK || rc == SQLITE_BUSY ||
	       rc == SQLITE_LOCKED)
		;
	rc = sqlite3_backup_finish(b) == SQLITE_OK && rc == SQLITE_DONE ? 0 : -EIO;
	if (rc < 0)
		log_errorx("backup: copying the database failed: %s", sqlite3_errmsg(dst));
out:
	sqlite3_close(src);
	sqlite3_close(dst);
	return rc;
}

int backup_write(const struct ctl_config *cfg, const char *out, const struct backup_opts *o)
{
	char tmp[PATH_MAX], dbtmp[PATH_MAX], db[PATH_MAX], content[PATH_MAX];
	char keydir[PATH_MAX], stem[NAME_MAX + 1];
	struct tar_out t = { .fd = -1, .path = out, .progress = o->progress, .last_decile = 0 };
	uint8_t zero[2 * BLK] = { 0 };
	struct stat st;
	int rc, dbfd = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", out) >= sizeof(tmp) ||
	    (size_t)snprintf(dbtmp, sizeof(dbtmp), "%s.db.tmp.XXXXXX", out) >= sizeof(dbtmp) ||
	    (size_t)snprintf(db, sizeof(db), "%s/loaxa.db", cfg->state_dir) >= sizeof(db) ||
	    (size_t)snprintf(content, sizeof(content), "%s/content", cfg->state_dir) >=
		    sizeof(content) ||
	    key_parts(cfg->key_path, keydir, sizeof(keydir), stem, sizeof(stem)) < 0) {
		log_errorx("backup: %s: path too long", out);
		return -ENAMETOOLONG;
	}
	if (stat(db, &st) < 0) {
		rc = -errno;
		log_errorx("backup: no database at %s (%s): nothing to back up", db,
			   strerror(errno));
		return rc;
	}
	t.fd = mkostemp(tmp, O_CLOEXEC);
	if (t.fd < 0) {
		rc = -errno;
		log_errorx("backup: cannot create %s: %s", out, strerror(errno));
		return rc;
	}
	dbfd = mkostemp(dbtmp, O_CLOEXEC);
	if (dbfd < 0 || fchmod(t.fd, 0600) < 0 || fchmod(dbfd, 0600) < 0) {
		rc = -errno;
		log_errorx("backup: cannot create %s: %s", out, strerror(errno));
		goto out;
	}
	close(dbfd);
	dbfd = -1;
	rc = db_snapshot(db, dbtmp);
	if (rc < 0)
		goto out;
	/* count first, for progress */
	if (stat(dbtmp, &st) == 0)
		t.total += (uint64_t)st.st_size;
	add_dir(&t, keydir, "keys", want_key, stem, 1);
	if (cfg->broker.dir[0])
		add_dir(&t, cfg->broker.dir, "broker", want_broker, "", 1);
	if (o->with_content)
		add_dir(&t, content, "content", want_content, "", 1);
	add_schedules(&t, dbtmp, 1);

	if ((rc = tar_add(&t, cfg->path, "controller.cfg")) < 0 ||
	    (rc = tar_add(&t, dbtmp, "loaxa.db")) < 0 ||
	    (rc = add_schedules(&t, dbtmp, 0)) < 0 ||
	    (rc = add_dir(&t, keydir, "keys", want_key, stem, 0)) < 0 ||
	    (cfg->broker.dir[0] && (rc = add_dir(&t, cfg->broker.dir, "broker", want_broker, "", 0)) < 0) ||
	    (o->with_content && (rc = add_dir(&t, content, "content", want_content, "", 0)) < 0))
		goto out;
	rc = write_all(t.fd, zero, sizeof(zero));
	if (rc < 0 || fsync(t.fd) < 0) {
		rc = rc < 0 ? rc : -errno;
		log_errorx("backup: cannot write %s: %s", out, strerror(-rc));
		goto out;
	}
	if (rename(tmp, out) < 0) {
		rc = -errno;
		log_errorx("backup: cannot write %s: %s", out, strerror(errno));
		goto out;
	}
	tmp[0] = 0;
	fsync_dir_of(out);
	log_info("backup: %s: %u files, %.1f MB (database, configuration, schedule files, "
		 "keys%s%s)", out,
		 t.files, (double)t.done / 1e6, cfg->broker.dir[0] ? ", broker accounts" : "",
		 o->with_content ? ", content" : "");
	rc = 0;
out:
	if (dbfd >= 0)
		close(dbfd);
	unlink(dbtmp);
	/* reading the snapshot (add_schedules) made its WAL companions */
	for (int i = 0; i < 2; i++) {
		char side[PATH_MAX + 8];

		snprintf(side, sizeof(side), "%s%s", dbtmp, i ? "-shm" : "-wal");
		unlink(side);
	}
	if (t.fd >= 0)
		close(t.fd);
	if (tmp[0])
		unlink(tmp);
	return rc;
}

/* ------------------------------------------------------------ restoring */

struct staged {
	char tmp[PATH_MAX], dest[PATH_MAX];
};

struct restore {
	struct staged *files;
	size_t n, cap;
	struct ctl_config cfg;  /* the archived configuration */
	char keydir[PATH_MAX], stem[NAME_MAX + 1];
	const char *in;
	int have_cfg, have_db;
};

static int parse_octal(const char *f, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && f[i] == ' ')
		i++;
	if (i == len || f[i] < '0' || f[i] > '7')
		return -EINVAL;
	for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v > (UINT64_MAX >> 3))
			return -EOVERFLOW;
		v = v << 3 | (uint64_t)(f[i] - '0');
	}
	if (i < len && f[i] != 0 && f[i] != ' ')
		return -EINVAL;
	*out = v;
	return 0;
}

/* A plain file name: no slash, no leading dot, printable, not too long. */
static int plain_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 80 || s[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/*
 * The broker files a restore puts back: the CA, the certificate and the
 * accounts. Not mosquitto.conf: that is this machine's (its listener, made
 * at install), and Mosquitto would load whatever plugin an archive named
 * in it.
 */
static int broker_file(const char *base)
{
	static const char *const names[] = {
		"ca.crt", "ca.key", "ca.srl", "server.crt", "server.key", "passwd", "acl",
		"passwd.base", "acl.base", "controller.password",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(base, names[i]) == 0)
			return 1;
	return 0;
}

/*
 * Where an archive member goes, 1 for one that is read past (the schedule
 * files: the database in the archive holds them), or -EPERM for a name
 * restore does not accept. The configuration must come first: every other
 * place comes from it.
 */
static int destination(struct restore *r, const char *name, const char *config_path,
		       char *dest, size_t dlen)
{
	const char *slash = strchr(name, '/');
	int n = -1;

	if (strcmp(name, "controller.cfg") == 0)
		n = snprintf(dest, dlen, "%s", config_path);
	else if (!r->have_cfg)
		return -EPROTO;
	else if (strcmp(name, "loaxa.db") == 0)
		n = snprintf(dest, dlen, "%s/loaxa.db", r->cfg.state_dir);
	else if (slash && !strchr(slash + 1, '/') && plain_name(slash + 1)) {
		const char *base = slash + 1;
		size_t plen = (size_t)(slash - name);

		if (plen == 4 && !strncmp(name, "keys", 4) && want_key(r->stem, base))
			n = snprintf(dest, dlen, "%s/%s", r->keydir, base);
		else if (plen == 6 && !strncmp(name, "broker", 6) && r->cfg.broker.dir[0] &&
			 broker_file(base))
			n = snprintf(dest, dlen, "%s/%s", r->cfg.broker.dir, base);
		else if (plen == 7 && !strncmp(name, "content", 7) && want_content("", base))
			n = snprintf(dest, dlen, "%s/content/%s", r->cfg.state_dir, base);
		else if (plen == 9 && !strncmp(name, "schedules", 9))
			return 1; /* copies: the database holds the files themselves */
	}
	if (n < 0)
		return -EPERM;
	return (size_t)n < dlen ? 0 : -ENAMETOOLONG;
}

/* The owner the archive names, if this machine has them (we are root). */
static void set_owner(int fd, const char *h, const char *dest)
{
	char uname[33], gname[33], dir[PATH_MAX], *slash;
	struct passwd *pw;
	struct group *gr;
	struct stat st;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return;
	snprintf(dir, sizeof(dir), "%s", dest);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	if (stat(slash ? dir : ".", &st) < 0)
		return;
	uid = st.st_uid;
	gid = st.st_gid;
	snprintf(uname, sizeof(uname), "%.32s", h + 265);
	snprintf(gname, sizeof(gname), "%.32s", h + 297);
	if (uname[0] && (pw = getpwnam(uname)))
		uid = pw->pw_uid;
	if (gname[0] && (gr = getgrnam(gname)))
		gid = gr->gr_gid;
	if (fchown(fd, uid, gid) < 0)
		log_warn("restore: cannot give %s to its owner", dest);
}

static int mkdir_p_parent(const char *path, mode_t mode)
{
	char dir[PATH_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	return mkdir_p(dir, mode);
}

/* Copy size bytes of the archive into a new temp file beside dest. */
/* Read past an entry's data (size bytes and the padding to a block). */
static int skip(struct restore *r, int in, const char *name, uint64_t size)
{
	uint8_t buf[BLK];
	uint64_t left = size + (BLK - size % BLK) % BLK;

	while (left > 0) {
		ssize_t n = read(in, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_errorx("restore: %s: the archive ends inside %s", r->in, name);
			return -EPROTO;
		}
		left -= (uint64_t)n;
	}
	return 0;
}

static int stage(struct restore *r, int in, const char *h, const char *name,
		 const char *dest, uint64_t size, mode_t mode)
{
	uint8_t buf[65536];
	struct staged *s;
	uint64_t left = size, pad = (BLK - size % BLK) % BLK;
	int fd = -1, rc;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct staged *f = realloc(r->files, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		r->files = f;
		r->cap = cap;
	}
	s = &r->files[r->n];
	snprintf(s->dest, sizeof(s->dest), "%s", dest);
	if ((size_t)snprintf(s->tmp, sizeof(s->tmp), "%s.tmp.XXXXXX", dest) >= sizeof(s->tmp))
		return -ENAMETOOLONG;
	rc = mkdir_p_parent(dest, 0750);
	if (rc < 0) {
		log_errorx("restore: cannot create the directory of %s: %s", dest, strerror(-rc));
		return rc;
	}
	fd = mkostemp(s->tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		log_errorx("restore: cannot create %s: %s", dest, strerror(errno));
		return rc;
	}
	r->n++;
	while (left > 0 || pad > 0) {
		size_t want = left > 0 ? (left < sizeof(buf) ? (size_t)left : sizeof(buf))
				       : (size_t)pad;
		ssize_t n = read(in, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = -EPROTO;
			log_errorx("restore: %s: the archive ends inside %s", r->in, name);
			goto out;
		}
		if (left > 0) {
			rc = write_all(fd, buf, (size_t)n);
			if (rc < 0) {
				log_errorx("restore: cannot write %s: %s", dest, strerror(-rc));
				goto out;
			}
			left -= (uint64_t)n;
		} else {
			pad -= (uint64_t)n;
		}
	}
	set_owner(fd, h, dest);
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		rc = -errno;
		log_errorx("restore: cannot write %s: %s", dest, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* A content file's name is its SHA-256: check it. */
static int check_content(const struct staged *s, const char *name)
{
	char hex[CONTENT_ID_LEN + 1];
	const char *base = strrchr(name, '/') + 1;

	if (sha256_file_hex(s->tmp, hex) < 0 || strncmp(hex, base, CONTENT_ID_LEN) != 0) {
		log_errorx("restore: %s does not match its SHA-256 (a damaged archive)", name);
		return -EBADMSG;
	}
	return 0;
}

/* A controller answers on the socket: refuse to pull its state away. */
static int controller_running(const char *sock)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, up;

	if (strlen(sock) >= sizeof(a.sun_path))
		return 0;
	memcpy(a.sun_path, sock, strlen(sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	up = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return up;
}

/* The archived configuration is staged: read it, check the machine. */
static int after_config(struct restore *r, const char *config_path,
			const struct backup_opts *o)
{
	char db[PATH_MAX];

	static struct ctl_config here; /* large: off the stack */
	static const struct { const char *field; size_t off; } same[] = {
		{ "state_dir", offsetof(struct ctl_config, state_dir) },
		{ "key", offsetof(struct ctl_config, key_path) },
		{ "broker.dir", offsetof(struct ctl_config, broker.dir) },
		{ "api_socket", offsetof(struct ctl_config, api_socket) },
	};
	size_t i;

	if (ctl_config_load(&r->cfg, r->files[r->n - 1].tmp) < 0) {
		log_errorx("restore: %s: the archived controller.cfg has errors (see above)", r->in);
		return -EINVAL;
	}
	/*
	 * The archive is outside input: its configuration must not decide
	 * where files are written (state_dir = "/etc" would put loaxa.db
	 * there, as root). The places come from this machine's configuration
	 * and the archive must agree with them.
	 */
	if (access(config_path, F_OK) < 0 || ctl_config_load(&here, config_path) < 0) {
		log_errorx("restore: %s: this machine's configuration is missing or has errors: "
			   "install the controller first (its package, or first-install), then "
			   "restore over it", config_path);
		return -ENOENT;
	}
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		const char *a = (const char *)&r->cfg + same[i].off;
		const char *b = (const char *)&here + same[i].off;

		if (strcmp(a, b) != 0) {
			log_errorx("restore: %s: field \"%s\" of the archived configuration is "
				   "\"%s\", this machine's is \"%s\": restore onto a controller "
				   "installed the same way", r->in, same[i].field, a, b);
			return -EINVAL;
		}
	}
	if (key_parts(r->cfg.key_path, r->keydir, sizeof(r->keydir), r->stem,
		      sizeof(r->stem)) < 0)
		return -ENAMETOOLONG;
	if (controller_running(r->cfg.api_socket)) {
		log_errorx("restore: a controller is running (it answers on %s): stop it first "
			   "(systemctl stop loaxa-controller)", r->cfg.api_socket);
		return -EBUSY;
	}
	if ((size_t)snprintf(db, sizeof(db), "%s/loaxa.db", r->cfg.state_dir) >= sizeof(db))
		return -ENAMETOOLONG;
	if (!o->force && access(db, F_OK) == 0) {
		log_errorx("restore: %s exists: restoring would replace this controller's "
			   "database (add --force to replace it)", db);
		return -EEXIST;
	}
	r->have_cfg = 1;
	return 0;
}

int backup_restore(const char *in, const char *config_path, const struct backup_opts *o)
{
	struct restore r = { .in = in };
	char h[BLK], name[NAME_MAX_TAR + 1], dest[PATH_MAX], db[PATH_MAX];
	unsigned entries = 0;
	size_t i;
	int fd, rc = 0;

	fd = open(in, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		log_errorx("restore: cannot read %s: %s", in, strerror(errno));
		return rc;
	}
	for (;;) {
		uint64_t size, mode, chk, sum = 0;
		ssize_t n = read(fd, h, sizeof(h));

		if (n != (ssize_t)sizeof(h)) {
			rc = -EPROTO;
			log_errorx("restore: %s is not a loaxa backup (it ends without the "
				   "tar end marker)", in);
			goto out;
		}
		for (i = 0; i < sizeof(h) && !h[i]; i++)
			;
		if (i == sizeof(h))
			break; /* end of archive */
		for (i = 0; i < sizeof(h); i++)
			sum += (i >= 148 && i < 156) ? ' ' : (unsigned char)h[i];
		if (memcmp(h + 257, "ustar", 5) != 0 || parse_octal(h + 148, 8, &chk) < 0 ||
		    chk != sum || parse_octal(h + 124, 12, &size) < 0 ||
		    parse_octal(h + 100, 8, &mode) < 0) {
			rc = -EPROTO;
			log_errorx("restore: %s: entry %u: not a valid tar header (a damaged or "
				   "foreign archive)", in, entries + 1);
			goto out;
		}
		memcpy(name, h, NAME_MAX_TAR);
		name[NAME_MAX_TAR] = 0;
		if ((h[156] != '0' && h[156] != 0) || h[345] != 0 || ++entries > MAX_ENTRIES) {
			rc = -EPERM;
			log_errorx("restore: %s: entry \"%.100s\": only regular files are "
				   "restored", in, name);
			goto out;
		}
		rc = destination(&r, name, config_path, dest, sizeof(dest));
		if (rc == 1) {
			rc = skip(&r, fd, name, size);
			if (rc < 0)
				goto out;
			continue;
		}
		if (rc < 0) {
			log_errorx("restore: %s: entry \"%.100s\": %s", in, name,
				   rc == -EPROTO ? "controller.cfg must come first"
						 : "not a file a loaxa backup holds: refused");
			goto out;
		}
		if (strcmp(name, "loaxa.db") == 0) {
			if (r.have_db) {
				rc = -EPROTO;
				log_errorx("restore: %s: two databases", in);
				goto out;
			}
			r.have_db = 1;
		}
		/* secrets stay private whatever the archive says; the rest keeps
		 * its mode, never more than 0644 */
		rc = stage(&r, fd, h, name, dest, size,
			   !strncmp(name, "keys/", 5) || !strcmp(name, "loaxa.db") ? 0600
			   : (mode_t)(mode & 0644));
		if (rc < 0)
			goto out;
		if (!strncmp(name, "content/", 8) && (rc = check_content(&r.files[r.n - 1], name)) < 0)
			goto out;
		if (strcmp(name, "controller.cfg") == 0 && (rc = after_config(&r, config_path, o)) < 0)
			goto out;
		if (o->progress && entries % 100 == 0)
			fprintf(stderr, "loaxa restore: %u files\n", entries);
	}
	if (!r.have_cfg || !r.have_db) {
		rc = -EPROTO;
		log_errorx("restore: %s holds no %s: not a loaxa backup", in,
			   r.have_cfg ? "database" : "controller.cfg");
		goto out;
	}
	/* Everything is on disk beside its place: now put it there. A
	 * journal of the database being replaced must not be applied to the
	 * restored one. */
	if ((size_t)snprintf(db, sizeof(db), "%s/loaxa.db", r.cfg.state_dir) >= sizeof(db) - 4) {
		rc = -ENAMETOOLONG;
		goto out;
	}
	for (i = 0; i < 2; i++) {
		char side[PATH_MAX + 8];
		snprintf(side, sizeof(side), "%s%s", db, i ? "-shm" : "-wal");
		unlink(side);
	}
	for (i = 0; i < r.n; i++) {
		if (rename(r.files[i].tmp, r.files[i].dest) < 0) {
			rc = -errno;
			log_errorx("restore: cannot put %s in place: %s", r.files[i].dest,
				   strerror(errno));
			goto out;
		}
		r.files[i].tmp[0] = 0;
		fsync_dir_of(r.files[i].dest);
	}
	log_info("restore: %s: %zu files restored (site %s, database %s)", in, r.n, r.cfg.site,
		 db);
	rc = 0;
out:
	for (i = 0; i < r.n; i++)
		if (r.files[i].tmp[0])
			unlink(r.files[i].tmp);
	free(r.files);
	close(fd);
	return rc;
}
