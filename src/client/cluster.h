/*
 * Cluster descriptions: the text file 'ferry cluster up' writes and every
 * client reads. One directive a line; '#' starts a comment; unknown
 * directives are ignored so that newer files stay readable:
 *
 *   provider tcp
 *   server 127.0.0.1:7400
 *   server 127.0.0.1:7401
 *   proxy unix:///home/me/.ferry/proxy.sock   (the node proxy, if any)
 *   resp redis://127.0.0.1:7403               (its Redis port, if any)
 *   admin-token-file /home/me/.ferry/admin.token
 *        (the servers require tokens and this file, mode 0600, holds the
 *        admin token; only the ferry CLI reads it, when $FERRY_TOKEN is
 *        unset: libferry never presents a token it was not given)
 *   pid 12345            (written by 'cluster up', for 'cluster down')
 */
#ifndef FR_CLUSTER_H
#define FR_CLUSTER_H

#include <sys/types.h>

#define FR_MAX_SERVERS 64
#define FR_ADDR_MAX 64

typedef struct fr_cluster {
	char provider[16];
	char proxy[256]; /* URL of the local node proxy, or "" */
	char resp[256];  /* its Redis protocol port, redis://HOST:PORT, or "" */
	char admin_token_file[256]; /* "": an open cluster (or not said) */
	unsigned nservers;
	char servers[FR_MAX_SERVERS][FR_ADDR_MAX];
	unsigned npids;
	pid_t pids[FR_MAX_SERVERS + 1];
} fr_cluster;

/* Resolves which file to read: path if given, else $FERRY_CLUSTER, else the
 * default. Returns the path (path itself, getenv's string or a static). */
const char *fr_cluster_path(const char *path);

/* Reads a cluster file. Returns 0, FERRY_ENOCLUSTER (missing or
 * unreadable), or FERRY_EINVAL (malformed; *line receives its number). */
int fr_cluster_load(const char *path, fr_cluster *out, int *line);

/* Writes the description atomically (temporary file, then rename). */
int fr_cluster_save(const char *path, const fr_cluster *c);

#endif
