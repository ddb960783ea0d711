/*
 * shm regions left behind. libfabric's shm provider (1.17) keeps each
 * endpoint's queues in a file under /dev/shm (4-16 MiB of memory) that it
 * unlinks when the endpoint closes. A process killed with SIGKILL, or one
 * that execs with an endpoint open, leaves its file for good, and a peer
 * that was sending to it never learns it is gone.
 *
 * So ferry names every client's region "ferry-PID-NONCE..." (fab.c), and
 * each process holds a shared flock(2) on its own region file from the
 * moment its endpoint is open until it closes it; the kernel drops the
 * lock when the process dies or execs (the descriptor is close-on-exec).
 * A client region that nobody holds is a dead process's: it may go.
 * Locks, unlike pids, mean the same thing across pid namespaces. A
 * server's region (named HOST:PORT) is never removed here: libfabric
 * takes over, in place, the region of a server whose process is gone, so
 * that its clients' mappings of it stay good across a restart; a new
 * file would leave them writing into the old one.
 *
 * There is a moment between libfabric creating a region and its owner
 * locking it; fr_region_sweep therefore leaves regions younger than its
 * min_age_s alone. A peer that has greeted a server was past that moment
 * before it sent anything, so checks of known peers need no age.
 */
#ifndef FR_REGION_H
#define FR_REGION_H

#include <stddef.h>

#define FR_REGION_PREFIX "ferry-"

/* The region file's name inside an shm address ("fi_shm://NAME" or
 * "fi_ns://NAME", NUL-terminated or not) into name[cap]. Returns 0, or -1
 * if addr is not such an address or not a ferry client's, or NAME could
 * name anything outside dir (a '/'). */
int fr_region_name(const void *addr, size_t len, char *name, size_t cap);

/* Opens dir/name and takes a shared lock on it, without waiting. Returns
 * the descriptor to keep open (close-on-exec), or -1 with errno set. */
int fr_region_hold(const char *dir, const char *name);

/* Removes dir/name if it is a ferry client's, nobody holds it, and its
 * status changed at least min_age_s seconds ago. Returns 1 if the file is
 * gone (removed here, or before), 0 if it stays. */
int fr_region_reap(const char *dir, const char *name, unsigned min_age_s);

/* fr_region_reap on every ferry client region in dir. Returns how many
 * went. */
unsigned fr_region_sweep(const char *dir, unsigned min_age_s);

#endif
