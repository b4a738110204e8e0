/*
 * health.h - CLI commands of health, proof of play and reports (health.c).
 */
#ifndef LOAXA_CLI_HEALTH_H
#define LOAXA_CLI_HEALTH_H

int cmd_alarms(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_report(int argc, char **argv);
/* `loaxa node show|volume|stop|restart|test-tone ...` (cmd_node dispatches here). */
int cli_node_maint_verb(const char *verb);
int cmd_node_maint(int argc, char **argv);

#endif
