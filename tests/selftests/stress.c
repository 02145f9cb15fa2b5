// SPDX-License-Identifier: GPL-2.0
/*
 * stress: several tenants (children in their own pid namespaces) run workers
 * that allocate, map, submit, export/import and close, and get SIGKILLed at
 * random, for a fixed time, while the parent reads every tenant's usage
 * continuously and attempts rmmod of mockgpu and of the backend, and removes
 * and re-adds the target with files open. Invariants: the device's own VRAM
 * count (GET_INFO) never above the sum of the tenants' limits (the tenants
 * are the device's only users that keep buffers; mockgpu's counters cannot
 * pass a limit by construction); unloading refused with EBUSY/EWOULDBLOCK,
 * nothing else; at the end every usage and the device's VRAM back to zero.
 *
 *   stress [-t SECONDS] [-T TENANTS] [-w WORKERS] [-s SEED]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <linux/nsfs.h>

#include "ktap.h"
#include "mockgpu.h"
#include "realgpu.h"

#ifndef NS_GET_ID
#define NS_GET_ID _IOR(0xb7, 13, __u64)
#endif

#define MAXT 8
static const char *proxy = "/dev/mockgpu/realgpu";
static uint64_t limit_of[MAXT], pidns_of[MAXT];
static pid_t leader[MAXT];

static uint64_t rng;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* One worker: a loop of random GPU work until killed or done. */
static void worker(double until)
{
	int fd = open(proxy, O_RDWR), fd2 = open(proxy, O_RDWR);
	uint32_t handles[16] = { 0 };

	while (now() < until) {
		int i = rnd() % 16;

		switch (rnd() % 6) {
		case 0: case 1: {
			struct realgpu_alloc a = { .size = (rnd() % 16 + 1) * 4096 };

			if (!handles[i] && ioctl(fd, REALGPU_IOCTL_ALLOC, &a) == 0)
				handles[i] = a.handle;
			break;
		}
		case 2: {
			struct realgpu_free f = { .handle = handles[i] };

			if (handles[i] && ioctl(fd, REALGPU_IOCTL_FREE, &f) == 0)
				handles[i] = 0;
			break;
		}
		case 3: {
			struct realgpu_submit s = { .op = REALGPU_OP_FILL, .dst = handles[i],
						    .value = 7, .cost_us = rnd() % 500 };

			if (!handles[i])
				s.op = REALGPU_OP_NOP, s.dst = 0;
			ioctl(fd, REALGPU_IOCTL_SUBMIT, &s);
			break;
		}
		case 4:
			if (handles[i]) {
				void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
					       (off_t)handles[i] << 32);

				if (p != MAP_FAILED) {
					*(volatile char *)p = 1;
					munmap(p, 4096);
				}
			}
			break;
		default:
			if (handles[i]) {
				struct realgpu_export e = { .handle = handles[i] };
				struct realgpu_import im;

				if (ioctl(fd, REALGPU_IOCTL_EXPORT, &e) == 0) {
					im = (struct realgpu_import){ .fd = e.fd };
					ioctl(fd2, REALGPU_IOCTL_IMPORT, &im);
					close(e.fd);
				}
			}
		}
	}
	_exit(0);
}

/* A tenant's leader: keeps @workers workers running, killing some at random. */
static void tenant(int workers, double until, uint64_t seed)
{
	rng = seed;
	for (int w = 0; w < workers; w++)
		if (fork() == 0) {
			rng = seed + w + 1;
			worker(until);
		}
	while (now() < until) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);

		if (pid > 0 && fork() == 0) {
			rng = rnd();
			worker(until);
		}
		if (rnd() % 8 == 0) {
			/* SIGKILL a random process of the tenant (never itself, pid 1). */
			kill(2 + rnd() % (workers * 4), SIGKILL);
		}
		usleep(20000);
	}
	while (wait(NULL) > 0)
		;
	_exit(0);
}

static int ctl(unsigned long cmd, void *req)
{
	int fd = open("/dev/mockgpu-control", O_RDWR), r;

	if (fd < 0)
		return -1;
	r = ioctl(fd, cmd, req);
	close(fd);
	return r;
}

static int usage_all(struct mockgpu_usage *u, int cap)
{
	struct mockgpu_usage_list req = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(req) },
					  .capacity = cap, .entries = (uintptr_t)u };

	return ctl(MOCKGPU_IOCTL_USAGE_LIST, &req) ? -1 : (int)req.count;
}

/* Bytes the device has allocated, all contexts; UINT64_MAX if it cannot tell. */
static uint64_t device_used(int real)
{
	struct realgpu_info info;

	return ioctl(real, REALGPU_IOCTL_GET_INFO, &info) ? UINT64_MAX : info.vram_used;
}

/*
 * Tries to unload @name, which must be refused as in use: EWOULDBLOCK (a
 * module reference held, O_NONBLOCK) or EBUSY (not live). Returns 1 then;
 * anything else (ENOENT for a wrong name, success) is reported once and 0.
 */
static int unload_refused(const char *name)
{
	static int reported;
	long r = syscall(__NR_delete_module, name, O_NONBLOCK);
	int e = errno;

	if (r == -1 && (e == EBUSY || e == EAGAIN || e == EWOULDBLOCK))
		return 1;
	if (!reported++)
		ktap_diag("delete_module(%s): %s", name, r == 0 ? "unloaded" : strerror(e));
	return 0;
}

int main(int argc, char **argv)
{
	int secs = 20, tenants = 4, workers = 4, opt, over = 0, samples = 0, self;
	int rmmod_refused = 0, rmmod_tries = 0, readds = 0, real;
	uint64_t seed = 1, bound = 0, peak = 0, base, charge_peak[MAXT] = { 0 };
	static struct mockgpu_usage u[256];
	double until;

	while ((opt = getopt(argc, argv, "t:T:w:s:")) != -1) {
		switch (opt) {
		case 't': secs = atoi(optarg); break;
		case 'T': tenants = atoi(optarg) > MAXT ? MAXT : atoi(optarg); break;
		case 'w': workers = atoi(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		default: return 2;
		}
	}
	ktap_header(6);
	ktap_diag("%d s, %d tenants x %d workers, seed %llu", secs, tenants, workers,
		  (unsigned long long)seed);
	rng = seed;
	until = now() + secs;
	self = open("/proc/self/ns/pid", O_RDONLY);
	/* Before any tenant starts, the device is idle. */
	real = open("/dev/realgpu", O_RDWR);
	base = device_used(real);
	close(real);
	for (int t = 0; t < tenants; t++) {
		struct mockgpu_limit l = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(l) } };
		char path[64];
		int go[2], nsfd;
		char c;

		if (pipe(go) || unshare(CLONE_NEWPID))
			return 1;
		leader[t] = fork();
		if (leader[t] == 0) {
			if (read(go[0], &c, 1) != 1)
				_exit(1);
			tenant(workers, until, seed * 1000 + t);
		}
		setns(self, CLONE_NEWPID);
		/* Tenants are keyed by the namespace's unique id, not its inode number. */
		snprintf(path, sizeof(path), "/proc/%d/ns/pid", leader[t]);
		nsfd = open(path, O_RDONLY);
		if (nsfd < 0 || ioctl(nsfd, NS_GET_ID, &pidns_of[t]))
			ktap_diag("NS_GET_ID of %s: %s", path, strerror(errno));
		close(nsfd);
		limit_of[t] = (uint64_t)(t + 1) * (256 << 10);
		bound += limit_of[t];
		strcpy(l.target, "realgpu");
		l.tenant.kind = MOCKGPU_TENANT_PIDNS;
		l.tenant.id = pidns_of[t];
		l.limits.memory = limit_of[t];
		l.limits.files = 64;
		l.limits.compute_pct = 20 + 10 * t;
		ctl(MOCKGPU_IOCTL_LIMIT_SET, &l);
		if (write(go[1], "g", 1) != 1)
			return 1;
	}
	/* A file the parent holds all along: unloading must be refused meanwhile. */
	int held = open(proxy, O_RDWR);

	/*
	 * The parent reads the device's own count on the real node, opened
	 * after the tenants forked (they must not hold it). It closes this
	 * file around each unload attempt: only the proxy's files hold the
	 * backend then.
	 */
	real = open("/dev/realgpu", O_RDWR | O_CLOEXEC);

	while (now() < until + 2) {
		/*
		 * The device's count against the sum of the limits: every
		 * tenant can allocate, and the parent's own buffer (below) is
		 * freed before the next sample. mockgpu's charges only for the
		 * record: they cannot pass a limit by construction.
		 */
		uint64_t d = device_used(real);
		int n = usage_all(u, 256);

		if (d > peak)
			peak = d;
		if (d > bound) {
			if (!over)
				ktap_diag("device VRAM at %llu, sum of the limits %llu",
					  (unsigned long long)d, (unsigned long long)bound);
			over++;
		}
		for (int i = 0; i < n && i < 256; i++)
			for (int t = 0; t < tenants; t++)
				if (u[i].tenant.id == pidns_of[t] && u[i].memory_used > charge_peak[t])
					charge_peak[t] = u[i].memory_used;
		samples++;
		if (samples % 25 == 0 && held >= 0) {
			/* Lifecycle: unloading mockgpu or the backend under load must be refused. */
			close(real);
			rmmod_tries += 2;
			rmmod_refused += unload_refused("mockgpu");
			rmmod_refused += unload_refused("realgpu");
			real = open("/dev/realgpu", O_RDWR | O_CLOEXEC);
		}
		if (samples % 50 == 25) {
			/*
			 * Remove and re-add a second target of the same device
			 * (/tmp/realgpu2 -> /dev/realgpu) with a file and a
			 * mapping open on it; both must keep working.
			 */
			struct mockgpu_target_remove rm = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(rm) } };
			struct mockgpu_target_add add = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(add) } };
			struct realgpu_alloc a = { .size = 4096 };
			struct realgpu_info info;
			int fd = open("/dev/mockgpu/realgpu2", O_RDWR);
			volatile char *p = MAP_FAILED;

			if (fd >= 0 && ioctl(fd, REALGPU_IOCTL_ALLOC, &a) == 0)
				p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, a.mmap_offset);
			strcpy(rm.name, "realgpu2");
			strcpy(add.path, "/tmp/realgpu2");
			if (fd >= 0 && p != MAP_FAILED && ctl(MOCKGPU_IOCTL_TARGET_REMOVE, &rm) == 0 &&
			    ioctl(fd, REALGPU_IOCTL_GET_INFO, &info) == 0 &&
			    (p[0] = 1, ctl(MOCKGPU_IOCTL_TARGET_ADD, &add) == 0))
				readds++;
			if (p != MAP_FAILED)
				munmap((void *)p, 4096);
			if (fd >= 0)
				close(fd);
		}
		usleep(20000);
	}
	for (int t = 0; t < tenants; t++) {
		kill(leader[t], SIGKILL);	/* the namespaces die with files open */
		waitpid(leader[t], NULL, 0);
	}
	close(held);
	close(real);
	ktap_diag("%d usage samples, %d re-adds of the target, %d/%d rmmod attempts refused",
		  samples, readds, rmmod_refused, rmmod_tries);
	ktap_diag("device VRAM %llu before, peak %llu, %d samples above; sum of the limits %llu",
		  (unsigned long long)base, (unsigned long long)peak, over,
		  (unsigned long long)bound);
	for (int t = 0; t < tenants; t++)
		ktap_diag("tenant %d: mockgpu's charge peak %llu, limit %llu", t,
			  (unsigned long long)charge_peak[t], (unsigned long long)limit_of[t]);
	/*
	 * Judged by the device's own count: a buffer freed while a queued job,
	 * a mapping or an export still holds it stays charged until it dies
	 * (mockgpu/linger.rs), so the device never holds more than the limits.
	 */
	ktap_result(base == 0, "the device's VRAM was 0 before the run");
	ktap_result(over == 0, "the device's VRAM never above the sum of the tenants' limits (%d samples)",
		    samples);
	ktap_result(held >= 0 && rmmod_tries > 0 && rmmod_refused == rmmod_tries,
		    "rmmod of mockgpu and of the backend refused as in use while files are open");
	ktap_result(readds > 0, "a target was removed and re-added %d times with a file and a mapping open", readds);
	{
		int n, bad = 0;

		usleep(500000);
		n = usage_all(u, 256);
		for (int i = 0; i < n && i < 256; i++)
			if (u[i].memory_used || u[i].files_used) {
				ktap_diag("tenant %llu: memory %llu, files %llu left",
					  (unsigned long long)u[i].tenant.id,
					  (unsigned long long)u[i].memory_used,
					  (unsigned long long)u[i].files_used);
				bad++;
			}
		ktap_result(n >= 0 && bad == 0, "every tenant's usage back to exactly zero");
	}
	{
		/*
		 * The device frees its buffers asynchronously after the
		 * processes die (deferred fput of the real files, queued jobs
		 * holding buffers): wait up to 10 s for it.
		 */
		struct realgpu_info info = { 0 };
		double t0 = now();

		do {
			int fd = open("/dev/realgpu", O_RDWR);

			ioctl(fd, REALGPU_IOCTL_GET_INFO, &info);
			close(fd);
			if (info.vram_used)
				usleep(100000);
		} while (info.vram_used && now() - t0 < 10);
		ktap_diag("device VRAM %llu after %.1f s", (unsigned long long)info.vram_used,
			  now() - t0);
		ktap_result(info.vram_used == 0, "the device's VRAM back to zero");
	}
	return ktap_finish();
}
