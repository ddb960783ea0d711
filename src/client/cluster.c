#include "client/cluster.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "ferry.h"

const char *ferry_default_cluster(void)
{
	static char path[512];
	const char *home = getenv("FERRY_HOME");

	if (home && *home)
		snprintf(path, sizeof(path), "%s/cluster", home);
	else
		snprintf(path, sizeof(path), "%s/.ferry/cluster",
			 getenv("HOME") ? getenv("HOME") : "/tmp");
	return path;
}

const char *fr_cluster_path(const char *path)
{
	const char *env = getenv("FERRY_CLUSTER");

	if (path && *path)
		return path;
	if (env && *env)
		return env;
	return ferry_default_cluster();
}

static int parse_line(char *s, fr_cluster *c)
{
	char word[32], arg[256], host[FR_ADDR_MAX], port[16];
	int end = 0, cut, n = sscanf(s, " %31s %255s%n", word, arg, &end);

	if (n <= 0 || word[0] == '#')
		return 0;
	if (n != 2)
		return FERRY_EINVAL;
	/* %255s stops at arg's end, not the argument's: a longer one fits
	 * no field, and cut short it would name another proxy or file. */
	cut = s[end] && !isspace((unsigned char)s[end]);
	if (strcmp(word, "provider") == 0) {
		if (cut || strlen(arg) >= sizeof(c->provider))
			return FERRY_EINVAL;
		strcpy(c->provider, arg);
	} else if (strcmp(word, "server") == 0) {
		if (cut || c->nservers == FR_MAX_SERVERS ||
		    fr_split_hostport(arg, host, sizeof(host), port,
				      sizeof(port)) ||
		    strlen(arg) >= FR_ADDR_MAX)
			return FERRY_EINVAL;
		strcpy(c->servers[c->nservers++], arg);
	} else if (strcmp(word, "proxy") == 0 || strcmp(word, "resp") == 0 ||
		   strcmp(word, "admin-token-file") == 0) {
		char *to = word[0] == 'p'   ? c->proxy
			   : word[0] == 'r' ? c->resp
					    : c->admin_token_file;
		if (cut || strlen(arg) >= sizeof(c->proxy))
			return FERRY_EINVAL;
		strcpy(to, arg);
	} else if (strcmp(word, "pid") == 0) {
		if (c->npids == FR_ARRAY_LEN(c->pids))
			return FERRY_EINVAL;
		c->pids[c->npids++] = (pid_t)atol(arg);
	}
	return 0;
}

/* Lines are read whole, however long: a fixed buffer cut a long comment
 * in pieces, and its tail was parsed as a directive of its own. */
int fr_cluster_load(const char *path, fr_cluster *c, int *line)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	int rc = 0, n = 0;

	memset(c, 0, sizeof(*c));
	strcpy(c->provider, "tcp");
	if (!f)
		return FERRY_ENOCLUSTER;
	while (!rc && getline(&buf, &cap, f) >= 0) {
		n++;
		rc = parse_line(buf, c);
	}
	free(buf);
	fclose(f);
	if (!rc && c->nservers == 0)
		rc = FERRY_EINVAL;
	if (rc && line)
		*line = n;
	return rc;
}

int fr_cluster_save(const char *path, const fr_cluster *c)
{
	char tmp[600];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	f = fopen(tmp, "w");
	if (!f)
		return FERRY_EIO;
	fprintf(f, "# ferry cluster description (written by ferry cluster up)\n");
	fprintf(f, "provider %s\n", c->provider);
	for (unsigned i = 0; i < c->nservers; i++)
		fprintf(f, "server %s\n", c->servers[i]);
	if (c->proxy[0])
		fprintf(f, "proxy %s\n", c->proxy);
	if (c->resp[0])
		fprintf(f, "resp %s\n", c->resp);
	if (c->admin_token_file[0])
		fprintf(f, "admin-token-file %s\n", c->admin_token_file);
	for (unsigned i = 0; i < c->npids; i++)
		fprintf(f, "pid %ld\n", (long)c->pids[i]);
	if (fclose(f) || rename(tmp, path)) {
		unlink(tmp);
		return FERRY_EIO;
	}
	return 0;
}
