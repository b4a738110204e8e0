/*
 * debpkg.h - what a Debian package says it is: its Package, Version and
 * Architecture fields, read with `dpkg-deb -f FILE Package Version
 * Architecture` (a fixed argv, no shell; the file name is an argument, never
 * parsed). Used by the controller before it sends a node update, and by the
 * node's installer before it installs one (docs/operations.md).
 */
#ifndef LOAXA_DEBPKG_H
#define LOAXA_DEBPKG_H

#include <stddef.h>

/* The name of the node-only package (debian/control): nothing else is a node update. */
#define DEB_NODE_PACKAGE "loaxa-node"

struct deb_info {
	char package[64];
	char version[64];
	char arch[16];
};

/*
 * Fill info from the package at path. 0, or a negative errno with why in
 * plain words: not a Debian package, a field missing, dpkg-deb absent.
 * dpkg_deb: the program to run (NULL: /usr/bin/dpkg-deb).
 */
int deb_read_fields(const char *path, const char *dpkg_deb, struct deb_info *info, char *why,
		    size_t whylen);

/*
 * Run argv[0] (an absolute path) with argv, no shell, stdin /dev/null,
 * its stdout into out (at most outlen - 1 bytes, NUL-terminated; NULL: to
 * /dev/null), stderr inherited. Returns its exit status (0-255), 256 + the
 * signal that killed it, or a negative errno when it could not start.
 */
int deb_run(char *const argv[], char *out, size_t outlen);

#endif
