/*
 * imports.c - see imports.h.
 */
#include "imports.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "ctlutil.h"
#include "decodeworker.h"
#include "log.h"
#include "util.h"

/* The worker writes the importer's outcome; the controller reads it as its own. */
_Static_assert(sizeof(struct ctl_import_outcome) == sizeof(struct import_outcome) &&
		       offsetof(struct ctl_import_outcome, err) ==
			       offsetof(struct import_outcome, err) &&
		       offsetof(struct ctl_import_outcome, res) ==
			       offsetof(struct import_outcome, res),
	       "struct ctl_import_outcome is struct import_outcome");

/*
 * In the child: speak text with espeak-ng into wav (the text goes through
 * a file, not argv, so any length and any characters are safe). Returns 0
 * or -errno with err filled.
 */
static int speak_text(struct ctl *c, const char *text, const char *wav, char *err,
		      size_t errlen)
{
	char txt[PATH_MAX];
	pid_t pid;
	int status = 0, rc;

	if ((size_t)snprintf(txt, sizeof(txt), "%s.txt", wav) >= sizeof(txt))
		return -ENAMETOOLONG;
	rc = write_file_atomic(txt, text, strlen(text), 0600);
	if (rc < 0) {
		snprintf(err, errlen, "cannot write the text to speak into %.200s: %s", c->tmp_dir,
			 strerror(-rc));
		return rc;
	}
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
		}
		close_range(3, ~0U, 0); /* nothing of the controller's */
		execlp("espeak-ng", "espeak-ng", "-v", "vi", "-s", "150", "-w", wav, "-f", txt,
		       (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		status = -1;
	unlink(txt);
	if (status != 0) {
		snprintf(err, errlen, "espeak-ng could not speak the text (%s)",
			 WIFEXITED(status) && WEXITSTATUS(status) == 127
				 ? "is the espeak-ng package installed?"
				 : "it failed");
		unlink(wav);
		return -EIO;
	}
	return 0;
}

/* The child, before it becomes the worker: report a failure and exit. */
static _Noreturn void child_fail(int wfd, int rc, const char *err)
{
	struct ctl_import_outcome out;
	const uint8_t *p = (const uint8_t *)&out;
	size_t left = sizeof(out);

	memset(&out, 0, sizeof(out));
	out.rc = rc;
	snprintf(out.err, sizeof(out.err), "%s", err);
	while (left > 0) {
		ssize_t n = write(wfd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(1);
		p += n;
		left -= (size_t)n;
	}
	_exit(0);
}

/*
 * The child: open the input (speaking the text first), then become the
 * decode worker (decodeworker.h): it gets the input on fd 0, the result
 * pipe on fd 1, stderr, the output file on fd 3, and nothing else.
 */
static _Noreturn void child_main(struct ctl *c, struct ctl_import_job *job, int wfd,
				 int ofd, pid_t parent)
{
	char err[512], num[4][32], wav[PATH_MAX];
	char *argv[24];
	int in_fd, rc, k = 0, fds[4];

	ctl_child_init(parent);
	/* Encoding is batch work: let the daemon's loop have the CPU first. */
	setpriority(PRIO_PROCESS, 0, 5);
	err[0] = '\0';
	if (job->text) {
		if ((size_t)snprintf(wav, sizeof(wav), "%s/speak-%ld.wav", c->tmp_dir,
				     (long)getpid()) >= sizeof(wav))
			child_fail(wfd, -ENAMETOOLONG, "the controller's tmp dir path is too long");
		rc = speak_text(c, job->text, wav, err, sizeof(err));
		if (rc < 0)
			child_fail(wfd, rc, err);
		in_fd = open(wav, O_RDONLY | O_CLOEXEC);
		unlink(wav); /* the worker reads it through the descriptor */
	} else {
		in_fd = open(job->in_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		/* O_NONBLOCK only so that a FIFO cannot hang us here */
		if (in_fd >= 0)
			fcntl(in_fd, F_SETFL, 0);
	}
	if (in_fd < 0) {
		rc = -errno;
		snprintf(err, sizeof(err), "%s: %s", job->name,
			 rc == -ENOENT ? "no such file" : strerror(-rc));
		child_fail(wfd, rc, err);
	}
	snprintf(num[0], sizeof(num[0]), "%.2f", c->cfg.import.target_lufs);
	snprintf(num[1], sizeof(num[1]), "%.2f", c->cfg.import.true_peak_dbtp);
	snprintf(num[2], sizeof(num[2]), "%d",
		 job->music ? c->cfg.import.music_kbps : c->cfg.import.speech_kbps);
	snprintf(num[3], sizeof(num[3]), "%d", c->cfg.import.max_duration_s);
	argv[k++] = NULL; /* the program's name */
	argv[k++] = (char *)"--worker";
	argv[k++] = (char *)"import";
	argv[k++] = (char *)"--spill-dir";
	argv[k++] = c->tmp_dir;
	argv[k++] = (char *)"--target-lufs";
	argv[k++] = num[0];
	argv[k++] = (char *)"--true-peak";
	argv[k++] = num[1];
	argv[k++] = (char *)"--bitrate";
	argv[k++] = num[2];
	argv[k++] = (char *)"--max-duration";
	argv[k++] = num[3];
	argv[k++] = (char *)"--name";
	argv[k++] = job->name;
	if (job->title[0]) {
		argv[k++] = (char *)"--title";
		argv[k++] = job->title;
	}
	if (job->music)
		argv[k++] = (char *)"--music";
	argv[k] = NULL;
	fds[0] = in_fd;
	fds[1] = wfd;
	fds[2] = STDERR_FILENO;
	fds[3] = ofd;
	ctl_worker_exec(c->worker_path, argv, fds, 4);
}

static unsigned tmp_counter;

static int job_start(struct ctl *c, struct ctl_import_job *job)
{
	int fds[2], ofd, rc;
	pid_t pid, parent = getpid();

	if (!c->worker_path[0] &&
	    (rc = ctl_worker_path(c->worker_path, sizeof(c->worker_path), job->out.err,
				  sizeof(job->out.err))) < 0)
		return rc;
	if ((rc = mkdir_p(c->content_dir, 0755)) < 0)
		return rc;
	/* the worker's output: a named temp file in the store, named by the
	 * controller when done (the worker can open no path) */
	if ((size_t)snprintf(job->out_tmp, sizeof(job->out_tmp), "%s/.import-%ld-%u.part",
			     c->content_dir, (long)parent, ++tmp_counter) >= sizeof(job->out_tmp))
		return -ENAMETOOLONG;
	ofd = open(job->out_tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (ofd < 0) {
		rc = -errno;
		job->out_tmp[0] = '\0';
		return rc;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		rc = -errno;
		close(ofd);
		return rc;
	}
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		int err = errno;
		close(fds[0]);
		close(fds[1]);
		close(ofd);
		return -err;
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(c, job, fds[1], ofd, parent);
	}
	close(fds[1]);
	close(ofd);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	job->pid = pid;
	job->fd = fds[0];
	c->imports.running++;
	log_info("importing %s (worker process %ld)", job->name, (long)pid);
	return 0;
}

/*
 * The worker succeeded: give its output its name in the store,
 * <sha256>.opus. link() never replaces: a file of that name holds the same
 * bytes already (the name is their hash), and the new copy is dropped.
 */
static void place_output(struct ctl *c, struct ctl_import_job *job)
{
	char final[PATH_MAX + 80];
	struct stat st;

	job->out.res.existed = 0;
	if (!content_id_valid(job->out.res.sha256) || stat(job->out_tmp, &st) < 0 ||
	    (uint64_t)st.st_size != job->out.res.bytes) {
		job->out.rc = -EIO;
		snprintf(job->out.err, sizeof(job->out.err),
			 "%s: the import worker's result does not match its output", job->name);
		return;
	}
	snprintf(final, sizeof(final), "%s/%s.opus", c->content_dir, job->out.res.sha256);
	if (link(job->out_tmp, final) == 0)
		fsync_dir_of(final);
	else if (errno == EEXIST)
		job->out.res.existed = 1;
	else {
		job->out.rc = -errno;
		snprintf(job->out.err, sizeof(job->out.err), "%.300s: cannot write: %s", final,
			 strerror(errno));
	}
}

static void job_finish(struct ctl *c, struct ctl_import_job *job)
{
	struct ctl_import_job **pp;

	for (pp = &c->imports.jobs; *pp; pp = &(*pp)->next)
		if (*pp == job) {
			*pp = job->next;
			break;
		}
	if (job->pid > 0)
		c->imports.running--;
	if (job->fd >= 0)
		close(job->fd);
	if (job->out_tmp[0])
		unlink(job->out_tmp);
	if (job->done)
		job->done(c, job->arg, &job->out);
	free(job->text);
	free(job);
}

/* Start queued jobs while there is room; a job that cannot start fails. */
static void start_queued(struct ctl *c)
{
	struct ctl_import_job *job, *next;
	int rc;

	for (job = c->imports.jobs; job && c->imports.running < CTL_IMPORTS_RUNNING;
	     job = next) {
		next = job->next;
		if (job->pid > 0)
			continue;
		rc = job_start(c, job);
		if (rc < 0) {
			job->out.rc = rc;
			if (!job->out.err[0])
				snprintf(job->out.err, sizeof(job->out.err),
					 "the controller cannot start an import worker: %s",
					 strerror(-rc));
			log_errorx("%s", job->out.err);
			job_finish(c, job);
		}
	}
}

int ctl_imports_submit(struct ctl *c, const char *in_path, const char *name,
		       const char *title, int music, ctl_import_done_fn done, void *arg)
{
	struct ctl_import_job *job, **pp;

	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->fd = -1;
	job->pollfd_index = -1;
	if (str_copy(job->in_path, sizeof(job->in_path), in_path) < 0) {
		free(job);
		return -ENAMETOOLONG;
	}
	snprintf(job->name, sizeof(job->name), "%s", name && name[0] ? name : "upload");
	snprintf(job->title, sizeof(job->title), "%s", title ? title : "");
	job->music = music;
	job->done = done;
	job->arg = arg;
	for (pp = &c->imports.jobs; *pp; pp = &(*pp)->next)
		;
	*pp = job;
	if (c->imports.running >= CTL_IMPORTS_RUNNING)
		log_info("import of %s waits for a free worker (%d running)", job->name,
			 c->imports.running);
	start_queued(c);
	return 0;
}

int ctl_imports_submit_text(struct ctl *c, const char *text, const char *name,
			    const char *title, ctl_import_done_fn done, void *arg)
{
	struct ctl_import_job *job, **pp;

	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->text = strdup(text);
	if (!job->text) {
		free(job);
		return -ENOMEM;
	}
	job->fd = -1;
	job->pollfd_index = -1;
	snprintf(job->name, sizeof(job->name), "%s", name && name[0] ? name : "text");
	snprintf(job->title, sizeof(job->title), "%s", title ? title : "");
	job->done = done;
	job->arg = arg;
	for (pp = &c->imports.jobs; *pp; pp = &(*pp)->next)
		;
	*pp = job;
	start_queued(c);
	return 0;
}

int ctl_imports_pollfds(struct ctl *c, struct pollfd *pfds, int max)
{
	struct ctl_import_job *job;
	int n = 0;

	for (job = c->imports.jobs; job; job = job->next) {
		job->pollfd_index = -1;
		if (job->fd < 0 || n >= max)
			continue;
		pfds[n].fd = job->fd;
		pfds[n].events = POLLIN;
		pfds[n].revents = 0;
		job->pollfd_index = n++;
	}
	return n;
}

/* Outcome complete (or pipe closed) and child reaped: report it. */
static int maybe_done(struct ctl *c, struct ctl_import_job *job)
{
	if (job->fd >= 0 || !job->reaped)
		return 0;
	if (job->got != sizeof(job->out)) {
		memset(&job->out, 0, sizeof(job->out));
		job->out.rc = -EIO;
		if (WIFSIGNALED(job->status))
			snprintf(job->out.err, sizeof(job->out.err),
				 "%s: the import worker crashed on this file (signal %d)",
				 job->name, WTERMSIG(job->status));
		else
			snprintf(job->out.err, sizeof(job->out.err),
				 "%s: the import worker stopped without a result (exit status %d)",
				 job->name, WIFEXITED(job->status) ? WEXITSTATUS(job->status) : -1);
	}
	job->out.err[sizeof(job->out.err) - 1] = '\0';
	if (job->out.rc == 0)
		place_output(c, job);
	job_finish(c, job);
	start_queued(c);
	return 1;
}

void ctl_imports_handle(struct ctl *c, const struct pollfd *pfds)
{
	struct ctl_import_job *job, *next;

	for (job = c->imports.jobs; job; job = next) {
		next = job->next;
		if (job->pollfd_index < 0 || job->fd < 0 ||
		    !(pfds[job->pollfd_index].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		for (;;) {
			ssize_t n;

			if (job->got < sizeof(job->out))
				n = read(job->fd, (uint8_t *)&job->out + job->got,
					 sizeof(job->out) - job->got);
			else {
				uint8_t extra[64];
				n = read(job->fd, extra, sizeof(extra));
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0) {
				close(job->fd);
				job->fd = -1;
				break;
			}
			if (job->got < sizeof(job->out))
				job->got += (size_t)n;
		}
		/* the list may have changed under us: start over */
		if (maybe_done(c, job))
			next = c->imports.jobs;
	}
}

void ctl_imports_reap(struct ctl *c)
{
	struct ctl_import_job *job, *next;

	for (job = c->imports.jobs; job; job = next) {
		next = job->next;
		if (job->pid <= 0 || job->reaped)
			continue;
		if (waitpid(job->pid, &job->status, WNOHANG) == job->pid) {
			job->reaped = 1;
			if (maybe_done(c, job))
				next = c->imports.jobs;
		}
	}
}

void ctl_imports_stop(struct ctl *c)
{
	struct ctl_import_job *job;

	while ((job = c->imports.jobs)) {
		if (job->pid > 0 && !job->reaped) {
			kill(job->pid, SIGKILL);
			while (waitpid(job->pid, &job->status, 0) < 0 && errno == EINTR)
				;
			job->reaped = 1;
		}
		memset(&job->out, 0, sizeof(job->out));
		job->out.rc = -ECANCELED;
		snprintf(job->out.err, sizeof(job->out.err),
			 "%s: the controller is shutting down; import it again", job->name);
		job_finish(c, job);
	}
}

int ctl_imports_record(struct ctl *c, const struct ctl_import_outcome *out, const char *title,
		       struct ctl_content_row *row, int *existed)
{
	int rc;

	memset(row, 0, sizeof(*row));
	snprintf(row->id, sizeof(row->id), "%s", out->res.sha256);
	snprintf(row->title, sizeof(row->title), "%s", title);
	row->duration_ms = (int64_t)(out->res.duration_s * 1000.0 + 0.5);
	row->bytes = (int64_t)out->res.bytes;
	row->input_lufs = out->res.input_lufs;
	row->output_lufs = out->res.output_lufs;
	row->true_peak_dbtp = out->res.true_peak_dbtp;
	row->created = now_ms();
	if (!content_id_valid(row->id))
		return -EINVAL;
	rc = ctl_db_content_add(&c->db, row, existed);
	if (rc == 0)
		rc = ctl_db_content_get(&c->db, row->id, row);
	return rc;
}
