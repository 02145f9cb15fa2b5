// SPDX-License-Identifier: GPL-2.0
/*
 * buf_life: on the simulated GPU, a buffer stays charged while anything
 * keeps it alive after its handle is gone (issue 11): a mapping, an export
 * file, a queued job, a mapping of a context whose file was closed; and
 * such a context stays an open file of its tenant's.
 *
 *   buf_life [REAL]            default /dev/realgpu
 *
 * The test adds the real node as a target whose tenants are cgroups, joins a
 * new cgroup with a 1 MiB limit and compares mockgpu's charge with the
 * device's own count (GET_INFO's vram_used, read on the real node).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/*
 * A context a mapping keeps after its proxy file closed is still an open
 * file of its tenant's: with a files limit of 1, a tenant that opens, maps a
 * buffer and closes, four times over, holds one live context, not four. The
 * device's truth: each context holds a 64 KiB buffer while it lives, so
 * vram_used counts the live contexts. Then the last munmap releases the
 * context (after at most a reaper pass) and with it the file charge.
 */
static int test_files_kept(void)
{
	void *maps[4] = { 0 };
	int ok = 1, opened = 0, emfile = 0;

	if (!settles("before", 0) || ctl_limit_set(name, MOCKGPU_TENANT_CGROUP, cg_id, LIMIT, 1))
		return 0;
	for (int i = 0; i < 4; i++) {
		struct realgpu_alloc a;
		int fd = open(proxy, O_RDWR | O_CLOEXEC);

		if (fd < 0) {
			emfile += errno == EMFILE;
			continue;
		}
		opened++;
		if (alloc(fd, 64 * KiB, &a) == 0) {
			maps[i] = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
				       a.mmap_offset);
			if (maps[i] == MAP_FAILED)
				maps[i] = NULL;
		}
		close(fd);
	}
	uint64_t live = device_used() / (64 * KiB);
	uint64_t files = ctl_files_used(name, MOCKGPU_TENANT_CGROUP, cg_id);

	ktap_diag("files limit 1: %d of 4 opens, %d EMFILE; live contexts (device) %" PRIu64
		  ", files charged %" PRIu64, opened, emfile, live, files);
	ok &= live <= 1 && files == live && opened == 1 && emfile == 3;
	for (int i = 0; i < 4; i++)
		if (maps[i])
			munmap(maps[i], 64 * KiB);
	ok &= settles("contexts released", 0);
	for (int i = 0; i < 100 && ctl_files_used(name, MOCKGPU_TENANT_CGROUP, cg_id); i++)
		usleep(10000);
	files = ctl_files_used(name, MOCKGPU_TENANT_CGROUP, cg_id);
	if (files != 0)
		ktap_diag("after the last munmap: %" PRIu64 " files still charged", files);
	ok &= files == 0;
	int fd = open(proxy, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		ktap_diag("open after the contexts died: %s", strerror(errno));
	ok &= fd >= 0;
	if (fd >= 0)
		close(fd);
	ok &= ctl_limit_set(name, MOCKGPU_TENANT_CGROUP, cg_id, LIMIT, 1000) == 0;
	return ok;
}

/* The test cgroup's dmem.current in the target's region; -1 if absent. */
static int64_t dmem_current(void)
{
	return dmem_current_of(CG, name);
}

/* dmem.current equals @want (the device's count) within 1 s. */
static int dmem_is(const char *what, int64_t want)
{
	int64_t v = dmem_current();

	for (int i = 0; i < 100 && v != want; i++) {
		usleep(10000);
		v = dmem_current();
	}
	if (v != want)
		ktap_diag("%s: dmem.current %" PRId64 ", want %" PRId64, what, v, want);
	return v == want;
}

/*
 * cgroup v2 dmem on the simulated GPU (a driver with no dmem region of its
 * own): the cgroup's dmem.max for mockgpu/<target> refuses with EDQUOT below
 * mockgpu's own 1 MiB limit, the refused buffer is freed again on the device,
 * and dmem.current follows the buffer for its whole life (a mapping keeps
 * it after FREE), equal to the device's count.
 */
static int test_dmem(void)
{
	char max[128];
	struct realgpu_alloc a, b;
	int fd, ok = 1;
	void *p;

	if (!settles("before", 0) || write_str("/sys/fs/cgroup/cgroup.subtree_control", "+dmem")) {
		ktap_diag("enabling dmem: %s", strerror(errno));
		return 0;
	}
	snprintf(max, sizeof(max), "mockgpu/%s 786432", name);
	if (write_str(CG "/dmem.max", max)) {
		ktap_diag("writing dmem.max: %s", strerror(errno));
		return 0;
	}
	fd = open(proxy, O_RDWR | O_CLOEXEC);
	if (fd < 0 || alloc(fd, 512 * KiB, &a)) {
		ktap_diag("first 512 KiB: %s", strerror(errno));
		return 0;
	}
	errno = 0;
	if (!alloc(fd, 512 * KiB, &b)) {
		ktap_diag("a second 512 KiB passed dmem.max 768 KiB");
		gpu_free(fd, b.handle);
		ok = 0;
	} else if (errno != EDQUOT) {
		ktap_diag("second 512 KiB: %s (want EDQUOT)", strerror(errno));
		ok = 0;
	}
	ok &= settles("under dmem.max", 512 * KiB) && dmem_is("under dmem.max", 512 * KiB);
	p = mmap(NULL, 512 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, a.mmap_offset);
	ok &= p != MAP_FAILED && gpu_free(fd, a.handle) == 0;
	ok &= holds("freed, still mapped", 512 * KiB) && dmem_is("freed, still mapped", 512 * KiB);
	if (p != MAP_FAILED)
		munmap(p, 512 * KiB);
	ok &= settles("unmapped", 0) && dmem_is("unmapped", 0);
	snprintf(max, sizeof(max), "mockgpu/%s max", name);
	write_str(CG "/dmem.max", max);
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

static volatile struct realgpu_free free_arg;
static volatile uint32_t free_a, free_b;

static void *free_flipper(void *unused)
{
	(void)unused;
	while (!flip_stop) {
		free_arg.handle = free_a;
		free_arg.handle = free_b;
	}
	return NULL;
}

/*
 * FREE's handle rewritten by another thread between mockgpu's read and the
 * driver's: mockgpu may release the record of a 768 KiB buffer while the
 * driver frees a 4 KiB one. The 768 KiB buffer is alive, so its charge stays
 * (linger.rs): the next 768 KiB allocation must not fit, and the device never
 * holds more than the 1 MiB limit (50 tries).
 */
static int test_free_flip(void)
{
	int ok = 1, small_freed = 0, big_freed = 0;
	uint64_t peak = 0;

	for (int i = 0; i < 50 && ok; i++) {
		struct realgpu_alloc big, small, again;
		int fd = open(proxy, O_RDWR | O_CLOEXEC);
		pthread_t t;

		if (fd < 0 || !settles("before", 0) || alloc(fd, 768 * KiB, &big) ||
		    alloc(fd, 4 * KiB, &small))
			return 0;
		free_a = small.handle;
		free_b = big.handle;
		free_arg.handle = small.handle;
		flip_stop = 0;
		pthread_create(&t, NULL, free_flipper, NULL);
		int r = ioctl(fd, REALGPU_IOCTL_FREE, (void *)&free_arg);

		flip_stop = 1;
		pthread_join(t, NULL);
		if (r == 0) {
			/* Which one the driver freed: a second FREE of it fails. */
			if (gpu_free(fd, small.handle))
				small_freed++;
			else
				big_freed++;
		}
		if (!alloc(fd, 768 * KiB, &again))
			gpu_free(fd, again.handle);
		uint64_t d = device_used();

		if (d > peak)
			peak = d;
		if (d > LIMIT) {
			ktap_diag("try %d: device %" PRIu64 " B over the limit", i, d);
			ok = 0;
		}
		close(fd);
	}
	ok &= settles("free flip: all closed", 0);
	ktap_diag("free flip: the driver freed the 4 KiB buffer %d times, the 768 KiB one %d times; "
		  "device peak %" PRIu64 " KiB against a %llu KiB limit",
		  small_freed, big_freed, peak / KiB, LIMIT / KiB);
	return ok;
}

static volatile int lie_stop;
static volatile uint64_t lies;
static struct realgpu_alloc lie_arg;

static void *id_liar(void *unused)
{
	(void)unused;
	for (uint64_t n = 0; !lie_stop; n++) {
		((volatile struct realgpu_alloc *)&lie_arg)->buf_id = 0xffff0000ull + n;
		lies = n;
	}
	return NULL;
}

/*
 * ALLOC's answer is the caller's memory: a thread rewrites the buffer id
 * the driver wrote, to ids of no buffer. Each buffer is then exported and
 * freed: the export keeps it alive. Were the charge's end decided by the
 * rewritten id (dead at once), the device would fill past the limit; it
 * must never hold more than the limit, and equal the charge.
 */
static int test_id_lie(void)
{
	int fd = open(proxy, O_RDWR | O_CLOEXEC), ok = fd >= 0, exports[64], n = 0;
	unsigned refused = 0;
	uint64_t peak = 0;
	pthread_t t;

	if (!ok || !settles("before", 0))
		return 0;
	lie_stop = 0;
	lies = 0;
	pthread_create(&t, NULL, id_liar, NULL);
	for (int i = 0; i < 64 && ok; i++) {
		struct realgpu_export ex = { 0 };

		/* The liar is running (a thread starts slowly under emulation). */
		for (uint64_t seen = lies; lies == seen;)
			;
		lie_arg = (struct realgpu_alloc){ .size = 128 * KiB };
		if (ioctl(fd, REALGPU_IOCTL_ALLOC, &lie_arg)) {
			refused += errno == EDQUOT;
			continue;
		}
		ex.handle = lie_arg.handle;
		if (ioctl(fd, REALGPU_IOCTL_EXPORT, &ex) || gpu_free(fd, ex.handle)) {
			ktap_diag("EXPORT or FREE: %s", strerror(errno));
			ok = 0;
			break;
		}
		exports[n++] = ex.fd;
		uint64_t d = device_used();

		if (d > peak)
			peak = d;
		if (d > LIMIT) {
			ktap_diag("buffer %d: device %" PRIu64 " KiB over the limit", i, d / KiB);
			ok = 0;
		}
	}
	lie_stop = 1;
	pthread_join(t, NULL);
	ktap_diag("ids rewritten: %d buffers exported and freed, %u refused (EDQUOT), device "
		  "peak %" PRIu64 " KiB against a %llu KiB limit", n, refused, peak / KiB, LIMIT / KiB);
	ok &= n > 0 && holds("exports kept", (uint64_t)n * 128 * KiB);
	for (int i = 0; i < n; i++)
		close(exports[i]);
	ok &= settles("exports closed", 0);
	close(fd);
	return ok;
}

/*
 * Who pays for a shared buffer: its creator, until it dies. A exports a
 * buffer, B (another tenant) imports it, A frees its handle: A still pays
 * (B's handle keeps it), B pays nothing; B frees: A's charge ends with the
 * buffer. The device holds it all along, and never unpaid.
 */
static int test_shared_payer(void)
{
	int fd = open(proxy, O_RDWR | O_CLOEXEC), ok = fd >= 0, status;
	struct realgpu_export ex = { 0 };
	struct realgpu_alloc a;
	int sync[2], done[2];
	struct stat st;
	uint64_t b_id;
	char c = 0;
	pid_t pid;

	/* B: a tenant of its own, in a sibling cgroup (a child would be A's). */
	if ((mkdir(CG "_b", 0755) && errno != EEXIST) || stat(CG "_b", &st))
		return 0;
	b_id = st.st_ino;
	if (!ok || !settles("before", 0) || alloc(fd, 256 * KiB, &a) || pipe(sync) || pipe(done))
		return 0;
	ex.handle = a.handle;
	if (ioctl(fd, REALGPU_IOCTL_EXPORT, &ex))
		return 0;
	pid = fork();
	if (pid == 0) {
		struct realgpu_import im = { .fd = ex.fd };
		int bfd, cfd = open(CG "_b/cgroup.procs", O_WRONLY);

		if (cfd < 0 || dprintf(cfd, "%d", getpid()) < 0)
			_exit(2);
		close(cfd);
		bfd = open(proxy, O_RDWR | O_CLOEXEC);
		if (bfd < 0 || ioctl(bfd, REALGPU_IOCTL_IMPORT, &im))
			_exit(3);
		close(ex.fd);
		if (write(sync[1], &c, 1) != 1 || read(done[0], &c, 1) != 1)
			_exit(4);
		struct realgpu_free f = { .handle = im.handle };

		_exit(ioctl(bfd, REALGPU_IOCTL_FREE, &f) ? 5 : 0);
	}
	close(ex.fd);
	if (read(sync[0], &c, 1) != 1)
		return 0;
	gpu_free(fd, a.handle);	/* A's handle gone: B's keeps the buffer */
	ok &= holds("A freed, B holds: A pays", 256 * KiB);
	uint64_t b_mem = ctl_memory_used(name, MOCKGPU_TENANT_CGROUP, b_id);
	uint64_t b_files = ctl_files_used(name, MOCKGPU_TENANT_CGROUP, b_id);

	if (b_mem != 0 || b_files != 1) {
		ktap_diag("tenant B: %" PRIu64 " B charged (want 0), %" PRIu64 " files (want 1)",
			  b_mem, b_files);
		ok = 0;
	}
	if (write(done[1], &c, 1) != 1)
		ok = 0;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		ktap_diag("tenant B: exit %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		ok = 0;
	}
	ok &= settles("B freed: the buffer is dead, nothing charged", 0);
	rmdir(CG "_b");
	close(fd);
	return ok;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		real_path = argv[1];
	ktap_header(10);
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
	ktap_result(test_files_kept(), "close while mapped: still an open file (files limit 1, 4 tries)");
	ktap_result(test_dmem(), "cgroup dmem.max refuses, dmem.current follows the buffer's life");
	ktap_result(test_free_flip(), "FREE's handle flipped by a thread (50 tries): the device never above the limit");
	ktap_result(test_flip(), "ALLOC's size flipped by a thread (10,000 calls): the device never above the limit");
	ktap_result(test_id_lie(), "ALLOC's buffer id rewritten by a thread, exported and freed: the device never above the limit");
	ktap_result(test_shared_payer(), "a buffer shared with another tenant: its creator pays until it dies");
	return ktap_finish();
}
