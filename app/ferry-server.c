/* ferry-server: a thin main over lib server (src/server). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/token.h"
#include "common/util.h"
#include "ferry.h"
#include "server/server.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ferry-server [OPTIONS]\n"
		"Runs one ferry storage server: an in-memory key-value store\n"
		"whose values move by RDMA (libfabric) to and from clients.\n"
		"\n"
		"  --listen HOST:PORT   address to serve on (default 127.0.0.1:7400)\n"
		"  --provider NAME      tcp (tcp;ofi_rxm), shm, or verbs\n"
		"                       (verbs;ofi_rxm); default tcp\n"
		"  --memory SIZE        arena size, registered once (default 1G)\n"
		"  --max-value SIZE     largest value accepted (default 1G)\n"
		"  --slots N            requests in service at once (default 256)\n"
		"  --spin-us N          busy-poll before sleeping (default 50)\n"
		"  --ready-fd FD        write \"ready\" to FD once serving\n"
		"  --admin-token-file PATH\n"
		"                       the cluster's admin token (first line):\n"
		"                       every client must then present a token;\n"
		"                       without it the cluster is open\n"
		"  --state-file PATH    keep the namespaces (names, tokens,\n"
		"                       quotas, expiries, limits; not the keys)\n"
		"                       in PATH, mode 0600, rewritten on each\n"
		"                       change and read back at start, so a\n"
		"                       restarted server knows them again\n"
		"  --watcher-timeout DURATION\n"
		"                       drop the watches of a client that has\n"
		"                       sent nothing this long (default 30s, at\n"
		"                       least 100ms; live ones greet every\n"
		"                       second). One that comes back registers\n"
		"                       them again, each with a LOST event\n"
		"  -h, --help           this text\n"
		"\n"
		"SIZE takes K, M, G suffixes (powers of 1024); DURATION ms, s,\n"
		"m, h, d. SIGTERM or SIGINT stops the server cleanly. Logs go\n"
		"to stderr.\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"provider", required_argument, NULL, 'p'},
		{"memory", required_argument, NULL, 'm'},
		{"max-value", required_argument, NULL, 'v'},
		{"slots", required_argument, NULL, 's'},
		{"spin-us", required_argument, NULL, 'S'},
		{"ready-fd", required_argument, NULL, 'r'},
		{"admin-token-file", required_argument, NULL, 'a'},
		{"state-file", required_argument, NULL, 'f'},
		{"watcher-timeout", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	static char host[256], port[16], token[FR_TOKEN_FILE_MAX];
	fr_server_opts o;
	int c, idx, rc;
	unsigned fd;

	fr_server_opts_init(&o);
	while ((c = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		rc = 0;
		switch (c) {
		case 'l':
			rc = fr_split_hostport(optarg, host, sizeof(host), port,
					       sizeof(port));
			o.host = host;
			o.port = port;
			break;
		case 'p':
			o.provider = optarg;
			break;
		case 'm':
			rc = fr_parse_size(optarg, &o.memory);
			break;
		case 'v':
			rc = fr_parse_size(optarg, &o.max_value);
			break;
		case 's':
			rc = fr_parse_uint(optarg, 1, 65536, &o.slots);
			break;
		case 'S':
			rc = fr_parse_uint(optarg, 0, 1000000, &o.spin_us);
			break;
		case 'r':
			rc = fr_parse_uint(optarg, 0, INT_MAX, &fd);
			o.ready_fd = (int)fd;
			break;
		case 'a':
			if (fr_token_read_arg("ferry-server", optarg, token,
					      sizeof(token)))
				return 2;
			o.admin_token = token;
			break;
		case 'f':
			o.state_file = optarg;
			break;
		case 'w':
			rc = fr_parse_duration_ms(optarg, &o.watcher_timeout_ms);
			if (!rc && o.watcher_timeout_ms < 100)
				rc = FERRY_EINVAL;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (rc) {
			fprintf(stderr, "ferry-server: bad value for --%s: %s\n",
				longopts[idx].name, optarg);
			return 2;
		}
	}
	if (o.memory < 4096) {
		fprintf(stderr, "ferry-server: --memory must be at least 4K\n");
		return 2;
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	return fr_server_run(&o) ? 1 : 0;
}
