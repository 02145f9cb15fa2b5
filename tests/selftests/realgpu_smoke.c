// SPDX-License-Identifier: GPL-2.0
/*
 * realgpu_smoke: KTAP smoke test of the realgpu ABI (uapi/realgpu.h).
 *
 *   realgpu_smoke [DEVICE]      DEVICE defaults to /dev/realgpu
 *   realgpu_smoke --leave-jobs [DEVICE]
 *                               submit slow jobs and exit without waiting
 *                               (to test unloading with jobs queued)
 *
 * Runs against realgpu.ko directly, or against anything that claims to
 * implement the same ABI (mockgpu). Every ioctl, mmap with lazily faulted
 * pages, jobs, fences, events, export/import and peer attachment are
 * exercised, with their error paths, and the DRM usage statistics of each
 * file's fdinfo (engine time, VRAM) and the engine's time-slicing between
 * contexts. The last test checks that the VRAM pool
 * is empty once everything is closed, so nothing else may use the device
 * while this runs.
 *
 * Build: gcc -static -O2 -Wall -o realgpu_smoke tests/selftests/realgpu_smoke.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"
#include "../../uapi/realgpu.h"

#define MiB (1024ULL * 1024)

static const char *dev_path = "/dev/realgpu";
/* NULL, hidden from the compiler's nonnull checks */
static void *volatile null_ptr;
static long page_size;

/* ---- small wrappers ---------------------------------------------------- */

static int dev_open(void)
{
	int fd = open(dev_path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		ktap_diag("open %s: %s", dev_path, strerror(errno));
	return fd;
}

static int get_info(int fd, struct realgpu_info *info)
{
	memset(info, 0, sizeof(*info));
	return ioctl(fd, REALGPU_IOCTL_GET_INFO, info);
}

static unsigned long long vram_used(int fd)
{
	struct realgpu_info info;

	if (get_info(fd, &info))
		return ~0ULL;
	return info.vram_used;
}

/* Returns the handle (> 0), or 0 with errno set. */
static __u32 alloc_buf(int fd, __u64 size, struct realgpu_alloc *out)
{
	struct realgpu_alloc a = { .size = size };

	if (out)
		memset(out, 0, sizeof(*out));
	if (ioctl(fd, REALGPU_IOCTL_ALLOC, &a))
		return 0;
	if (out)
		*out = a;
	return a.handle;
}

static int free_buf(int fd, __u32 handle)
{
	struct realgpu_free f = { .handle = handle };

	return ioctl(fd, REALGPU_IOCTL_FREE, &f);
}

/* Returns the fence (> 0), or 0 with errno set. */
static __u64 submit(int fd, __u32 op, __u32 src, __u32 dst, __u64 value,
		    __u64 cost_us)
{
	struct realgpu_submit s = {
		.op = op, .src = src, .dst = dst, .value = value,
		.cost_us = cost_us,
	};

	if (ioctl(fd, REALGPU_IOCTL_SUBMIT, &s))
		return 0;
	return s.fence;
}

static int wait_fence(int fd, __u64 fence, __s64 timeout_ns, __u64 *result)
{
	struct realgpu_wait w = { .fence = fence, .timeout_ns = timeout_ns };
	int ret = ioctl(fd, REALGPU_IOCTL_WAIT, &w);

	if (!ret && result)
		*result = w.result;
	return ret;
}

/* Submits a CHECKSUM of @handle and waits for it; ~0 on failure. */
static __u64 checksum(int fd, __u32 handle)
{
	__u64 fence = submit(fd, REALGPU_OP_CHECKSUM, handle, 0, 0, 0);
	__u64 result;

	if (!fence || wait_fence(fd, fence, -1, &result))
		return ~0ULL;
	return result;
}

/* Submits a FILL of @handle with @value and waits for it. */
static int fill(int fd, __u32 handle, __u8 value)
{
	__u64 fence = submit(fd, REALGPU_OP_FILL, 0, handle, value, 0);

	if (!fence)
		return -1;
	return wait_fence(fd, fence, -1, NULL);
}

static void *map_buf(int fd, __u64 offset, size_t len, int prot, int flags)
{
	return mmap(NULL, len, prot, flags, fd, (off_t)offset);
}

/* Reads and discards every queued event (the fd is made non-blocking meanwhile). */
static void drain_events(int fd)
{
	struct realgpu_event ev[16];
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while (read(fd, ev, sizeof(ev)) > 0)
		;
	fcntl(fd, F_SETFL, fl);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* Arms SIGALRM in @ms milliseconds, with SA_RESTART off so syscalls see EINTR. */
static void alarm_ms(int ms)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { ms / 1000, (ms % 1000) * 1000 } };

	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
}

static void alarm_off(void)
{
	struct itimerval it = { 0 };

	setitimer(ITIMER_REAL, &it, NULL);
}

/* ---- tests ------------------------------------------------------------- */

static int test_get_info(void)
{
	struct realgpu_info a, b;
	int fa, fb;

	TEST_BEGIN();
	fa = dev_open();
	fb = dev_open();
	EXPECT(fa >= 0 && fb >= 0);
	if (fa < 0 || fb < 0)
		return 0;
	EXPECT_OK(get_info(fa, &a));
	EXPECT_OK(get_info(fb, &b));
	EXPECT_EQ(a.abi_version, REALGPU_ABI_VERSION);
	EXPECT_EQ(a.pad, 0);
	EXPECT(a.vram_total > 0);
	EXPECT(a.vram_used <= a.vram_total);
	EXPECT(a.ctx_id != 0 && b.ctx_id != 0);
	EXPECT(a.ctx_id != b.ctx_id);
	EXPECT_EQ(a.vram_total, b.vram_total);
	EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_GET_INFO, NULL), EFAULT);
	close(fa);
	close(fb);
	return ktap_verdict();
}

static int test_alloc_free(void)
{
	struct realgpu_alloc a, b, bad;
	struct realgpu_free f;
	unsigned long long used0;
	int fd = dev_open();

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	used0 = vram_used(fd);
	EXPECT(alloc_buf(fd, 5000, &a) != 0);
	EXPECT_EQ(a.size, 2 * page_size);
	EXPECT(a.handle != 0);
	EXPECT(a.buf_id != 0);
	EXPECT_EQ(a.mmap_offset % page_size, 0);
	EXPECT_EQ(vram_used(fd), used0 + 2 * page_size);
	EXPECT(alloc_buf(fd, 1, &b) != 0);
	EXPECT_EQ(b.size, page_size);
	EXPECT(b.handle != a.handle);
	EXPECT(b.buf_id != a.buf_id);
	EXPECT(b.mmap_offset != a.mmap_offset);

	/* size 0, size overflowing when rounded, nonzero pad, too big, NULL */
	bad = (struct realgpu_alloc){ .size = 0 };
	EXPECT_ERRNO(ioctl(fd, REALGPU_IOCTL_ALLOC, &bad), EINVAL);
	bad = (struct realgpu_alloc){ .size = ~0ULL };
	EXPECT_ERRNO(ioctl(fd, REALGPU_IOCTL_ALLOC, &bad), EINVAL);
	bad = (struct realgpu_alloc){ .size = ~0ULL - 1 };
	EXPECT_ERRNO(ioctl(fd, REALGPU_IOCTL_ALLOC, &bad), EINVAL);
	bad = (struct realgpu_alloc){ .size = 4096, .pad = 1 };
	EXPECT_ERRNO(ioctl(fd, REALGPU_IOCTL_ALLOC, &bad), EINVAL);
	bad = (struct realgpu_alloc){ .size = 1ULL << 40 };
	EXPECT_ERRNO(ioctl(fd, REALGPU_IOCTL_ALLOC, &bad), ENOMEM);
	EXPECT_ERRNO(ioctl(fd, REALGPU_IOCTL_ALLOC, NULL), EFAULT);
	EXPECT_EQ(vram_used(fd), used0 + 3 * page_size);

	/* FREE: ok once, then a bad handle */
	EXPECT_OK(free_buf(fd, a.handle));
	EXPECT_ERRNO(free_buf(fd, a.handle), EINVAL);
	EXPECT_ERRNO(free_buf(fd, 0), EINVAL);
	EXPECT_ERRNO(free_buf(fd, 0x7fffffff), EINVAL);
	f = (struct realgpu_free){ .handle = b.handle, .pad = 1 };
	EXPECT_ERRNO(ioctl(fd, REALGPU_IOCTL_FREE, &f), EINVAL);
	EXPECT_ERRNO(ioctl(fd, REALGPU_IOCTL_FREE, NULL), EFAULT);
	EXPECT_EQ(vram_used(fd), used0 + page_size);

	/* Handles are per context. */
	{
		int fd2 = dev_open();

		EXPECT_ERRNO(free_buf(fd2, b.handle), EINVAL);
		close(fd2);
	}
	EXPECT_OK(free_buf(fd, b.handle));
	EXPECT_EQ(vram_used(fd), used0);

	/* close(2) frees the handles left */
	EXPECT(alloc_buf(fd, 3 * page_size, NULL) != 0);
	close(fd);
	fd = dev_open();
	EXPECT_EQ(vram_used(fd), used0);
	close(fd);
	return ktap_verdict();
}

static int test_mmap_fill_checksum(void)
{
	struct realgpu_alloc a;
	unsigned long long sum = 0;
	size_t len = 4 * page_size, i;
	unsigned char *p;
	int fd = dev_open(), ok = 1;

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	EXPECT(alloc_buf(fd, len, &a) != 0);
	/* never touched: reads as zeroes */
	EXPECT_EQ(checksum(fd, a.handle), 0);

	p = map_buf(fd, a.mmap_offset, len, PROT_READ | PROT_WRITE, MAP_SHARED);
	EXPECT(p != MAP_FAILED);
	if (p == MAP_FAILED)
		return 0;
	/* write through the mapping (pages fault in lazily), sum on the GPU */
	for (i = 0; i < len; i++) {
		p[i] = (unsigned char)(i * 7 + 3);
		sum += p[i];
	}
	EXPECT_EQ(checksum(fd, a.handle), sum);

	/* FILL on the GPU, read back through the mapping */
	EXPECT_OK(fill(fd, a.handle, 0xab));
	for (i = 0; i < len; i++)
		ok &= p[i] == 0xab;
	EXPECT(ok);
	EXPECT_EQ(checksum(fd, a.handle), 0xabULL * len);

	/* a second mapping of the second page only sees the same memory */
	{
		unsigned char *q = map_buf(fd, a.mmap_offset + page_size,
					   page_size, PROT_READ, MAP_SHARED);

		EXPECT(q != MAP_FAILED);
		if (q != MAP_FAILED) {
			p[page_size + 5] = 0x11;
			EXPECT_EQ(q[5], 0x11);
			munmap(q, page_size);
		}
	}
	/* a private mapping is allowed read-only, and cannot become writable */
	{
		unsigned char *q = map_buf(fd, a.mmap_offset, page_size,
					   PROT_READ, MAP_PRIVATE);

		EXPECT(q != MAP_FAILED);
		if (q != MAP_FAILED) {
			EXPECT_EQ(q[1], 0xab);
			EXPECT_ERRNO(mprotect(q, page_size, PROT_READ | PROT_WRITE),
				     EACCES);
			munmap(q, page_size);
		}
	}
	munmap(p, len);
	close(fd);
	return ktap_verdict();
}

static int test_mmap_errors(void)
{
	struct realgpu_alloc a;
	size_t len = 2 * page_size;
	int fd = dev_open();

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	EXPECT(alloc_buf(fd, len, &a) != 0);
	/* longer than the buffer */
	EXPECT_ERRNO(map_buf(fd, a.mmap_offset, len + page_size,
			     PROT_READ, MAP_SHARED), EINVAL);
	/* in range start, past the end */
	EXPECT_ERRNO(map_buf(fd, a.mmap_offset + page_size, len,
			     PROT_READ, MAP_SHARED), EINVAL);
	/* private and writable */
	EXPECT_ERRNO(map_buf(fd, a.mmap_offset, page_size, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE), EINVAL);
	/* offset of no handle */
	EXPECT_ERRNO(map_buf(fd, a.mmap_offset + (1ULL << 40), page_size,
			     PROT_READ, MAP_SHARED), EINVAL);
	EXPECT_ERRNO(map_buf(fd, 0, page_size, PROT_READ, MAP_SHARED), EINVAL);
	/* a freed handle cannot be mapped */
	EXPECT_OK(free_buf(fd, a.handle));
	EXPECT_ERRNO(map_buf(fd, a.mmap_offset, page_size, PROT_READ, MAP_SHARED),
		     EINVAL);
	close(fd);
	return ktap_verdict();
}

static int test_mmap_keeps_buffer(void)
{
	struct realgpu_alloc a;
	unsigned long long used0;
	size_t len = 8 * page_size, i;
	unsigned char *p;
	int fd = dev_open(), ok = 1;

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	used0 = vram_used(fd);
	EXPECT(alloc_buf(fd, len, &a) != 0);
	p = map_buf(fd, a.mmap_offset, len, PROT_READ | PROT_WRITE, MAP_SHARED);
	EXPECT(p != MAP_FAILED);
	if (p == MAP_FAILED)
		return 0;
	p[0] = 1;
	/* FREE and close: the mapping still holds the buffer */
	EXPECT_OK(free_buf(fd, a.handle));
	close(fd);
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)i;
	for (i = 0; i < len; i++)
		ok &= p[i] == (unsigned char)i;
	EXPECT(ok);
	fd = dev_open();
	EXPECT_EQ(vram_used(fd), used0 + len);
	/* splitting the vma (partial munmap) keeps the rest */
	EXPECT_OK(munmap(p + 2 * page_size, 2 * page_size));
	EXPECT_EQ(p[page_size], (unsigned char)page_size);
	EXPECT_EQ(p[5 * page_size + 1], (unsigned char)(5 * page_size + 1));
	EXPECT_EQ(vram_used(fd), used0 + len);
	munmap(p, 2 * page_size);
	EXPECT_EQ(vram_used(fd), used0 + len);
	munmap(p + 4 * page_size, 4 * page_size);
	EXPECT_EQ(vram_used(fd), used0);
	close(fd);
	return ktap_verdict();
}

static int test_copy(void)
{
	struct realgpu_alloc a, b, c;
	size_t len = 3 * page_size, i;
	unsigned long long sum = 0;
	unsigned char *pa, *pb;
	struct realgpu_submit s;
	int fd = dev_open(), ok = 1;

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	EXPECT(alloc_buf(fd, len, &a) != 0);
	EXPECT(alloc_buf(fd, len, &b) != 0);
	EXPECT(alloc_buf(fd, len + page_size, &c) != 0);
	pa = map_buf(fd, a.mmap_offset, len, PROT_READ | PROT_WRITE, MAP_SHARED);
	pb = map_buf(fd, b.mmap_offset, len, PROT_READ, MAP_SHARED);
	EXPECT(pa != MAP_FAILED && pb != MAP_FAILED);
	if (pa == MAP_FAILED || pb == MAP_FAILED)
		return 0;
	for (i = 0; i < len; i++) {
		pa[i] = (unsigned char)(i ^ 0x5c);
		sum += pa[i];
	}
	{
		__u64 fence = submit(fd, REALGPU_OP_COPY, a.handle, b.handle, 0, 100);

		EXPECT(fence != 0);
		EXPECT_OK(wait_fence(fd, fence, -1, NULL));
	}
	for (i = 0; i < len; i++)
		ok &= pb[i] == pa[i];
	EXPECT(ok);
	EXPECT_EQ(checksum(fd, b.handle), sum);
	/* sizes must match */
	s = (struct realgpu_submit){ .op = REALGPU_OP_COPY, .src = a.handle,
				     .dst = c.handle };
	EXPECT_ERRNO(ioctl(fd, REALGPU_IOCTL_SUBMIT, &s), EINVAL);
	munmap(pa, len);
	munmap(pb, len);
	close(fd);
	return ktap_verdict();
}

static int test_submit_errors(void)
{
	struct realgpu_alloc a;
	struct realgpu_submit s;
	int fd = dev_open();

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	EXPECT(alloc_buf(fd, page_size, &a) != 0);
#define SUBMIT_EINVAL(...)						\
	do {								\
		s = (struct realgpu_submit){ __VA_ARGS__ };		\
		EXPECT_ERRNO(ioctl(fd, REALGPU_IOCTL_SUBMIT, &s), EINVAL); \
	} while (0)
	SUBMIT_EINVAL(.op = 42);
	SUBMIT_EINVAL(.op = REALGPU_OP_NOP, .flags = 1);
	SUBMIT_EINVAL(.op = REALGPU_OP_NOP, .cost_us = 1000001);
	SUBMIT_EINVAL(.op = REALGPU_OP_NOP, .src = a.handle);
	SUBMIT_EINVAL(.op = REALGPU_OP_FILL, .dst = 0);
	SUBMIT_EINVAL(.op = REALGPU_OP_FILL, .dst = 12345);
	SUBMIT_EINVAL(.op = REALGPU_OP_FILL, .dst = a.handle, .value = 256);
	SUBMIT_EINVAL(.op = REALGPU_OP_CHECKSUM, .src = 12345);
	SUBMIT_EINVAL(.op = REALGPU_OP_CHECKSUM, .src = a.handle, .dst = a.handle);
	SUBMIT_EINVAL(.op = REALGPU_OP_COPY, .src = a.handle, .dst = 0);
#undef SUBMIT_EINVAL
	EXPECT_ERRNO(ioctl(fd, REALGPU_IOCTL_SUBMIT, NULL), EFAULT);
	/* the largest cost is accepted; NOP results are 0 */
	{
		__u64 fence = submit(fd, REALGPU_OP_NOP, 0, 0, 0, 0), result = 1;

		EXPECT(fence != 0);
		EXPECT_OK(wait_fence(fd, fence, -1, &result));
		EXPECT_EQ(result, 0);
	}
	close(fd);
	return ktap_verdict();
}

/*
 * A context's ring holds 64 unfinished jobs: the 65th SUBMIT waits until the
 * oldest is done, so right after 200 submits at most 64 are unfinished.
 */
static int test_ring_bound(void)
{
	__u64 fence = 0;
	int fd = dev_open();

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	for (int i = 0; i < 200; i++) {
		fence = submit(fd, REALGPU_OP_NOP, 0, 0, 0, 2000);
		EXPECT(fence == (__u64)i + 1);
	}
	/* fence 200 was queued: the 136 before its ring slot are done */
	EXPECT_OK(wait_fence(fd, fence - 64, 0, NULL));
	EXPECT_OK(wait_fence(fd, fence, -1, NULL));
	close(fd);
	return ktap_verdict();
}

static int test_wait_timeout(void)
{
	__u64 fence, f2;
	struct realgpu_wait w;
	double t0;
	int fd = dev_open();

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	/* fences never issued */
	EXPECT_ERRNO(wait_fence(fd, 0, 0, NULL), EINVAL);
	EXPECT_ERRNO(wait_fence(fd, 1, 0, NULL), EINVAL);
	fence = submit(fd, REALGPU_OP_NOP, 0, 0, 0, 300000);
	EXPECT(fence != 0);
	EXPECT_ERRNO(wait_fence(fd, fence + 1, 0, NULL), EINVAL);
	/* timeout 0 polls */
	EXPECT_ERRNO(wait_fence(fd, fence, 0, NULL), EAGAIN);
	/* a short timeout expires */
	t0 = now_s();
	EXPECT_ERRNO(wait_fence(fd, fence, 20 * 1000 * 1000, NULL), ETIME);
	EXPECT(now_s() - t0 >= 0.019);
	/* < 0 waits for ever; a long enough timeout succeeds */
	f2 = submit(fd, REALGPU_OP_NOP, 0, 0, 0, 1000);
	EXPECT(f2 == fence + 1);
	EXPECT_OK(wait_fence(fd, fence, -1, NULL));
	EXPECT_OK(wait_fence(fd, f2, 5LL * 1000 * 1000 * 1000, NULL));
	/* done fences stay done */
	EXPECT_OK(wait_fence(fd, fence, 0, NULL));
	EXPECT_ERRNO(ioctl(fd, REALGPU_IOCTL_WAIT, NULL), EFAULT);
	w = (struct realgpu_wait){ .fence = 999999, .timeout_ns = -1 };
	EXPECT_ERRNO(ioctl(fd, REALGPU_IOCTL_WAIT, &w), EINVAL);
	close(fd);
	return ktap_verdict();
}

static int test_wait_eintr(void)
{
	struct realgpu_event ev;
	__u64 fence;
	double t0;
	int fd = dev_open();

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	fence = submit(fd, REALGPU_OP_NOP, 0, 0, 0, 1000000);
	EXPECT(fence != 0);
	t0 = now_s();
	alarm_ms(100);
	EXPECT_ERRNO(wait_fence(fd, fence, -1, NULL), EINTR);
	EXPECT(now_s() - t0 < 0.9);
	alarm_ms(100);
	EXPECT_ERRNO(wait_fence(fd, fence, 10LL * 1000 * 1000 * 1000, NULL), EINTR);
	/* a blocking read(2) is interrupted too */
	alarm_ms(100);
	EXPECT_ERRNO(read(fd, &ev, sizeof(ev)), EINTR);
	alarm_off();
	EXPECT_OK(wait_fence(fd, fence, -1, NULL));
	close(fd);
	return ktap_verdict();
}

static int test_events(void)
{
	struct realgpu_event ev[4];
	struct realgpu_alloc a;
	struct pollfd pfd;
	__u64 f1, f2, f3;
	char small[sizeof(ev[0]) - 1];
	ssize_t n;
	int fd = dev_open(), fl;

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	/* empty: poll says nothing, non-blocking read says EAGAIN */
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	EXPECT_EQ(poll(&pfd, 1, 0), 0);
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	EXPECT_ERRNO(read(fd, ev, sizeof(ev)), EAGAIN);
	fcntl(fd, F_SETFL, fl);

	EXPECT(alloc_buf(fd, page_size, &a) != 0);
	EXPECT_OK(fill(fd, a.handle, 2));
	drain_events(fd);

	f1 = submit(fd, REALGPU_OP_NOP, 0, 0, 0, 50000);
	f2 = submit(fd, REALGPU_OP_CHECKSUM, a.handle, 0, 0, 0);
	EXPECT(f1 && f2 == f1 + 1);
	/* poll wakes up when the first completes */
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	EXPECT_EQ(poll(&pfd, 1, 5000), 1);
	EXPECT(pfd.revents & POLLIN);
	EXPECT_OK(wait_fence(fd, f2, -1, NULL));
	/* too short a buffer */
	EXPECT_ERRNO(read(fd, small, sizeof(small)), EINVAL);
	/* whole records only: 1.5 records of room returns one */
	n = read(fd, ev, sizeof(ev[0]) + sizeof(ev[0]) / 2);
	EXPECT_EQ(n, sizeof(ev[0]));
	EXPECT_EQ(ev[0].type, REALGPU_EVENT_JOB_DONE);
	EXPECT_EQ(ev[0].pad, 0);
	EXPECT_EQ(ev[0].fence, f1);
	EXPECT_EQ(ev[0].result, 0);
	n = read(fd, ev, sizeof(ev));
	EXPECT_EQ(n, sizeof(ev[0]));
	EXPECT_EQ(ev[0].fence, f2);
	EXPECT_EQ(ev[0].result, 2ULL * page_size);
	/* NULL buffer with an event queued: EFAULT, and the event is kept */
	f3 = submit(fd, REALGPU_OP_NOP, 0, 0, 0, 0);
	EXPECT_OK(wait_fence(fd, f3, -1, NULL));
	EXPECT_ERRNO(read(fd, null_ptr, sizeof(ev[0])), EFAULT);
	/* a blocking read returns an event that arrives later */
	n = read(fd, ev, sizeof(ev));
	EXPECT_EQ(n, sizeof(ev[0]));
	EXPECT_EQ(ev[0].fence, f3);
	f1 = submit(fd, REALGPU_OP_NOP, 0, 0, 0, 100000);
	n = read(fd, ev, sizeof(ev));
	EXPECT_EQ(n, sizeof(ev[0]));
	EXPECT_EQ(ev[0].fence, f1);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	EXPECT_EQ(poll(&pfd, 1, 0), 0);
	/* the event stream has no file position */
	EXPECT_ERRNO(pread(fd, ev, sizeof(ev), 0), ESPIPE);
	close(fd);
	return ktap_verdict();
}

static int test_export_import(void)
{
	struct realgpu_alloc a;
	struct realgpu_export e;
	struct realgpu_import im, bad;
	size_t len = 2 * page_size, i;
	unsigned char *pb;
	unsigned long long used0;
	int fa = dev_open(), fb = dev_open(), nullfd, ok = 1;

	TEST_BEGIN();
	if (fa < 0 || fb < 0)
		return 0;
	used0 = vram_used(fa);
	EXPECT(alloc_buf(fa, len, &a) != 0);
	EXPECT_OK(fill(fa, a.handle, 0x5a));

	e = (struct realgpu_export){ .handle = a.handle, .fd = -1 };
	EXPECT_OK(ioctl(fa, REALGPU_IOCTL_EXPORT, &e));
	EXPECT(e.fd >= 0);
	EXPECT(fcntl(e.fd, F_GETFD) & FD_CLOEXEC);
	{
		struct realgpu_export be = { .handle = 4242 };

		EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_EXPORT, &be), EINVAL);
		EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_EXPORT, NULL), EFAULT);
	}

	/* import in another context: same buffer, new handle */
	im = (struct realgpu_import){ .fd = e.fd };
	EXPECT_OK(ioctl(fb, REALGPU_IOCTL_IMPORT, &im));
	EXPECT(im.handle != 0);
	EXPECT_EQ(im.size, len);
	EXPECT_EQ(im.buf_id, a.buf_id);
	EXPECT_EQ(checksum(fb, im.handle), 0x5aULL * len);

	/* data is shared both ways */
	pb = map_buf(fb, im.mmap_offset, len, PROT_READ | PROT_WRITE, MAP_SHARED);
	EXPECT(pb != MAP_FAILED);
	if (pb != MAP_FAILED) {
		for (i = 0; i < len; i++)
			ok &= pb[i] == 0x5a;
		EXPECT(ok);
		memset(pb, 1, len);
		EXPECT_EQ(checksum(fa, a.handle), len);
		munmap(pb, len);
	}

	/* the export fd keeps the buffer after both handles are gone */
	EXPECT_OK(free_buf(fa, a.handle));
	EXPECT_OK(free_buf(fb, im.handle));
	EXPECT_EQ(vram_used(fa), used0 + len);
	im = (struct realgpu_import){ .fd = e.fd };
	EXPECT_OK(ioctl(fa, REALGPU_IOCTL_IMPORT, &im));
	EXPECT_EQ(checksum(fa, im.handle), len);
	close(e.fd);
	EXPECT_EQ(vram_used(fa), used0 + len);
	EXPECT_OK(free_buf(fa, im.handle));
	EXPECT_EQ(vram_used(fa), used0);

	/* only export fds are accepted */
	nullfd = open("/dev/null", O_RDWR);
	bad = (struct realgpu_import){ .fd = nullfd };
	EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_IMPORT, &bad), EINVAL);
	bad = (struct realgpu_import){ .fd = fb };
	EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_IMPORT, &bad), EINVAL);
	close(nullfd);
	bad = (struct realgpu_import){ .fd = nullfd };
	EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_IMPORT, &bad), EBADF);
	bad = (struct realgpu_import){ .fd = -1 };
	EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_IMPORT, &bad), EBADF);
	EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_IMPORT, NULL), EFAULT);
	close(fa);
	close(fb);
	return ktap_verdict();
}

/* Whether dev_path is a mockgpu proxy (its node is not the driver's misc node). */
static int proxied(void)
{
	return strstr(dev_path, "/mockgpu/") != NULL;
}

static int test_attach_peer(void)
{
	struct realgpu_attach_peer p;
	struct realgpu_info ib;
	int fa = dev_open(), fb = dev_open(), nullfd;

	TEST_BEGIN();
	if (fa < 0 || fb < 0)
		return 0;
	EXPECT_OK(get_info(fb, &ib));
	p = (struct realgpu_attach_peer){ .fd = fb };
	if (proxied()) {
		/*
		 * The one documented difference (README, "fds of the device
		 * inside arguments"): the driver would need a real-device file
		 * in the caller's fd table, so a proxy fd is refused.
		 */
		EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_ATTACH_PEER, &p), EOPNOTSUPP);
	} else {
		EXPECT_OK(ioctl(fa, REALGPU_IOCTL_ATTACH_PEER, &p));
		EXPECT_EQ(p.peer_ctx_id, ib.ctx_id);
	}

	nullfd = open("/dev/null", O_RDWR);
	p = (struct realgpu_attach_peer){ .fd = nullfd };
	EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_ATTACH_PEER, &p), EINVAL);
	close(nullfd);
	p = (struct realgpu_attach_peer){ .fd = nullfd };
	EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_ATTACH_PEER, &p), EBADF);
	p = (struct realgpu_attach_peer){ .fd = -1 };
	EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_ATTACH_PEER, &p), EBADF);
	p = (struct realgpu_attach_peer){ .fd = fb, .pad = 1 };
	EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_ATTACH_PEER, &p), proxied() ? EOPNOTSUPP : EINVAL);
	EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_ATTACH_PEER, NULL), EFAULT);
	/* an export fd is not a device fd */
	{
		struct realgpu_export e = { 0 };

		e.handle = alloc_buf(fa, page_size, NULL);
		EXPECT_OK(ioctl(fa, REALGPU_IOCTL_EXPORT, &e));
		p = (struct realgpu_attach_peer){ .fd = e.fd };
		EXPECT_ERRNO(ioctl(fa, REALGPU_IOCTL_ATTACH_PEER, &p), EINVAL);
		close(e.fd);
	}
	close(fa);
	close(fb);
	return ktap_verdict();
}

static int test_fork_and_mremap(void)
{
	struct realgpu_alloc a;
	unsigned long long used0;
	size_t len = 4 * page_size;
	unsigned char *p, *q;
	pid_t pid;
	int fd = dev_open(), status = -1;

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	used0 = vram_used(fd);
	EXPECT(alloc_buf(fd, len, &a) != 0);
	p = map_buf(fd, a.mmap_offset, len, PROT_READ | PROT_WRITE, MAP_SHARED);
	EXPECT(p != MAP_FAILED);
	if (p == MAP_FAILED)
		return 0;
	p[0] = 1;
	/* the child's copy of the mapping shares the pages */
	pid = fork();
	if (pid == 0) {
		p[1] = 2;
		p[3 * page_size] = 3;
		_exit(0);
	}
	EXPECT(pid > 0);
	waitpid(pid, &status, 0);
	EXPECT_EQ(status, 0);
	EXPECT_EQ(p[1], 2);
	EXPECT_EQ(p[3 * page_size], 3);
	EXPECT_EQ(checksum(fd, a.handle), 6);
	/* moving is fine, growing is not */
	q = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT(q != MAP_FAILED);
	if (q != MAP_FAILED)
		q = mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, q);
	EXPECT(q != MAP_FAILED);
	if (q != MAP_FAILED) {
		EXPECT_EQ(q[3 * page_size], 3);
		p = q;
	}
	EXPECT(mremap(p, len, 2 * len, MREMAP_MAYMOVE) == MAP_FAILED);
	EXPECT_OK(free_buf(fd, a.handle));
	EXPECT_EQ(vram_used(fd), used0 + len);
	munmap(p, len);
	EXPECT_EQ(vram_used(fd), used0);
	close(fd);
	return ktap_verdict();
}

struct waiter {
	int fd;
	__u64 fence;
	int ret;
	__u64 result;
};

static void *waiter_thread(void *arg)
{
	struct waiter *w = arg;

	w->ret = wait_fence(w->fd, w->fence, -1, &w->result);
	return NULL;
}

static int test_concurrent_waiters(void)
{
	enum { N = 4 };
	struct waiter w[N];
	pthread_t t[N];
	struct realgpu_alloc a;
	__u64 fence;
	int fd = dev_open(), i;

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	EXPECT(alloc_buf(fd, page_size, &a) != 0);
	EXPECT_OK(fill(fd, a.handle, 3));
	fence = submit(fd, REALGPU_OP_CHECKSUM, a.handle, 0, 0, 200000);
	EXPECT(fence != 0);
	for (i = 0; i < N; i++) {
		w[i] = (struct waiter){ .fd = fd, .fence = fence, .ret = -2 };
		EXPECT_EQ(pthread_create(&t[i], NULL, waiter_thread, &w[i]), 0);
	}
	for (i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(w[i].ret, 0);
		EXPECT_EQ(w[i].result, 3ULL * page_size);
	}
	close(fd);
	return ktap_verdict();
}

static int test_epoll(void)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	__u64 fence;
	int fd = dev_open(), ep = epoll_create1(EPOLL_CLOEXEC), fd2;

	TEST_BEGIN();
	if (fd < 0 || ep < 0)
		return 0;
	EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
	EXPECT_EQ(epoll_wait(ep, &out, 1, 0), 0);
	fence = submit(fd, REALGPU_OP_NOP, 0, 0, 0, 20000);
	EXPECT(fence != 0);
	EXPECT_EQ(epoll_wait(ep, &out, 1, 5000), 1);
	EXPECT(out.events & EPOLLIN);
	drain_events(fd);
	EXPECT_EQ(epoll_wait(ep, &out, 1, 0), 0);
	/* close the device file while it is watched, with a job in flight */
	EXPECT(submit(fd, REALGPU_OP_NOP, 0, 0, 0, 50000) != 0);
	fd2 = dev_open();
	ev.events = EPOLLIN;
	EXPECT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, fd2, &ev));
	close(fd);
	EXPECT_EQ(epoll_wait(ep, &out, 1, 100), 0);
	close(ep);
	close(fd2);
	return ktap_verdict();
}

static int test_export_outlives_exporter(void)
{
	struct realgpu_alloc a;
	struct realgpu_export e = { 0 };
	struct realgpu_import im;
	unsigned long long used0;
	int fa = dev_open(), fb = dev_open();

	TEST_BEGIN();
	if (fa < 0 || fb < 0)
		return 0;
	used0 = vram_used(fb);
	EXPECT(alloc_buf(fa, page_size, &a) != 0);
	EXPECT_OK(fill(fa, a.handle, 9));
	e.handle = a.handle;
	EXPECT_OK(ioctl(fa, REALGPU_IOCTL_EXPORT, &e));
	close(fa);
	EXPECT_EQ(vram_used(fb), used0 + page_size);
	im = (struct realgpu_import){ .fd = e.fd };
	EXPECT_OK(ioctl(fb, REALGPU_IOCTL_IMPORT, &im));
	close(e.fd);
	EXPECT_EQ(im.buf_id, a.buf_id);
	EXPECT_EQ(checksum(fb, im.handle), 9ULL * page_size);
	close(fb);
	fb = dev_open();
	EXPECT_EQ(vram_used(fb), used0);
	close(fb);
	return ktap_verdict();
}

static int test_unknown_ioctl(void)
{
	int fd = dev_open();
	char buf[64] = { 0 };

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	EXPECT_ERRNO(ioctl(fd, _IO(REALGPU_IOC_MAGIC, 0x42)), ENOTTY);
	EXPECT_ERRNO(ioctl(fd, _IOWR(REALGPU_IOC_MAGIC, 0x01, char[64]), buf), ENOTTY);
	EXPECT_ERRNO(ioctl(fd, _IOR('X', 0x00, struct realgpu_info), buf), ENOTTY);
	close(fd);
	return ktap_verdict();
}

static int test_close_with_pending_jobs(void)
{
	struct realgpu_alloc a;
	unsigned long long used0;
	double t0;
	int fd = dev_open(), probe;

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	probe = dev_open();
	used0 = vram_used(probe);
	EXPECT(alloc_buf(fd, 16 * page_size, &a) != 0);
	EXPECT(submit(fd, REALGPU_OP_FILL, 0, a.handle, 7, 200000) != 0);
	EXPECT(submit(fd, REALGPU_OP_CHECKSUM, a.handle, 0, 0, 200000) != 0);
	EXPECT_OK(free_buf(fd, a.handle));
	close(fd);
	/* the jobs hold the buffer until they are done (or cancelled) */
	t0 = now_s();
	while (vram_used(probe) != used0 && now_s() - t0 < 5)
		usleep(10000);
	EXPECT_EQ(vram_used(probe), used0);
	close(probe);
	return ktap_verdict();
}

/* ---- fdinfo: DRM usage statistics (drm-usage-stats.rst) ---------------- */

/* A test returns this when the device has nothing to test (a KTAP SKIP). */
#define TEST_SKIP (-1)

/*
 * Reads the unsigned number of @key ("drm-engine-gfx") from the fdinfo of
 * @fd; an optional @unit ("ns", "KiB") must follow it. 0 if found.
 */
static int fdinfo_u64(int fd, const char *key, const char *unit,
		      unsigned long long *out)
{
	char path[64], buf[4096], *line, *end;
	size_t klen = strlen(key);
	ssize_t len;
	int f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -1;
	len = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (len <= 0)
		return -1;
	buf[len] = 0;
	for (line = buf; line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, key, klen) || line[klen] != ':')
			continue;
		errno = 0;
		*out = strtoull(line + klen + 1, &end, 10);
		if (errno || end == line + klen + 1)
			return -1;
		while (*end == ' ' || *end == '\t')
			end++;
		if (unit && (strncmp(end, unit, strlen(unit)) ||
			     (end[strlen(unit)] != '\n' && end[strlen(unit)] != 0)))
			return -1;
		return 0;
	}
	return -1;
}

/* The engine time of @fd's context, ns; ~0 if it reports none. */
static unsigned long long engine_ns(int fd)
{
	unsigned long long ns;

	return fdinfo_u64(fd, "drm-engine-gfx", "ns", &ns) ? ~0ULL : ns;
}

/* The VRAM of @fd's context by fdinfo key @key ("drm-total-vram"), KiB. */
static unsigned long long vram_kib(int fd, const char *key)
{
	unsigned long long kib;

	return fdinfo_u64(fd, key, "KiB", &kib) ? ~0ULL : kib;
}

/* Whether @fd reports DRM usage statistics (a proxy might not forward them). */
static int has_usage_stats(int fd)
{
	if (engine_ns(fd) != ~0ULL)
		return 1;
	ktap_diag("%s: no drm-engine-gfx in fdinfo", dev_path);
	return 0;
}

/* Runs a job of @op with @cost_us and waits for it; its engine time in ns. */
static long long job_engine_ns(int fd, __u32 op, __u32 src, __u32 dst,
			       __u64 cost_us)
{
	unsigned long long before = engine_ns(fd), after;
	__u64 value = op == REALGPU_OP_FILL ? 0x3c : 0;
	__u64 fence = submit(fd, op, src, dst, value, cost_us);

	if (!fence || wait_fence(fd, fence, -1, NULL))
		return -1;
	after = engine_ns(fd);
	if (before == ~0ULL || after == ~0ULL || after < before)
		return -1;
	return after - before;
}

/* Expects @ns to be the engine time of a job of cost @us: at least it, little more. */
#define EXPECT_JOB_NS(ns, us)						\
	do {								\
		long long _ns = (ns), _min = (us) * 1000LL;		\
		ktap_diag("%s: %lld ns for cost %d us", #ns, _ns, (int)(us)); \
		EXPECT(_ns >= _min);					\
		EXPECT(_ns <= _min + _min / 5 + 20000000LL);		\
	} while (0)

static int test_fdinfo_keys(void)
{
	struct realgpu_info info;
	unsigned long long v;
	int fd = dev_open();

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	if (!has_usage_stats(fd)) {
		close(fd);
		return proxied() ? TEST_SKIP : 0;
	}
	EXPECT_OK(get_info(fd, &info));
	/* drm-driver is a string: check it by hand */
	{
		char path[64], buf[4096];
		ssize_t len;
		int f;

		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
		f = open(path, O_RDONLY);
		len = f < 0 ? -1 : read(f, buf, sizeof(buf) - 1);
		if (f >= 0)
			close(f);
		EXPECT(len > 0);
		if (len > 0) {
			buf[len] = 0;
			EXPECT(strstr(buf, "\ndrm-driver:\trealgpu\n") != NULL);
		}
	}
	EXPECT_OK(fdinfo_u64(fd, "drm-client-id", NULL, &v));
	EXPECT_EQ(v, info.ctx_id);
	EXPECT_EQ(engine_ns(fd), 0);
	EXPECT_OK(fdinfo_u64(fd, "drm-engine-capacity-gfx", NULL, &v));
	EXPECT_EQ(v, 1);
	EXPECT_EQ(vram_kib(fd, "drm-total-vram"), 0);
	EXPECT_EQ(vram_kib(fd, "drm-resident-vram"), 0);
	close(fd);
	return ktap_verdict();
}

static int test_fdinfo_vram(void)
{
	struct realgpu_alloc a, b;
	__u64 fence;
	unsigned char *p;
	int fd = dev_open(), other = dev_open();

	TEST_BEGIN();
	if (fd < 0 || other < 0)
		return 0;
	if (!has_usage_stats(fd)) {
		close(fd);
		close(other);
		return proxied() ? TEST_SKIP : 0;
	}
	EXPECT(alloc_buf(fd, 1 * MiB, &a) != 0);
	EXPECT(alloc_buf(fd, 64 * 1024, &b) != 0);
	/* charged at ALLOC, resident as pages appear */
	EXPECT_EQ(vram_kib(fd, "drm-total-vram"), 1024 + 64);
	EXPECT_EQ(vram_kib(fd, "drm-resident-vram"), 0);
	p = map_buf(fd, b.mmap_offset, 64 * 1024, PROT_READ | PROT_WRITE, MAP_SHARED);
	EXPECT(p != MAP_FAILED);
	if (p != MAP_FAILED) {
		p[0] = 1;
		p[4 * page_size] = 1;
		EXPECT_EQ(vram_kib(fd, "drm-resident-vram"), 2 * page_size / 1024);
		munmap(p, 64 * 1024);
	}
	/* FILL allocates its pages at SUBMIT; a freed buffer stays while the job holds it */
	fence = submit(fd, REALGPU_OP_FILL, 0, a.handle, 1, 200000);
	EXPECT(fence != 0);
	EXPECT_EQ(vram_kib(fd, "drm-resident-vram"), 1024 + 2 * page_size / 1024);
	EXPECT_OK(free_buf(fd, a.handle));
	EXPECT_EQ(vram_kib(fd, "drm-total-vram"), 1024 + 64);
	EXPECT_OK(wait_fence(fd, fence, -1, NULL));
	EXPECT_EQ(vram_kib(fd, "drm-total-vram"), 64);
	EXPECT_EQ(vram_kib(fd, "drm-resident-vram"), 2 * page_size / 1024);
	/* another context's memory is its own */
	EXPECT_EQ(vram_kib(other, "drm-total-vram"), 0);
	EXPECT_OK(free_buf(fd, b.handle));
	EXPECT_EQ(vram_kib(fd, "drm-total-vram"), 0);
	close(other);
	close(fd);
	return ktap_verdict();
}

static int test_fdinfo_engine_time(void)
{
	struct realgpu_alloc a, b;
	unsigned long long t0, t1, prev;
	double w0, w1;
	long long ns;
	__u64 fence;
	int fd = dev_open(), i, ok = 1;

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	if (!has_usage_stats(fd)) {
		close(fd);
		return proxied() ? TEST_SKIP : 0;
	}
	EXPECT(alloc_buf(fd, 64 * page_size, &a) != 0);
	EXPECT(alloc_buf(fd, 64 * page_size, &b) != 0);
	EXPECT_JOB_NS(job_engine_ns(fd, REALGPU_OP_NOP, 0, 0, 50000), 50000);
	EXPECT_JOB_NS(job_engine_ns(fd, REALGPU_OP_FILL, 0, a.handle, 30000), 30000);
	EXPECT_JOB_NS(job_engine_ns(fd, REALGPU_OP_COPY, a.handle, b.handle, 20000), 20000);
	EXPECT_JOB_NS(job_engine_ns(fd, REALGPU_OP_CHECKSUM, b.handle, 0, 10000), 10000);
	/* work without a declared cost is still engine time */
	ns = job_engine_ns(fd, REALGPU_OP_FILL, 0, a.handle, 0);
	ktap_diag("FILL of 64 pages, cost 0: %lld ns", ns);
	EXPECT(ns > 0);
	ns = job_engine_ns(fd, REALGPU_OP_COPY, a.handle, b.handle, 0);
	ktap_diag("COPY of 64 pages, cost 0: %lld ns", ns);
	EXPECT(ns > 0);
	EXPECT_EQ(checksum(fd, b.handle), 64 * page_size * 0x3c);

	/* a running job counts as it runs, never more than the wall time, never backwards */
	t0 = engine_ns(fd);
	w0 = now_s();
	fence = submit(fd, REALGPU_OP_NOP, 0, 0, 0, 300000);
	EXPECT(fence != 0);
	usleep(150000);
	t1 = engine_ns(fd);
	w1 = now_s();
	ktap_diag("after %.0f ms of a 300 ms job: %llu ns", (w1 - w0) * 1e3, t1 - t0);
	EXPECT(t1 > t0);
	EXPECT(t1 - t0 <= (w1 - w0) * 1e9 + 1e6);
	prev = t1;
	for (i = 0; i < 50; i++) {
		unsigned long long t = engine_ns(fd);

		ok &= t >= prev;
		prev = t;
		usleep(5000);
	}
	EXPECT(ok);
	EXPECT_OK(wait_fence(fd, fence, -1, NULL));
	EXPECT_JOB_NS(engine_ns(fd) - t0, 300000);
	close(fd);
	return ktap_verdict();
}

static int test_fdinfo_per_context(void)
{
	unsigned long long a0, b0, a1, b1;
	__u64 fa_fence, fb_fence;
	int fa = dev_open(), fb = dev_open();

	TEST_BEGIN();
	if (fa < 0 || fb < 0)
		return 0;
	if (!has_usage_stats(fa)) {
		close(fa);
		close(fb);
		return proxied() ? TEST_SKIP : 0;
	}
	a0 = engine_ns(fa);
	b0 = engine_ns(fb);
	fa_fence = submit(fa, REALGPU_OP_NOP, 0, 0, 0, 100000);
	fb_fence = submit(fb, REALGPU_OP_NOP, 0, 0, 0, 30000);
	EXPECT(fa_fence && fb_fence);
	EXPECT_OK(wait_fence(fa, fa_fence, -1, NULL));
	EXPECT_OK(wait_fence(fb, fb_fence, -1, NULL));
	a1 = engine_ns(fa);
	b1 = engine_ns(fb);
	EXPECT_JOB_NS(a1 - a0, 100000);
	EXPECT_JOB_NS(b1 - b0, 30000);
	close(fa);
	close(fb);
	return ktap_verdict();
}

/*
 * The engine time-slices: while one context runs a 1 s job, another's short
 * jobs start within about a slice (10 ms by default), not after the second.
 */
static int test_time_slicing(void)
{
	unsigned long long a0, b0, a1, b1;
	double w0, worst = 0, sum = 0;
	__u64 long_fence;
	int fa = dev_open(), fb = dev_open(), i, n = 10;

	TEST_BEGIN();
	if (fa < 0 || fb < 0)
		return 0;
	a0 = engine_ns(fa);
	b0 = engine_ns(fb);
	w0 = now_s();
	long_fence = submit(fa, REALGPU_OP_NOP, 0, 0, 0, 1000000);
	EXPECT(long_fence != 0);
	usleep(20000);
	for (i = 0; i < n; i++) {
		double t = now_s(), lat;
		__u64 f = submit(fb, REALGPU_OP_NOP, 0, 0, 0, 1000);

		EXPECT(f != 0);
		EXPECT_OK(wait_fence(fb, f, -1, NULL));
		lat = now_s() - t;
		sum += lat;
		if (lat > worst)
			worst = lat;
	}
	ktap_diag("1 ms jobs beside a 1 s job: mean %.1f ms, worst %.1f ms",
		  sum / n * 1e3, worst * 1e3);
	/* one slice + the job, with room for a slow (emulated) machine */
	EXPECT(worst < 0.1);
	/* the long job is still running: the short ones did not wait for it */
	EXPECT_ERRNO(wait_fence(fa, long_fence, 0, NULL), EAGAIN);
	EXPECT_OK(wait_fence(fa, long_fence, -1, NULL));
	ktap_diag("1 s job done after %.0f ms", (now_s() - w0) * 1e3);
	if (has_usage_stats(fa)) {
		a1 = engine_ns(fa);
		b1 = engine_ns(fb);
		EXPECT_JOB_NS(a1 - a0, 1000000);
		EXPECT_JOB_NS(b1 - b0, n * 1000);
	}
	close(fa);
	close(fb);
	return ktap_verdict();
}

static int test_alloc_until_enomem(void)
{
	enum { MAX_BUFS = 4096 };
	static __u32 handles[MAX_BUFS];
	struct realgpu_info info;
	struct realgpu_alloc a;
	__u64 chunk;
	int fd = dev_open(), n = 0, i, last_errno = 0;

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	EXPECT_OK(get_info(fd, &info));
	chunk = info.vram_total / 64 ? info.vram_total / 64 : (__u64)page_size;
	chunk = (chunk + page_size - 1) / page_size * page_size;
	while (n < MAX_BUFS) {
		__u32 h = alloc_buf(fd, chunk, &a);

		if (!h) {
			last_errno = errno;
			break;
		}
		handles[n++] = h;
	}
	EXPECT_EQ(last_errno, ENOMEM);
	EXPECT(n > 0);
	EXPECT((__u64)n * chunk <= info.vram_total);
	EXPECT(vram_used(fd) + chunk > info.vram_total);
	/* fill the rest page by page */
	while (n < MAX_BUFS && alloc_buf(fd, page_size, &a))
		handles[n++] = a.handle;
	EXPECT_EQ(errno, ENOMEM);
	EXPECT_EQ(vram_used(fd), info.vram_total);
	for (i = 0; i < n; i++)
		EXPECT_OK(free_buf(fd, handles[i]));
	EXPECT_EQ(vram_used(fd), 0);
	close(fd);
	return ktap_verdict();
}

static int test_all_freed(void)
{
	int fd = dev_open();
	double t0 = now_s();

	TEST_BEGIN();
	if (fd < 0)
		return 0;
	/* cancelled jobs of closed files may still be on their way out */
	while (vram_used(fd) != 0 && now_s() - t0 < 5)
		usleep(10000);
	EXPECT_EQ(vram_used(fd), 0);
	close(fd);
	return ktap_verdict();
}

struct test {
	const char *name;
	int (*fn)(void);
};

static const struct test tests[] = {
	{ "get_info", test_get_info },
	{ "alloc_free", test_alloc_free },
	{ "mmap_fill_checksum", test_mmap_fill_checksum },
	{ "mmap_errors", test_mmap_errors },
	{ "mmap_keeps_buffer", test_mmap_keeps_buffer },
	{ "copy", test_copy },
	{ "submit_errors", test_submit_errors },
	{ "wait_timeout", test_wait_timeout },
	{ "wait_eintr", test_wait_eintr },
	{ "events", test_events },
	{ "export_import", test_export_import },
	{ "attach_peer", test_attach_peer },
	{ "export_outlives_exporter", test_export_outlives_exporter },
	{ "fork_and_mremap", test_fork_and_mremap },
	{ "concurrent_waiters", test_concurrent_waiters },
	{ "epoll", test_epoll },
	{ "unknown_ioctl", test_unknown_ioctl },
	{ "close_with_pending_jobs", test_close_with_pending_jobs },
	{ "ring_bound", test_ring_bound },
	{ "fdinfo_keys", test_fdinfo_keys },
	{ "fdinfo_vram", test_fdinfo_vram },
	{ "fdinfo_engine_time", test_fdinfo_engine_time },
	{ "fdinfo_per_context", test_fdinfo_per_context },
	{ "time_slicing", test_time_slicing },
	{ "alloc_until_enomem", test_alloc_until_enomem },
	{ "all_freed", test_all_freed },
};

int main(int argc, char **argv)
{
	size_t i, n = sizeof(tests) / sizeof(tests[0]);
	int fd;

	page_size = sysconf(_SC_PAGESIZE);
	/*
	 * --leave-jobs [DEVICE]: submit slow jobs on a buffer and exit without
	 * waiting, so that a following rmmod finds them still queued.
	 */
	if (argc > 1 && !strcmp(argv[1], "--leave-jobs")) {
		__u32 h;

		if (argc > 2)
			dev_path = argv[2];
		fd = dev_open();
		if (fd < 0)
			return 1;
		h = alloc_buf(fd, 4 * page_size, NULL);
		if (!h || !submit(fd, REALGPU_OP_FILL, 0, h, 1, 300000) ||
		    !submit(fd, REALGPU_OP_NOP, 0, 0, 0, 300000))
			return 1;
		return 0;
	}
	if (argc > 1)
		dev_path = argv[1];
	ktap_header(n);
	fd = open(dev_path, O_RDWR);
	if (fd < 0) {
		ktap_diag("cannot open %s: %s", dev_path, strerror(errno));
		for (i = 0; i < n; i++)
			ktap_skip(tests[i].name, "no device");
		return ktap_finish() ? 1 : 4; /* 4: KSFT_SKIP */
	}
	close(fd);
	for (i = 0; i < n; i++) {
		int verdict = tests[i].fn();

		if (verdict == TEST_SKIP)
			ktap_skip(tests[i].name, "no DRM usage statistics in fdinfo");
		else
			ktap_result(verdict, "%s", tests[i].name);
	}
	return ktap_finish();
}
