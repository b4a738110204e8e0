/*
 * nodeupdate.h - `loaxa node update N|--zone Z|--all PACKAGE.deb`: send a
 * node package to nodes (controller/nodeupdate.h, docs/operations.md).
 */
#ifndef LOAXA_CLI_NODEUPDATE_H
#define LOAXA_CLI_NODEUPDATE_H

/* argv[0] is "update". */
int cmd_node_update(int argc, char **argv);

#endif
