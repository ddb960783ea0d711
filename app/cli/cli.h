/* The ferry command-line tool: one file per group of commands. */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.h"

/* Global options, set by main before a command runs. */
extern const char *cli_cluster; /* --cluster FILE, or NULL */
extern int cli_direct;          /* --direct: bypass the node proxy */

/* ferry_opts_init, for the cluster file cluster (NULL: the usual search),
 * with the token the CLI presents: $FERRY_TOKEN when set, else the admin
 * token from the file that the cluster file's admin-token-file names, if
 * this user can read it (o->cluster is then that cluster file), else
 * none. The token stays valid until the next call. */
void cli_opts_init(ferry_opts *o, const char *cluster);

/* Connects with the global options; prints the reason and returns NULL on
 * failure. */
ferry_client *cli_connect(void);

/* "2024-01-02T03:04:05Z" for a time in ms since the epoch. Returns buf. */
char *cli_fmt_time(uint64_t ms, char *buf, size_t cap);

/* "never", or "2024-01-02T03:04:05Z (in 29.5s)" for an expiry in ms since
 * the epoch. Returns buf. */
char *cli_fmt_expiry(uint64_t expire_ms, char *buf, size_t cap);

/* 1 (after printing "Usage: usage" on stdout) if argv asks for help. */
int cli_wants_help(int argc, char **argv, const char *usage);

/* Prints "ferry: what: reason" to stderr and returns 1 (an exit code). */
int cli_fail(const char *what, int err);

/* A progress line on stderr, only when stderr is a terminal. */
typedef struct cli_progress {
	const char *label;
	uint64_t total, done, start_ns, last_ns;
	int on;
} cli_progress;
void cli_progress_start(cli_progress *p, const char *label, uint64_t total);
void cli_progress_add(cli_progress *p, uint64_t bytes);
void cli_progress_end(cli_progress *p);

/* Commands: each returns the process's exit code. */
int cli_put(int argc, char **argv);
int cli_get(int argc, char **argv);
int cli_rm(int argc, char **argv);
int cli_ls(int argc, char **argv);
int cli_stat(int argc, char **argv);
int cli_expire(int argc, char **argv);
int cli_wait(int argc, char **argv);
int cli_watch(int argc, char **argv);
int cli_cluster_cmd(int argc, char **argv);
int cli_ns(int argc, char **argv);
int cli_bench(int argc, char **argv);

#endif
