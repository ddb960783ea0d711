/* ferry cluster up|status|restart|down: a whole cluster on this host. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/cluster.h"
#include "common/proc.h"
#include "common/token.h"
#include "common/util.h"
#include "fabric/fab.h"

#define START_TIMEOUT_MS 15000
#define STOP_TIMEOUT_MS 5000

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ferry cluster up [--servers N] [--provider tcp|shm|verbs]\n"
		"                        [--memory SIZE] [--dir DIR] [--host HOST]\n"
		"                        [--port PORT] [--no-proxy] [--open]\n"
		"       ferry cluster status\n"
		"       ferry cluster restart\n"
		"       ferry cluster down\n"
		"\n"
		"'up' starts N ferry-server processes (default 2) in the\n"
		"background on HOST (default 127.0.0.1), ports PORT.. (default\n"
		"7400), each with a SIZE arena (default 256M), and a node proxy\n"
		"(ferry-proxy) on DIR/proxy.sock and TCP port PORT+N, which\n"
		"also speaks the Redis protocol on DIR/redis.sock and TCP port\n"
		"PORT+N+1 (any Redis client works there); waits until they\n"
		"answer, and writes DIR/cluster (DIR defaults to the folder of\n"
		"%s). Logs go to DIR/server-I.log and\n"
		"DIR/proxy.log. --no-proxy starts the servers only.\n"
		"The cluster requires tokens: 'up' makes an admin token in\n"
		"DIR/admin.token (mode 0600) and names it in the cluster file;\n"
		"ferry commands present it when FERRY_TOKEN is not set, and\n"
		"'ferry ns create' makes namespaces with tokens of their own.\n"
		"--open starts a cluster without tokens, where every client\n"
		"is the admin.\n"
		"Each server keeps its namespaces in DIR/server-I.state.\n"
		"'status' shows the servers and whether tokens are required;\n"
		"'restart' starts again, as 'up' started them, the servers and\n"
		"the proxy that are gone (killed, crashed): a server comes back\n"
		"empty but with its namespaces, whose tokens work again;\n"
		"'down' stops them and removes the cluster file, the admin\n"
		"token and the servers' state.\n",
		ferry_default_cluster());
}

/* The path of ferry-server: beside this program. */
static int server_path(char *buf, size_t cap)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return FERRY_EIO;
	self[n] = '\0';
	snprintf(buf, cap, "%s/ferry-server", dirname(self));
	return access(buf, X_OK) ? FERRY_EIO : 0;
}

static int mkdirs(const char *dir)
{
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0755);
			*p = '/';
		}
	return mkdir(tmp, 0755) && errno != EEXIST ? FERRY_EIO : 0;
}

/* The folder DIR of the cluster file DIR/cluster, where 'up' keeps the
 * rest. */
static void dir_of(const char *file, char *out, size_t cap)
{
	const char *slash = strrchr(file, '/');

	if (slash)
		snprintf(out, cap, "%.*s", (int)(slash - file), file);
	else
		snprintf(out, cap, ".");
}

/* Where 'up' puts the admin token: DIR/admin.token. */
static void token_path(const char *file, char *out, size_t cap)
{
	char dir[600];

	dir_of(file, dir, sizeof(dir));
	if (snprintf(out, cap, "%s/admin.token", dir) >= (int)cap)
		out[0] = '\0'; /* too long a path: no such file */
}

/* Writes a fresh admin token to path, readable by this user only. A file
 * already there (an old cluster's token) is replaced, never followed if it
 * is a link. */
static int write_admin_token(const char *path, char *token)
{
	int fd, rc = fr_token_new(token);

	if (rc)
		return rc;
	if (unlink(path) && errno != ENOENT)
		return FERRY_EIO;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return FERRY_EIO;
	rc = dprintf(fd, "%s\n", token) == FERRY_TOKEN_LEN + 1 ? 0 : FERRY_EIO;
	if (close(fd) && !rc)
		rc = FERRY_EIO;
	if (rc)
		unlink(path);
	return rc;
}

/* 1 if the ferry-proxy at bin takes --admin-token-file (and so checks its
 * functions' tokens), as its --help says; older proxies do not. */
static int proxy_takes_tokens(char *bin, const char *dir)
{
	char out[700], line[256];
	char *args[] = {bin, "--help", NULL};
	int status, found = 0;
	FILE *f;

	snprintf(out, sizeof(out), "%s/proxy-help.txt", dir);
	unlink(out);
	if (fr_spawn(args, out, 0, NULL, &status) == 0 &&
	    (f = fopen(out, "r"))) {
		while (!found && fgets(line, sizeof(line), f))
			found = strstr(line, "--admin-token-file") != NULL;
		fclose(f);
	}
	unlink(out);
	return found;
}

/* What 'up' started is kept for 'restart' in DIR/NAME.cmd (its
 * arguments, each ended by a NUL), NAME being server-I or proxy. */
static void cmd_path(const char *dir, const char *name, char *out,
		     size_t cap)
{
	snprintf(out, cap, "%s/%s.cmd", dir, name);
}

static int save_cmd(const char *dir, const char *name, char *const argv[])
{
	char path[700];
	FILE *f;
	int rc = 0;

	cmd_path(dir, name, path, sizeof(path));
	if (!(f = fopen(path, "we")))
		return FERRY_EIO;
	for (int i = 0; argv[i]; i++)
		rc |= fwrite(argv[i], strlen(argv[i]) + 1, 1, f) != 1;
	rc |= fclose(f) != 0;
	return rc ? FERRY_EIO : 0;
}

/* Reads DIR/NAME.cmd into buf, and argv[] (NULL-ended) pointing into it.
 * Returns 0, or -1 if there is none (or it is malformed). */
static int load_cmd(const char *dir, const char *name, char *buf,
		    size_t cap, char **argv, int max)
{
	char path[700];
	FILE *f;
	size_t n;
	int argc = 0;

	cmd_path(dir, name, path, sizeof(path));
	if (!(f = fopen(path, "re")))
		return -1;
	n = fread(buf, 1, cap, f);
	fclose(f);
	if (n == 0 || n == cap || buf[n - 1] != '\0')
		return -1;
	for (size_t off = 0; off < n && argc < max - 1;
	     off += strlen(buf + off) + 1)
		argv[argc++] = buf + off;
	argv[argc] = NULL;
	return 0;
}

/* The name of what cl->pids[i] runs (see load_cmd). */
static void proc_name(const fr_cluster *cl, unsigned i, char *out,
		      size_t cap)
{
	if (i < cl->nservers)
		snprintf(out, cap, "server-%u", i);
	else
		snprintf(out, cap, "proxy");
}

/* Removes what 'up' kept for each process of cl in dir, and on shm the
 * servers' regions, which outlive them (src/fabric/fab.c). */
static void forget_procs(const fr_cluster *cl, const char *dir)
{
	char name[32], path[700];

	for (unsigned i = 0; i < cl->nservers; i++)
		fr_fab_drop_server_region(cl->provider, cl->servers[i]);
	for (unsigned i = 0; i < cl->npids; i++) {
		proc_name(cl, i, name, sizeof(name));
		cmd_path(dir, name, path, sizeof(path));
		unlink(path);
		if (i < cl->nservers) {
			snprintf(path, sizeof(path), "%s/%s.state", dir, name);
			unlink(path);
		}
	}
}

static int alive(const fr_cluster *cl)
{
	for (unsigned i = 0; i < cl->npids; i++)
		if (fr_pid_alive(cl->pids[i]))
			return 1;
	return 0;
}

static void stop_all(const fr_cluster *cl)
{
	fr_stop_pids(cl->pids, cl->npids, STOP_TIMEOUT_MS);
}

/* Whether the cluster requires tokens, and where the admin's is. */
static void print_auth(const fr_cluster *cl)
{
	if (cl->admin_token_file[0])
		printf("tokens: required; admin token in %s\n",
		       cl->admin_token_file);
	else
		printf("tokens: not required (an open cluster: every client "
		       "is the admin)\n");
}

/* Starts the node proxy over the servers just written to file, on
 * DIR/proxy.sock and HOST:PORT, with the Redis protocol on DIR/redis.sock
 * and HOST:PORT+1, and records it in the description. In a cluster that
 * requires tokens (token not NULL) the proxy gets the admin token file;
 * a proxy too old to take one connects with the admin token from
 * $FERRY_TOKEN and does not check its functions' tokens. */
static int start_proxy(fr_cluster *cl, const char *dir, const char *file,
		       char *bin, const char *host, unsigned port,
		       const char *token)
{
	char sock[200], tcp[300], log[700], rsock[200], rtcp[200];
	char *args[] = {bin,   "--cluster", (char *)file, "--unix",
			sock,  "--tcp",	    tcp,	  "--resp",
			rtcp,  "--resp-unix", rsock,	  NULL,
			NULL,  NULL}; /* room for --admin-token-file */
	pid_t pid;
	int rc;

	snprintf(strrchr(bin, '/') + 1, 16, "ferry-proxy");
	if (token && proxy_takes_tokens(bin, dir)) {
		args[11] = "--admin-token-file";
		args[12] = cl->admin_token_file;
	} else if (token) {
		setenv("FERRY_TOKEN", token, 1);
		fprintf(stderr,
			"ferry: note: this ferry-proxy does not check tokens: "
			"functions through it\n"
			"       act as the admin in the default namespace\n");
	}
	/* A Unix socket path must fit sockaddr_un (108 bytes). */
	if (snprintf(sock, 108, "%s/proxy.sock", dir) >= 108 ||
	    snprintf(rsock, 108, "%s/redis.sock", dir) >= 108) {
		fprintf(stderr, "ferry: %s is too long a path for a socket\n",
			dir);
		return FERRY_EINVAL;
	}
	snprintf(tcp, sizeof(tcp), "%s:%u", host, port);
	snprintf(rtcp, sizeof(rtcp), "%s:%u", host, port + 1);
	snprintf(log, sizeof(log), "%s/proxy.log", dir);
	rc = fr_spawn_ready(args, log, START_TIMEOUT_MS, &pid);
	if (rc) {
		fprintf(stderr, "ferry: the node proxy did not start (%s); see %s\n",
			ferry_strerror(rc), log);
		return rc;
	}
	cl->pids[cl->npids++] = pid;
	if ((rc = save_cmd(dir, "proxy", args)))
		return rc;
	snprintf(cl->proxy, sizeof(cl->proxy), "unix://%s", sock);
	snprintf(cl->resp, sizeof(cl->resp), "redis://%s", rtcp);
	return 0;
}

static int up(int argc, char **argv)
{
	static const struct option opts[] = {
		{"servers", required_argument, NULL, 'n'},
		{"provider", required_argument, NULL, 'p'},
		{"memory", required_argument, NULL, 'm'},
		{"dir", required_argument, NULL, 'd'},
		{"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'P'},
		{"no-proxy", no_argument, NULL, 'N'},
		{"open", no_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	char dir[512], file[600], bin[4200], log[700], port[16], listen[FR_ADDR_MAX];
	const char *provider = "tcp", *memory = "256M", *host = "127.0.0.1";
	char token[FERRY_TOKEN_LEN + 1];
	unsigned n = 2, base = 7400;
	int proxy = 1, tokens = 1;
	uint64_t bytes;
	fr_cluster cl, old;
	int c, rc;

	snprintf(file, sizeof(file), "%s", ferry_default_cluster());
	snprintf(dir, sizeof(dir), "%s", dirname(file));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (fr_parse_uint(optarg, 1, FR_MAX_SERVERS, &n))
				n = 0; /* refused below */
			break;
		case 'p':
			provider = optarg;
			break;
		case 'm':
			memory = optarg;
			break;
		case 'd':
			snprintf(dir, sizeof(dir), "%s", optarg);
			break;
		case 'H':
			host = optarg;
			break;
		case 'P':
			if (fr_parse_uint(optarg, 1, 65535, &base))
				base = 0; /* refused below */
			break;
		case 'N':
			proxy = 0;
			break;
		case 'o':
			tokens = 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (n < 1 || n > FR_MAX_SERVERS || base < 1 || base + n + 1 >= 65535 ||
	    fr_parse_size(memory, &bytes) ||
	    (strcmp(provider, "tcp") && strcmp(provider, "shm") &&
	     strcmp(provider, "verbs"))) {
		fprintf(stderr, "ferry: cluster up: bad option value\n");
		usage(stderr);
		return 2;
	}
	if (mkdirs(dir)) {
		fprintf(stderr, "ferry: cannot create %s: %s\n", dir,
			strerror(errno));
		return 1;
	}
	snprintf(file, sizeof(file), "%s/cluster", dir);
	if (fr_cluster_load(file, &old, NULL) == 0 && alive(&old)) {
		fprintf(stderr,
			"ferry: a cluster is already running (%s); "
			"'ferry cluster down' stops it\n",
			file);
		return 1;
	}
	if (server_path(bin, sizeof(bin))) {
		fprintf(stderr, "ferry: ferry-server not found beside ferry\n");
		return 1;
	}
	memset(&cl, 0, sizeof(cl));
	snprintf(cl.provider, sizeof(cl.provider), "%s", provider);
	if (tokens) {
		token_path(file, cl.admin_token_file,
			   sizeof(cl.admin_token_file));
		if (write_admin_token(cl.admin_token_file, token)) {
			fprintf(stderr, "ferry: cannot write %s: %s\n",
				cl.admin_token_file, strerror(errno));
			return 1;
		}
	}
	/* The servers and the proxy get the token they are meant to have,
	 * whatever this shell's $FERRY_TOKEN says. */
	unsetenv("FERRY_TOKEN");
	for (unsigned i = 0; i < n; i++) {
		char name[32], state[700];
		char *args[] = {bin, "--listen", listen, "--provider",
				(char *)provider, "--memory", (char *)memory,
				"--state-file", state,
				tokens ? "--admin-token-file" : NULL,
				cl.admin_token_file, NULL};
		pid_t pid;
		snprintf(port, sizeof(port), "%u", base + i);
		snprintf(listen, sizeof(listen), "%s:%s", host, port);
		snprintf(name, sizeof(name), "server-%u", i);
		snprintf(log, sizeof(log), "%s/%s.log", dir, name);
		snprintf(state, sizeof(state), "%s/%s.state", dir, name);
		unlink(state); /* a new cluster starts empty */
		rc = fr_spawn_ready(args, log, START_TIMEOUT_MS, &pid);
		if (!rc) {
			memcpy(cl.servers[cl.nservers++], listen,
			       sizeof(listen));
			cl.pids[cl.npids++] = pid;
			rc = save_cmd(dir, name, args);
		}
		if (rc) {
			fprintf(stderr,
				"ferry: server %s did not start (%s); see %s\n",
				listen, ferry_strerror(rc), log);
			stop_all(&cl);
			forget_procs(&cl, dir);
			if (tokens)
				unlink(cl.admin_token_file);
			return 1;
		}
	}
	rc = fr_cluster_save(file, &cl);
	if (!rc && proxy)
		rc = start_proxy(&cl, dir, file, bin, host, base + n,
				 tokens ? token : NULL);
	memset(token, 0, sizeof(token));
	if (!rc)
		rc = fr_cluster_save(file, &cl);
	if (rc) {
		stop_all(&cl);
		forget_procs(&cl, dir);
		unlink(file);
		if (tokens)
			unlink(cl.admin_token_file);
		return cli_fail("cluster up", rc);
	}
	printf("cluster up: %u server%s over %s at %s..%u, %s each\n", n,
	       n == 1 ? "" : "s", provider, cl.servers[0], base + n - 1,
	       memory);
	print_auth(&cl);
	if (proxy)
		printf("node proxy: %s and tcp://%s:%u\n"
		       "redis protocol: %s and %s/redis.sock\n",
		       cl.proxy, host, base + n, cl.resp, dir);
	printf("cluster file: %s\n", file);
	if (strcmp(file, ferry_default_cluster()) != 0)
		printf("use it with: export FERRY_CLUSTER=%s\n", file);
	return 0;
}

static int down(void)
{
	const char *file = fr_cluster_path(cli_cluster);
	char path[600];
	fr_cluster cl;
	int rc = fr_cluster_load(file, &cl, NULL);

	if (rc) {
		fprintf(stderr, "ferry: no cluster at %s\n", file);
		return 1;
	}
	stop_all(&cl);
	dir_of(file, path, sizeof(path));
	forget_procs(&cl, path);
	unlink(file);
	/* The token 'up' wrote beside the cluster file (and no other file
	 * the cluster file might name) goes too: it opens nothing now. */
	token_path(file, path, sizeof(path));
	if (!strcmp(cl.admin_token_file, path))
		unlink(path);
	printf("cluster down: stopped %u server%s%s\n", cl.nservers,
	       cl.nservers == 1 ? "" : "s",
	       cl.proxy[0] ? " and the node proxy" : "");
	return 0;
}

/* Starts again, as 'up' did, what of the cluster is gone. */
static int restart(void)
{
	const char *file = fr_cluster_path(cli_cluster);
	char dir[600], name[32], log[700], buf[8192], *args[32];
	unsigned started = 0;
	fr_cluster cl;
	int rc = fr_cluster_load(file, &cl, NULL);

	if (rc) {
		fprintf(stderr, "ferry: no cluster at %s\n", file);
		return 1;
	}
	dir_of(file, dir, sizeof(dir));
	unsetenv("FERRY_TOKEN"); /* as 'up' */
	for (unsigned i = 0; i < cl.npids && !rc; i++) {
		if (fr_pid_alive(cl.pids[i]))
			continue;
		proc_name(&cl, i, name, sizeof(name));
		snprintf(log, sizeof(log), "%s/%s.log", dir, name);
		if (load_cmd(dir, name, buf, sizeof(buf), args, 32)) {
			fprintf(stderr,
				"ferry: cluster restart: %s/%s.cmd is missing; "
				"'ferry cluster down' and 'up' start anew\n",
				dir, name);
			rc = FERRY_EINVAL;
		} else if ((rc = fr_spawn_ready(args, log, START_TIMEOUT_MS,
						&cl.pids[i]))) {
			fprintf(stderr, "ferry: %s did not start (%s); see %s\n",
				name, ferry_strerror(rc), log);
		} else {
			printf("restarted %s (pid %ld)\n",
			       i < cl.nservers ? cl.servers[i] : "the node proxy",
			       (long)cl.pids[i]);
			started++;
		}
	}
	if (started && fr_cluster_save(file, &cl))
		return cli_fail("cluster restart", FERRY_EIO);
	if (!rc && !started)
		printf("cluster restart: everything is running\n");
	return rc ? 1 : 0;
}

static int status(void)
{
	const char *file = fr_cluster_path(cli_cluster);
	fr_cluster cl;
	char *none[] = {"stat", NULL};
	int rc = fr_cluster_load(file, &cl, NULL);

	if (rc) {
		fprintf(stderr, "ferry: no cluster at %s\n", file);
		return 1;
	}
	printf("cluster file: %s (provider %s)\n", file, cl.provider);
	if (cl.proxy[0])
		printf("node proxy: %s\n", cl.proxy);
	if (cl.resp[0])
		printf("redis protocol: %s\n", cl.resp);
	print_auth(&cl);
	for (unsigned i = 0; i < cl.npids; i++)
		printf("  pid %ld: %s\n", (long)cl.pids[i],
		       fr_pid_alive(cl.pids[i]) ? "running" : "gone");
	return cli_stat(1, none);
}

int cli_cluster_cmd(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "up"))
		return up(argc - 1, argv + 1);
	if (!strcmp(argv[1], "down"))
		return down();
	if (!strcmp(argv[1], "status"))
		return status();
	if (!strcmp(argv[1], "restart"))
		return restart();
	fprintf(stderr, "ferry: unknown cluster command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
