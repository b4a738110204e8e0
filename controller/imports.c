/*
 * imports.c - see imports.h.
 */
#include "imports.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "ctlutil.h"
#include "log.h"
#include "util.h"

/*
 * In the worker: speak text with espeak-ng into wav (the text goes through
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

/* The child: encode, report through the pipe, exit without cleanup. */
static _Noreturn void child_main(struct ctl *c, struct ctl_import_job *job, int wfd,
				 pid_t parent)
{
	struct ctl_import_outcome out;
	struct import_opts opts;
	const uint8_t *p = (const uint8_t *)&out;
	size_t left = sizeof(out);

	ctl_child_init(parent);
	/* Encoding is batch work: let the daemon's loop have the CPU first. */
	setpriority(PRIO_PROCESS, 0, 5);

	memset(&out, 0, sizeof(out));
	import_opts_default(&opts);
	opts.target_lufs = c->cfg.import.target_lufs;
	opts.true_peak_dbtp = c->cfg.import.true_peak_dbtp;
	opts.music = job->music;
	opts.bitrate_kbps = job->music ? c->cfg.import.music_kbps : c->cfg.import.speech_kbps;
	opts.max_duration_s = c->cfg.import.max_duration_s;
	opts.progress = 0;
	opts.title = job->title[0] ? job->title : NULL;
	opts.name = job->name[0] ? job->name : NULL;
	if (job->text) {
		if ((size_t)snprintf(job->in_path, sizeof(job->in_path), "%s/speak-%ld.wav",
				     c->tmp_dir, (long)getpid()) >= sizeof(job->in_path))
			out.rc = -ENAMETOOLONG;
		else
			out.rc = speak_text(c, job->text, job->in_path, out.err,
					    sizeof(out.err));
		if (out.rc == 0) {
			out.rc = import_to_store(job->in_path, c->content_dir, &opts, &out.res,
						 out.err, sizeof(out.err));
			unlink(job->in_path);
		}
	} else {
		out.rc = import_to_store(job->in_path, c->content_dir, &opts, &out.res,
					 out.err, sizeof(out.err));
	}
	if (out.rc < 0 && !out.err[0])
		snprintf(out.err, sizeof(out.err), "%s: %s", job->name, strerror(-out.rc));
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

static int job_start(struct ctl *c, struct ctl_import_job *job)
{
	int fds[2];
	pid_t pid, parent = getpid();

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		int err = errno;
		close(fds[0]);
		close(fds[1]);
		return -err;
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(c, job, fds[1], parent);
	}
	close(fds[1]);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	job->pid = pid;
	job->fd = fds[0];
	c->imports.running++;
	log_info("importing %s (worker process %ld)", job->name, (long)pid);
	return 0;
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
