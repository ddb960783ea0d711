/* ferry: the command-line client. A thin main over libferry; commands live
 * in app/cli/. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *args;
	const char *help;
} commands[] = {
	{"put", cli_put, "[OPTIONS] KEY [FILE]",
	 "store FILE (or stdin) under KEY"},
	{"get", cli_get, "KEY [FILE]", "write KEY's value to FILE (or stdout)"},
	{"rm", cli_rm, "KEY...", "delete keys"},
	{"ls", cli_ls, "[PREFIX]", "list keys, in byte order"},
	{"expire", cli_expire, "KEY DURATION|--persist",
	 "set or remove a key's expiry"},
	{"stat", cli_stat, "[KEY]",
	 "a key's metadata, or cluster stats"},
	{"wait", cli_wait, "KEY [--timeout DURATION]",
	 "wait until KEY exists"},
	{"watch", cli_watch, "PREFIX [OPTIONS]",
	 "print changes to keys as they happen"},
	{"cluster", cli_cluster_cmd, "up|status|restart|down ...",
	 "run a whole cluster on this host"},
	{"ns", cli_ns, "create|ls|stat|rm|touch|set",
	 "namespaces: tokens, quotas, lifetimes"},
	{"bench", cli_bench, "[OPTIONS]",
	 "measure put/get latency and throughput beside Redis"},
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ferry [--cluster FILE] [--direct] COMMAND [ARGS]\n"
		"ferry is an in-memory store for serverless jobs with an RDMA\n"
		"data path (libfabric). Commands:\n\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %-28s %s\n", commands[i].name,
			commands[i].args, commands[i].help);
	fprintf(out,
		"\nThe cluster is found from --cluster FILE, then $FERRY_CLUSTER,\n"
		"then %s (written by 'ferry cluster up').\n"
		"Requests go through the node proxy: $FERRY_PROXY\n"
		"(unix:///PATH or tcp://HOST:PORT), else %s if it\n"
		"exists and neither --cluster nor $FERRY_CLUSTER is given and\n"
		"ferry presents no admin token from the cluster file, else the\n"
		"proxy the cluster file names; --direct (or FERRY_PROXY=direct)\n"
		"talks to the servers over the fabric.\n"
		"A cluster may require a token: $FERRY_TOKEN (a namespace's,\n"
		"from 'ferry ns create'), else the admin token in the file the\n"
		"cluster file names (written by 'ferry cluster up').\n"
		"'ferry COMMAND --help' describes a command's options.\n",
		ferry_default_cluster(), FERRY_PROXY_SOCKET);
}

int main(int argc, char **argv)
{
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--direct")) {
			cli_direct = 1;
			i++;
			continue;
		}
		if (!strcmp(argv[i], "--cluster") && i + 1 < argc) {
			cli_cluster = argv[i + 1];
			i += 2;
			continue;
		}
		fprintf(stderr, "ferry: unknown option %s\n", argv[i]);
		usage(stderr);
		return 2;
	}
	if (i == argc) {
		usage(stderr);
		return 2;
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (!strcmp(argv[i], commands[c].name))
			return commands[c].run(argc - i, argv + i);
	fprintf(stderr, "ferry: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return 2;
}
