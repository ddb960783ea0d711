/* ferry-proxy: a thin main over src/proxy. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/token.h"
#include "common/util.h"
#include "ferry.h"
#include "proxy/proxy.h"

_Static_assert(FR_PROXY_INFLIGHT_MAX == 65416, "usage() names the largest");

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ferry-proxy [OPTIONS]\n"
		"Runs the node proxy: one warm fabric endpoint to every ferry\n"
		"server, shared by all functions on this node. Functions reach\n"
		"it over a Unix socket (values in shared memory, zero-copy) or\n"
		"TCP (values in the stream), with FERRY_PROXY=unix:///PATH or\n"
		"tcp://HOST:PORT.\n"
		"\n"
		"  --cluster FILE       cluster description (default: as ferry)\n"
		"  --unix PATH          Unix socket (default %s;\n"
		"                       \"\" for none)\n"
		"  --tcp HOST:PORT      also listen on TCP\n"
		"  --resp HOST:PORT     serve the Redis protocol (RESP2/3) on TCP\n"
		"  --resp-unix PATH     serve the Redis protocol on a Unix socket\n"
		"  --resp-max-request SIZE\n"
		"                       longest Redis request (default 512M);\n"
		"                       longer ones are refused, the connection\n"
		"                       closed\n"
		"  --max-inflight N     fabric operations in flight (default 4096,\n"
		"                       at most 65416)\n"
		"  --conn-inflight N    per function connection (default 256)\n"
		"  --buffer-budget SIZE stream data held at once, all functions\n"
		"                       together (default 256M, at least 1M);\n"
		"                       over TCP a value must fit in it\n"
		"  --frame-timeout DURATION\n"
		"                       drop a connection that holds room for\n"
		"                       a frame larger than 16K and sends none\n"
		"                       of its bytes for this long (default\n"
		"                       30s; 0: never)\n"
		"  --max-arenas SIZE    shared memory one function may attach\n"
		"                       (default 4G)\n"
		"  --spin-us N          busy-poll before sleeping (default 50)\n"
		"  --ready-fd FD        write \"ready\" to FD once serving\n"
		"  --admin-token-file PATH\n"
		"                       the cluster's admin token (first line),\n"
		"                       as the servers have it: every function\n"
		"                       must then present a token (FERRY_TOKEN;\n"
		"                       Redis: AUTH), the admin token or a\n"
		"                       namespace's, and is confined to that\n"
		"                       namespace, within its limits; without\n"
		"                       it the proxy is open (no token: the\n"
		"                       admin)\n"
		"  -h, --help           this text\n"
		"\n"
		"SIGTERM or SIGINT stops it cleanly. Logs go to stderr.\n",
		FERRY_PROXY_SOCKET);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"cluster", required_argument, NULL, 'c'},
		{"unix", required_argument, NULL, 'u'},
		{"tcp", required_argument, NULL, 't'},
		{"resp", required_argument, NULL, 'R'},
		{"resp-unix", required_argument, NULL, 'U'},
		{"resp-max-request", required_argument, NULL, 'M'},
		{"max-inflight", required_argument, NULL, 'm'},
		{"conn-inflight", required_argument, NULL, 'i'},
		{"buffer-budget", required_argument, NULL, 'b'},
		{"max-arenas", required_argument, NULL, 'a'},
		{"frame-timeout", required_argument, NULL, 'F'},
		{"spin-us", required_argument, NULL, 'S'},
		{"ready-fd", required_argument, NULL, 'r'},
		{"admin-token-file", required_argument, NULL, 'A'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	static char token[FR_TOKEN_FILE_MAX];
	fr_proxy_opts o;
	int c, idx, rc;
	unsigned fd;

	fr_proxy_opts_init(&o);
	while ((c = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		rc = 0;
		switch (c) {
		case 'c':
			o.cluster = optarg;
			break;
		case 'u':
			o.unix_path = optarg;
			break;
		case 't':
			o.tcp = optarg;
			break;
		case 'R':
			o.resp = optarg;
			break;
		case 'U':
			o.resp_unix = optarg;
			break;
		case 'M':
			rc = fr_parse_size(optarg, &o.resp_max_request) ||
			     o.resp_max_request < 1024;
			break;
		case 'm':
			rc = fr_parse_uint(optarg, 1, FR_PROXY_INFLIGHT_MAX,
					   &o.max_inflight);
			break;
		case 'i':
			rc = fr_parse_uint(optarg, 1, UINT_MAX,
					   &o.conn_inflight);
			break;
		case 'b':
			rc = fr_parse_size(optarg, &o.buffer_budget) ||
			     o.buffer_budget < FR_PROXY_BUDGET_MIN;
			break;
		case 'a':
			rc = fr_parse_size(optarg, &o.max_arenas);
			break;
		case 'F':
			rc = fr_parse_duration_ms(optarg, &o.frame_timeout_ms);
			break;
		case 'S':
			rc = fr_parse_uint(optarg, 0, 1000000, &o.spin_us);
			break;
		case 'r':
			rc = fr_parse_uint(optarg, 0, INT_MAX, &fd);
			o.ready_fd = (int)fd;
			break;
		case 'A':
			if (fr_token_read_arg("ferry-proxy", optarg, token,
					      sizeof(token)))
				return 2;
			o.admin_token = token;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (rc) {
			fprintf(stderr, "ferry-proxy: bad value for --%s: %s\n",
				longopts[idx].name, optarg);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	return fr_proxy_run(&o) ? 1 : 0;
}
