/*
 * capture.h - capture what the code under test writes to stderr (fd 2), so a
 * test can check that an error message names the file, line and field.
 */
#ifndef LOAXA_TEST_CAPTURE_H
#define LOAXA_TEST_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int capture_saved_fd = -1;
static char capture_path[64];
static char capture_text[16384];

/* Start sending fd 2 to a temporary file. */
static void capture_begin(void)
{
	int fd;

	fflush(stderr);
	strcpy(capture_path, "/tmp/loaxa-capture-XXXXXX");
	fd = mkstemp(capture_path);
	if (fd < 0) {
		perror("mkstemp");
		exit(2);
	}
	capture_saved_fd = dup(2);
	dup2(fd, 2);
	close(fd);
}

/* Restore fd 2; return what was written (also echoed, for the test log). */
static const char *capture_end(void)
{
	FILE *f;
	size_t n = 0;

	fflush(stderr);
	dup2(capture_saved_fd, 2);
	close(capture_saved_fd);
	capture_saved_fd = -1;
	f = fopen(capture_path, "r");
	if (f) {
		n = fread(capture_text, 1, sizeof(capture_text) - 1, f);
		fclose(f);
	}
	capture_text[n] = '\0';
	unlink(capture_path);
	fputs(capture_text, stderr);
	return capture_text;
}

#endif
