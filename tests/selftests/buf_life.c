// SPDX-License-Identifier: GPL-2.0
/*
 * buf_life: on the simulated GPU, a buffer stays charged while anything
 * keeps it alive after its handle is gone (issue 11): a mapping, an export
 * file, a queued job, a mapping of a context whose file was closed.
 *
 *   buf_life [REAL]            default /dev/realgpu
 *
 * The test adds the real node as a target whose tenants are cgroups, joins a
 * new cgroup with a 1 MiB limit and compares mockgpu's charge with the
 * device's own count (GET_INFO's vram_used, read on the real node).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "ktap.h"
#include "mockgpu.h"
#include "realgpu.h"

#define KiB 1024ull
#define LIMIT (1024 * KiB)
#define CG "/sys/fs/cgroup/buf_life"

static const char *real_path = "/dev/realgpu";
static char name[MOCKGPU_NAME_MAX], proxy[128];
static uint64_t cg_id, base;
static int real_fd = -1;

static uint64_t device_used(void)
{
	struct realgpu_info info = { 0 };

	if (ioctl(real_fd, REALGPU_IOCTL_GET_INFO, &info))
		return UINT64_MAX;
	return info.vram_used - base;
}

static uint64_t charged(void)
{
	return ctl_memory_used(name, MOCKGPU_TENANT_CGROUP, cg_id);
}

/* Both counts once they settle at @want (buffers die a moment after their
 * last holder, charges at the next reaper pass), or after 5 s. */
static int settles(const char *what, uint64_t want)
{
	uint64_t d = device_used(), c = charged();

	for (int i = 0; i < 500 && (d != want || c != want); i++) {
		usleep(10000);
		d = device_used();
		c = charged();
	}
	if (d != want || c != want)
		ktap_diag("%s: device %" PRIu64 " B, charged %" PRIu64 " B, want %" PRIu64 " B",
			  what, d, c, want);
	return d == want && c == want;
}

/* Both counts equal @want now and still after 500 ms (no early release). */
static int holds(const char *what, uint64_t want)
{
	int ok = settles(what, want);

	usleep(500 * 1000);
	return ok && settles(what, want);
}

static int alloc(int fd, uint64_t size, struct realgpu_alloc *a)
{
	*a = (struct realgpu_alloc){ .size = size };
	return ioctl(fd, REALGPU_IOCTL_ALLOC, a);
}

static int gpu_free(int fd, uint32_t h)
{
	struct realgpu_free f = { .handle = h };

	return ioctl(fd, REALGPU_IOCTL_FREE, &f);
}

/* With 512 KiB kept alive, a 768 KiB buffer is over the 1 MiB limit. */
static int refused_next_to_kept(int fd)
{
	struct realgpu_alloc b;

	errno = 0;
	if (!alloc(fd, 768 * KiB, &b)) {
		ktap_diag("768 KiB allocated next to 512 KiB kept alive");
		gpu_free(fd, b.handle);
		return 0;
	}
	if (errno != EDQUOT)
		ktap_diag("768 KiB next to 512 KiB kept: %s (want EDQUOT)", strerror(errno));
	return errno == EDQUOT;
}

enum keep { KEEP_MAP, KEEP_EXPORT, KEEP_JOB, KEEP_CLOSED_FILE };

static int test_keep(enum keep how)
{
	int fd = open(proxy, O_RDWR | O_CLOEXEC), other = -1, ok = 1;
	struct realgpu_export ex = { 0 };
	struct realgpu_alloc a;
	void *p = NULL;

	if (!settles("before", 0) || fd < 0 || alloc(fd, 512 * KiB, &a))
		return 0;
	switch (how) {
	case KEEP_MAP:
	case KEEP_CLOSED_FILE:
		p = mmap(NULL, 512 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, a.mmap_offset);
		if (p == MAP_FAILED)
			return 0;
		break;
	case KEEP_EXPORT:
		ex.handle = a.handle;
		if (ioctl(fd, REALGPU_IOCTL_EXPORT, &ex))
			return 0;
		break;
	case KEEP_JOB: {
		struct realgpu_submit s = { .op = REALGPU_OP_FILL, .dst = a.handle,
					    .value = 7, .cost_us = 900000 };

		if (ioctl(fd, REALGPU_IOCTL_SUBMIT, &s)) {
			ktap_diag("SUBMIT: %s", strerror(errno));
			return 0;
		}
		break;
	}
	}
	if (how == KEEP_CLOSED_FILE) {
		close(fd);
		fd = other = open(proxy, O_RDWR | O_CLOEXEC);
	} else if (gpu_free(fd, a.handle)) {
		ktap_diag("FREE: %s", strerror(errno));
		return 0;
	}
	ok &= holds("handle gone, buffer kept", 512 * KiB);
	ok &= refused_next_to_kept(fd);
	if (p)
		munmap(p, 512 * KiB);
	if (ex.fd > 0)
		close(ex.fd);
	ok &= settles("buffer dead", 0);
	close(fd);
	return ok;
}

static volatile int flip_stop;
static struct realgpu_alloc flip_arg;

static void *flipper(void *unused)
{
	(void)unused;
	while (!flip_stop) {
		flip_arg.size = 4 * KiB;
		flip_arg.size = 16 * 1024 * KiB;
	}
	return NULL;
}

/*
 * The simulated GPU reads its argument itself, as NVIDIA's driver does: a
 * thread flipping ALLOC's size between 4 KiB and 16 MiB can make the driver
 * allocate a size mockgpu never read. mockgpu charges what the driver's own
 * count (fdinfo drm-total-vram) grew by, and undoes an allocation that does
 * not fit: the device never holds more than the limit, and equals the charge.
 */
static int test_flip(void)
{
	static uint32_t handles[512];
	int fd = open(proxy, O_RDWR | O_CLOEXEC), ok = fd >= 0;
	uint64_t peak = 0;
	unsigned n = 0, refused = 0;
	pthread_t t;

	if (!ok || !settles("before", 0))
		return 0;
	flip_stop = 0;
	pthread_create(&t, NULL, flipper, NULL);
	for (int i = 0; i < 10000 && ok; i++) {
		flip_arg.size = 4 * KiB;
		if (ioctl(fd, REALGPU_IOCTL_ALLOC, &flip_arg)) {
			refused += errno == EDQUOT;
		} else if (n < 512) {
			handles[n++] = flip_arg.handle;
		}
		uint64_t d = device_used();

		if (d > peak)
			peak = d;
		if (d > LIMIT) {
			ktap_diag("call %d: device %" PRIu64 " B over the limit", i, d);
			ok = 0;
		}
		if (n == 512 || (i % 1000) == 999) {
			for (unsigned k = 0; k < n; k++)
				gpu_free(fd, handles[k]);
			n = 0;
		}
	}
	flip_stop = 1;
	pthread_join(t, NULL);
	ok &= settles("flip: all freed", 0);
	ktap_diag("flip: 10,000 ALLOCs, %u refused (EDQUOT), device peak %" PRIu64
		  " KiB against a %llu KiB limit", refused, peak / KiB, LIMIT / KiB);
	close(fd);
	return ok;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		real_path = argv[1];
	ktap_header(5);
	real_fd = open(real_path, O_RDWR | O_CLOEXEC);
	if (real_fd < 0) {
		printf("Bail out! %s: %s\n", real_path, strerror(errno));
		return 1;
	}
	if (ctl_tenant_setup(real_path, name, CG, &cg_id, LIMIT))
		return 1;
	snprintf(proxy, sizeof(proxy), "/dev/mockgpu/%s", name);
	base = 0;
	base = device_used();
	ktap_result(test_keep(KEEP_MAP), "map then free: charged until unmapped");
	ktap_result(test_keep(KEEP_EXPORT), "export then free: charged until the export closes");
	ktap_result(test_keep(KEEP_JOB), "free under a running job: charged until the job ends");
	ktap_result(test_keep(KEEP_CLOSED_FILE), "close while mapped: charged until unmapped");
	ktap_result(test_flip(), "ALLOC's size flipped by a thread (10,000 calls): the device never above the limit");
	return ktap_finish();
}
