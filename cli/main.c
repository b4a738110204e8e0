/*
 * main.c - `loaxa`, the operator's command line: global options, then one
 * subcommand. Everything but keygen and encode talks to loaxa-controller
 * over its API socket (client.c).
 */
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "i18n.h"
#include "health.h"
#include "encode.h"

const char *cli_socket = "/run/loaxa/api.sock";

void cli_usage(FILE *f)
{
	fprintf(f,
		"usage: loaxa [--socket PATH] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  keygen -o DIR                     make the controller key pair (DIR/controller.key,\n"
		"                                    DIR/controller.pub); never overwrites a key\n"
		"  encode IN -o OUT.opus [--bitrate KBPS] [--music] [--json]\n"
		"                                    encode an audio file here, without the controller\n"
		"  import FILE [--title T] [--music] [--json]\n"
		"                                    import an audio file; prints its content id\n"
		"  play FILE|CONTENT_ID (--zone Z | --node N | --all) [--level L] [--wait[=SECONDS]]\n"
		"       [--edit DRAFT] [--json]      broadcast it now (a FILE is imported first);\n"
		"                                    --wait: until every node finished (default 60 s)\n"
		"  nodes [--json]                    the nodes: zones, online, last seen, playing\n"
		"  content list [--json]             the stored content\n"
		"  plays [--broadcast B] [--json]    the play log\n"
		"  login NAME [--password-file F]    log in; keeps the token in ~/.config/loaxa/token\n"
		"                                    (0600; $LOAXA_TOKEN_FILE, or $LOAXA_TOKEN itself)\n"
		"  logout | whoami                   end the session | who the token is\n"
		"  user add NAME --role R (--zone Z ... | --all-zones) [--password-file F]\n"
		"  user list | user del NAME         operator accounts (admin)\n"
		"  audit [--limit N] [--user U] [--json]  who did what, when, from where (admin)\n"
		"  broker-config --dir D --site S [--port P] [--listen ADDR] [--host NAME]...\n"
		"                                    make the broker's CA, certificate, accounts,\n"
		"                                    ACL and mosquitto.conf (no daemon; at install)\n"
		"  web-cert --dir D [--site S] [--host NAME]...   the web console's CA and HTTPS\n"
		"                                    certificate (no daemon; at install)\n"
		"  node add NAME --zone Z [--zone Z2] [--out DIR]   broker account + node bundle\n"
		"  node revoke NAME | node list      (admin; then reload the broker)\n"
		"  key rotate [--lifetime-s N] | key list   controller key lifecycle (admin)\n"
		"  key recover --recovery-key F --site S --trust PUB [--revoke PUB]... -o OUT\n"
		"                                    break glass: a trust document signed by the\n"
		"                                    offline recovery key (no daemon)\n"
		"  schedule check FILE... [--json]   check schedule files (errors as file:line)\n"
		"  schedule apply FILE... [--edit DRAFT] [--json]\n"
		"                                    make these files the schedule (all or nothing)\n"
		"  schedule list [--date D] [--days N] [--node N | --zone Z] [--json]\n"
		"                                    planned plays, in the site's local time\n"
		"  announce FILE|CONTENT_ID|--text T --at \"YYYY-MM-DD HH:MM\" (--zone Z | --node N | --all)\n"
		"           [--repeat N] [--gap S] [--level L] [--title T] [--chime] [--edit DRAFT] [--json]\n"
		"                                    a one-off announcement at that time\n"
		"  cancel ID                         cancel an announcement or one planned play\n"
		"  readiness [--json]                plays of the next 24 h some node will miss, and why\n"
		"  drafts [--all | --state S] [--json]  what operators submitted that waits for an\n"
		"                                    approver (where controller.cfg asks for approval,\n"
		"                                    and every operator's schedule apply)\n"
		"  approve ID | reject ID --reason T   decide a draft (approver or admin, not its author)\n"
		"  withdraw ID                       take back one's own pending draft\n"
		"                                    (--edit ID on announce/play/schedule apply changes it)\n"
		"  reviews [--all] [--json]          emergencies to review afterwards\n"
		"  review ID [--note T]              mark one reviewed (approver, not who started it)\n"
		"  emergency start (--clip NAME | FILE) (--zone Z | --node N | --all) [--drill]\n"
		"            [--max DURATION] [--timeout S] [--json]\n"
		"                                    sound an emergency now; waits for every\n"
		"                                    node to confirm (exit 3: some did not)\n"
		"  emergency stop [ID]               stop it (or every active one)\n"
		"  emergency clips | clip NAME FILE  the clips every node holds ahead\n"
		"  cap import FILE.xml [--no-wait]   a CAP 1.2 alert from the province: on air, a\n"
		"                                    draft for approval, or refused (docs/cap.md)\n"
		"  cap list | cap show ID            the CAP alerts received, what they became\n"
		"  live (--zone Z | --node N | --all) [--device D | --file F] [--latency MS] [--relay]\n"
		"                                    speak (or stream F) to the nodes now, in step;\n"
		"                                    Ctrl-C stops; live status | live stop [ID]\n"
		"  record [--device D] --max DURATION [--title T] [--json]\n"
		"                                    record from the controller's microphone into\n"
		"                                    content; Ctrl-C stops; record stop\n"
		"  node show|volume|stop|restart|test-tone N [LEVEL] [--timeout S] [--json]\n"
		"  node update N|--zone Z|--all PACKAGE.deb   send the loaxa-node package (admin)\n"
		"  selftest N|--zone Z [--timeout S] [--json]  horn self-test now: tone + sensing input\n"
		"                                    one node; remote maintenance, confirmed\n"
		"  alarms [--all] [--node N] [--json]\n"
		"                                    active (or all) alarms\n"
		"  log [--from T] [--to T] [--node N] [--zone Z] [--content ID] [--json]\n"
		"                                    what the nodes reported (proof of play)\n"
		"  backup FILE [--config CFG] [--no-content]  the controller's database (online),\n"
		"                                    configuration, keys, broker accounts, content\n"
		"  restore FILE [--config CFG] [--force]     put a backup back (controller stopped)\n"
		"  report --month YYYY-MM [--csv|--json|--format pdf -o FILE]\n"
		"                                    per cluster: scheduled, played, failed, airtime;\n"
		"                                    pdf: the printable report for the district\n"
		"  help                              this text\n"
		"\n"
		"The controller's socket is --socket PATH, else $LOAXA_SOCKET, else\n"
		"/run/loaxa/api.sock. Tables are for people; --json is for scripts.\n"
		"Exit status: 0 ok, 1 error, 2 wrong usage, 3 play --wait timed out.\n");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "keygen", cmd_keygen }, { "backup", cmd_backup }, { "restore", cmd_restore }, { "encode", cmd_encode }, { "import", cmd_import },
		{ "play", cmd_play },     { "nodes", cmd_nodes },   { "content", cmd_content },
		{ "plays", cmd_plays },   { "login", cmd_login },   { "logout", cmd_logout },
		{ "whoami", cmd_whoami }, { "user", cmd_user },     { "audit", cmd_audit },
		{ "broker-config", cmd_broker_config },              { "node", cmd_node },
		{ "web-cert", cmd_web_cert },
		{ "key", cmd_key },
		{ "plays", cmd_plays },   { "schedule", cmd_schedule },
		{ "announce", cmd_announce }, { "cancel", cmd_cancel },
		{ "readiness", cmd_readiness },
		{ "plays", cmd_plays },   { "emergency", cmd_emergency },
		{ "live", cmd_live },     { "record", cmd_record },
		{ "drafts", cmd_drafts }, { "approve", cmd_approve }, { "reject", cmd_reject },
		{ "withdraw", cmd_withdraw }, { "reviews", cmd_reviews }, { "review", cmd_review },
		{ "alarms", cmd_alarms }, { "log", cmd_log }, { "report", cmd_report },
		{ "cap", cmd_cap },
		{ "selftest", cmd_selftest },
	};
	const char *env = getenv("LOAXA_SOCKET");
	size_t i;
	int a = 1;

	/* Screen widths of UTF-8 text in tables (output bytes are unchanged). */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "");
	/* Messages in the operator's language (docs/i18n.md). */
	i18n_init(I18N_DOMAIN);
	if (env && env[0])
		cli_socket = env;
	while (a < argc && argv[a][0] == '-') {
		if (strcmp(argv[a], "--socket") == 0 && a + 1 < argc) {
			cli_socket = argv[a + 1];
			a += 2;
		} else if (strncmp(argv[a], "--socket=", 9) == 0) {
			cli_socket = argv[a] + 9;
			a++;
		} else if (strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "--help") == 0) {
			cli_usage(stdout);
			return CLI_EXIT_OK;
		} else {
			fprintf(stderr, _("loaxa: unknown option %s\n\n"), argv[a]);
			cli_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (a >= argc || strcmp(argv[a], "help") == 0) {
		cli_usage(a >= argc ? stderr : stdout);
		return a >= argc ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[a], cmds[i].name) == 0)
			return cmds[i].fn(argc - a, argv + a);
	fprintf(stderr, _("loaxa: unknown command \"%s\" (see loaxa help)\n"), argv[a]);
	return CLI_EXIT_USAGE;
}
