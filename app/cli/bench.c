#include "cli/cli.h"
#include <stdio.h>
int cli_bench(int argc, char **argv)
{
	fprintf(stderr, "not yet\n");
	return 1;
}
