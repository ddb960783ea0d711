/*
 * Makes a namespace for tests/cli/test_resp.sh, which AUTHs Redis clients
 * with namespace tokens:
 *
 *   resp_ns CLUSTER_FILE NAME   prints the new namespace's token
 *
 * It connects directly to the servers of CLUSTER_FILE with the admin
 * token in $FERRY_TOKEN (none: an open cluster). Exit status 0, or 1 with
 * the reason on stderr.
 */
#include <stdio.h>

#include "ferry.h"

int main(int argc, char **argv)
{
	char token[FERRY_TOKEN_LEN + 1];
	ferry_client *c;
	ferry_opts o;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: %s CLUSTER_FILE NAME\n", argv[0]);
		return 2;
	}
	ferry_opts_init(&o);
	o.cluster = argv[1];
	o.proxy = "direct";
	rc = ferry_connect(&o, &c);
	if (!rc) {
		rc = ferry_ns_create(c, argv[2], NULL, token);
		ferry_close(c);
	}
	if (rc) {
		fprintf(stderr, "resp_ns: %s: %s\n", argv[2],
			ferry_strerror(rc));
		return 1;
	}
	printf("%s\n", token);
	return 0;
}
