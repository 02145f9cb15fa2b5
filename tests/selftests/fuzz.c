// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz: drives mockgpu's proxy of the simulated GPU with random calls,
 * reproducibly from a seed, as a limited tenant; then checks that nothing
 * leaked: every proxy file closed, the tenant's usage back to exactly zero,
 * the device's VRAM back to zero, and the device's VRAM never above the
 * tenant's limit while it ran (the tenant is the device's only user, so the
 * device's own count is the tenant's; mockgpu's counter cannot pass the
 * limit by construction).
 *
 *   fuzz [-s SEED] [-n CALLS] [-d PROXY]
 *
 * Calls: ioctls with random numbers (the decoded ones often, with random
 * fields), sizes and argument pointers (valid, NULL, unmapped, kernel,
 * misaligned, spanning into an unreadable page), mmap with random offsets and
 * lengths, and random close, dup and fork. Kernel splats are the runner's to
 * catch (a debug kernel: KASAN, lockdep, kmemleak).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <errno.h>
#include <linux/nsfs.h>

#include "ktap.h"
#include "mockgpu.h"
#include "realgpu.h"

#ifndef NS_GET_ID
#define NS_GET_ID _IOR(0xb7, 13, __u64)
#endif

static uint64_t rng;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

#define NFD 8
#define LIMIT (2u << 20)
static const char *proxy = "/dev/mockgpu/realgpu";
static unsigned char *arena;	/* 2 pages: the second is PROT_NONE */

static const uint32_t known[] = {
	REALGPU_IOCTL_GET_INFO, REALGPU_IOCTL_ALLOC, REALGPU_IOCTL_FREE, REALGPU_IOCTL_SUBMIT,
	REALGPU_IOCTL_WAIT, REALGPU_IOCTL_EXPORT, REALGPU_IOCTL_IMPORT, REALGPU_IOCTL_ATTACH_PEER,
};

static void *random_ptr(size_t size)
{
	switch (rnd() % 8) {
	case 0:
		return NULL;
	case 1:
		return (void *)0x1000;				/* unmapped */
	case 2:
		return (void *)(0xffffffff81000000ull + (rnd() % 4096));	/* kernel */
	case 3:
		return arena + 1;				/* misaligned */
	case 4:
		return arena + 4096 - (size ? size / 2 : 1);	/* spans into PROT_NONE */
	default:
		return arena + (rnd() % 64) * 8;		/* valid */
	}
}

static void fill_arena(void)
{
	uint64_t *w = (uint64_t *)arena;

	for (int i = 0; i < 64; i++) {
		switch (rnd() % 4) {
		case 0: w[i] = rnd() % 16; break;			/* small: handles, fds */
		case 1: w[i] = (rnd() % 64) * 4096; break;		/* sizes */
		case 2: w[i] = 0; break;
		default: w[i] = rnd(); break;
		}
	}
	/* Keep declared job costs small, so the fuzzer spends its time calling. */
	((struct realgpu_submit *)(arena + 8 * (rnd() % 8)))->cost_us = rnd() % 200;
}

static sigjmp_buf fault_jmp;
static int one_call(int *fds)
{
	int i = rnd() % NFD, fd = fds[i];

	switch (rnd() % 16) {
	case 0:
		if (fd >= 0)
			close(fd);
		fds[i] = open(proxy, O_RDWR | ((rnd() & 1) ? O_NONBLOCK : 0));
		return 0;
	case 1:
		if (fd >= 0) {
			int d = dup(fd);
			int j = rnd() % NFD;

			if (fds[j] >= 0)
				close(fds[j]);
			fds[j] = d;
		}
		return 0;
	case 2: {
		size_t len = (rnd() % 4 + 1) * 4096 + ((rnd() % 8) ? 0 : rnd() % 4096);
		off_t off = (rnd() % 2) ? (off_t)(((rnd() % 8) << 32) + (rnd() % 4) * 4096) : (off_t)(rnd() >> 1);
		void *p = mmap(NULL, len, PROT_READ | ((rnd() & 1) ? PROT_WRITE : 0),
			       (rnd() % 4) ? MAP_SHARED : MAP_PRIVATE, fd, off & ~4095ll);

		if (p != MAP_FAILED) {
			/* A fault (SIGBUS/SIGSEGV) jumps back here instead of retrying. */
			if ((rnd() & 1) && !sigsetjmp(fault_jmp, 1))
				(void)*(volatile unsigned char *)p;
			munmap(p, len);
		}
		return 0;
	}
	case 3:
		if (rnd() % 64 == 0) {
			pid_t pid = fork();

			if (pid == 0) {
				struct realgpu_info info;

				for (int k = 0; k < 10; k++)
					ioctl(fds[rnd() % NFD], REALGPU_IOCTL_GET_INFO, &info);
				_exit(0);
			}
			if (pid > 0 && (rnd() & 1))
				kill(pid, SIGKILL);
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		}
		return 0;
	default: {
		uint32_t cmd;

		fill_arena();
		if (rnd() % 4) {
			cmd = known[rnd() % (sizeof(known) / sizeof(known[0]))];
		} else {
			uint32_t dir = rnd() % 4, size = rnd() % 64;

			cmd = (dir << 30) | (size << 16) | ((rnd() & 1 ? REALGPU_IOC_MAGIC : rnd() & 0xff) << 8) |
			      (rnd() % 16);
		}
		ioctl(fd, cmd, random_ptr(_IOC_SIZE(cmd)));
		return 0;
	}
	}
}

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

static int fuzz_tenant(uint64_t seed, long calls, int report)
{
	int fds[NFD];
	struct sigaction sa = { .sa_handler = on_sigbus };

	rng = seed ? seed : 1;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	arena = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED)
		return 1;
	mprotect(arena + 4096, 4096, PROT_NONE);
	for (int i = 0; i < NFD; i++)
		fds[i] = open(proxy, O_RDWR);
	for (long n = 0; n < calls; n++) {
		one_call(fds);
		if (n && n % 20000 == 0)
			dprintf(report, "# %ld calls\n", n);
	}
	for (int i = 0; i < NFD; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	while (waitpid(-1, NULL, 0) > 0)
		;
	return 0;
}

/* The tenant's usage: 0 if listed, 1 if not (no tenant, nothing charged), -1 on error. */
static int usage_of(uint64_t pidns, struct mockgpu_usage *out)
{
	static struct mockgpu_usage u[64];
	struct mockgpu_usage_list req = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(req) },
					  .capacity = 64, .entries = (uintptr_t)u };
	int fd = open("/dev/mockgpu-control", O_RDWR), r = -1;

	if (fd >= 0 && ioctl(fd, MOCKGPU_IOCTL_USAGE_LIST, &req) == 0)
		r = 1;
	if (r == 1)
		for (unsigned i = 0; i < req.count && i < 64; i++)
			if (u[i].tenant.id == pidns) {
				*out = u[i];
				r = 0;
			}
	if (fd >= 0)
		close(fd);
	return r;
}

/* Bytes the device has allocated, all contexts; UINT64_MAX if it cannot tell. */
static uint64_t device_used(int real)
{
	struct realgpu_info info;

	return ioctl(real, REALGPU_IOCTL_GET_INFO, &info) ? UINT64_MAX : info.vram_used;
}

int main(int argc, char **argv)
{
	uint64_t seed = 1;
	long calls = 100000;
	int opt, go[2], status = 0, fd;
	struct mockgpu_limit l = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(l) } };
	struct mockgpu_usage u = { 0 };
	uint64_t peak = 0, charge_peak = 0, base, ns = 0, vram;
	char path[64];
	int real, nsfd, samples = 0;
	pid_t pid;

	while ((opt = getopt(argc, argv, "s:n:d:")) != -1) {
		switch (opt) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'n': calls = strtol(optarg, NULL, 0); break;
		case 'd': proxy = optarg; break;
		default: return 2;
		}
	}
	ktap_header(4);
	ktap_diag("seed %llu, %ld calls on %s", (unsigned long long)seed, calls, proxy);
	if (pipe(go) || unshare(CLONE_NEWPID))
		return 1;
	pid = fork();
	if (pid == 0) {
		char c;

		if (read(go[0], &c, 1) != 1)
			_exit(1);
		_exit(fuzz_tenant(seed, calls, 1));
	}
	/* Tenants are keyed by the namespace's unique id, not its inode number. */
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", pid);
	nsfd = open(path, O_RDONLY);
	if (nsfd < 0 || ioctl(nsfd, NS_GET_ID, &ns))
		ktap_diag("NS_GET_ID of %s: %s", path, strerror(errno));
	close(nsfd);
	/* The real node, read by the parent; the device is idle before the tenant starts. */
	real = open("/dev/realgpu", O_RDWR);
	base = device_used(real);
	strcpy(l.target, strrchr(proxy, '/') + 1);
	l.tenant.kind = MOCKGPU_TENANT_PIDNS;
	l.tenant.id = ns;
	l.limits.memory = LIMIT;
	l.limits.files = 16;
	l.limits.compute_pct = 50;
	fd = open("/dev/mockgpu-control", O_RDWR);
	ktap_result(fd >= 0 && ioctl(fd, MOCKGPU_IOCTL_LIMIT_SET, &l) == 0, "limits set for the fuzzing tenant");
	if (write(go[1], "g", 1) != 1)
		return 1;
	/* The device every 2 ms, mockgpu's charge every 20 ms (for the record). */
	while (waitpid(pid, &status, WNOHANG) == 0) {
		uint64_t d = device_used(real);

		if (d > peak)
			peak = d;
		if (samples++ % 10 == 0 && usage_of(ns, &u) == 0 && u.memory_used > charge_peak)
			charge_peak = u.memory_used;
		usleep(2000);
	}
	ktap_diag("tenant exit status %d; device VRAM %llu before, peak %llu in %d samples "
		  "(mockgpu's charge peak %llu) of a limit of %u", status, (unsigned long long)base,
		  (unsigned long long)peak, samples, (unsigned long long)charge_peak, LIMIT);
	ktap_result(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the fuzzing tenant ran %ld calls to the end", calls);
	ktap_result(base == 0 && peak <= LIMIT, "the device's VRAM never above the tenant's limit");
	close(open(proxy, O_RDWR));
	/*
	 * A buffer a job still held when the tenant exited stays charged until
	 * the job ends and it dies, then a reaper pass (200 ms) returns it:
	 * wait for that, up to 5 s.
	 */
	for (int i = 0; i < 500 && usage_of(ns, &u) == 0 && u.memory_used; i++)
		usleep(10000);
	switch (usage_of(ns, &u)) {
	case 1:		/* freed with its namespace: nothing was charged to it */
		memset(&u, 0, sizeof(u));
		break;
	case -1:
		ktap_diag("USAGE_LIST: %s", strerror(errno));
		memset(&u, 0xff, sizeof(u));
		break;
	}
	vram = device_used(real);
	close(real);
	ktap_diag("after: tenant memory %llu, files %llu; device VRAM used %llu",
		  (unsigned long long)u.memory_used, (unsigned long long)u.files_used,
		  (unsigned long long)vram);
	ktap_result(u.memory_used == 0 && u.files_used == 0 && vram == 0,
		    "everything returned: tenant usage and device VRAM back to zero");
	l.limits = (struct mockgpu_limits){ 0 };
	ioctl(fd, MOCKGPU_IOCTL_LIMIT_CLEAR, &l);
	return ktap_finish();
}
