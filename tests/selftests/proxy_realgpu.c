// SPDX-License-Identifier: GPL-2.0
/*
 * proxy_realgpu: the simulated GPU behaves identically through mockgpu.
 *
 *   proxy_realgpu DIRECT PROXY     e.g. /dev/realgpu /dev/mockgpu/realgpu
 *
 * Each scenario runs once on a file of DIRECT and once on a file of PROXY and
 * records a transcript (return values, errnos, output fields, data read through
 * mmap); the test passes if both transcripts are identical and the direct one
 * shows what the scenario expects. A scenario may name one line where the
 * proxy differs by design (README): that line must show the proxy's documented
 * value instead, and every other line is still compared. Concurrency tests
 * (fork, fd passing, threads, races) run on the proxy only and assert their
 * own outcome.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ktap.h"
#include "mockgpu.h"
#include "realgpu.h"

static const char *direct_path, *proxy_path;

/* --- transcripts --------------------------------------------------------- */

#define T_MAX 256
struct transcript {
	int n;
	const char *label[T_MAX];
	long long val[T_MAX];
};

static void rec(struct transcript *t, const char *label, long long v)
{
	if (t->n < T_MAX) {
		t->label[t->n] = label;
		t->val[t->n++] = v;
	}
}

/* Records an ioctl's return value and errno. */
static long rec_ioctl(struct transcript *t, const char *label, int fd, unsigned long cmd, void *arg)
{
	errno = 0;
	long r = ioctl(fd, cmd, arg);

	rec(t, label, r < 0 ? -errno : r);
	return r;
}

static long long get(const struct transcript *t, const char *label)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->label[i], label))
			return t->val[i];
	ktap_diag("no value '%s' in transcript", label);
	return -999999;
}

typedef void (*scenario_fn)(int fd, struct transcript *t);

struct scenario {
	const char *name;
	scenario_fn fn;
	int flags;
	const char *key;	/* a transcript value the direct run must show ... */
	long long want;		/* ... equal to this */
	const char *except;	/* a line where the proxy differs by design ... */
	long long proxy_want;	/* ... and must show this instead */
};

/*
 * Runs the scenario on a fresh direct file and a fresh proxy file; compares
 * the transcripts line by line, except the scenario's documented exception.
 */
static int same_both_ways(const struct scenario *sc, struct transcript *direct)
{
	struct transcript p = { 0 };
	scenario_fn fn = sc->fn;
	int flags = sc->flags;
	int fd, ok = 1;

	memset(direct, 0, sizeof(*direct));
	fd = open(direct_path, O_RDWR | flags);
	if (fd < 0) {
		ktap_diag("open %s: %s", direct_path, strerror(errno));
		return 0;
	}
	fn(fd, direct);
	close(fd);
	fd = open(proxy_path, O_RDWR | flags);
	if (fd < 0) {
		ktap_diag("open %s: %s", proxy_path, strerror(errno));
		return 0;
	}
	fn(fd, &p);
	close(fd);
	if (p.n != direct->n) {
		ktap_diag("transcripts differ in length: direct %d, proxy %d", direct->n, p.n);
		return 0;
	}
	for (int i = 0; i < p.n; i++) {
		if (sc->except && !strcmp(direct->label[i], sc->except)) {
			if (p.val[i] != sc->proxy_want) {
				ktap_diag("'%s': proxy %lld, expected %lld by design (direct %lld)",
					  direct->label[i], p.val[i], sc->proxy_want, direct->val[i]);
				ok = 0;
			}
			continue;
		}
		if (p.val[i] != direct->val[i]) {
			ktap_diag("'%s': direct %lld, proxy %lld", direct->label[i],
				  direct->val[i], p.val[i]);
			ok = 0;
		}
	}
	return ok;
}

static int open_proxy(void)
{
	int fd = open(proxy_path, O_RDWR);

	if (fd < 0)
		ktap_diag("open %s: %s", proxy_path, strerror(errno));
	return fd;
}

static uint64_t vram_used(void)
{
	struct realgpu_info info = { 0 };
	int fd = open(direct_path, O_RDWR);

	if (fd < 0 || ioctl(fd, REALGPU_IOCTL_GET_INFO, &info))
		info.vram_used = ~0ull;
	if (fd >= 0)
		close(fd);
	return info.vram_used;
}

static int alloc(int fd, uint64_t size, struct realgpu_alloc *a)
{
	memset(a, 0, sizeof(*a));
	a->size = size;
	return ioctl(fd, REALGPU_IOCTL_ALLOC, a);
}

static long submit_wait(int fd, uint32_t op, uint32_t src, uint32_t dst, uint64_t value,
			uint64_t cost_us, uint64_t *result)
{
	struct realgpu_submit s = { .op = op, .src = src, .dst = dst, .value = value, .cost_us = cost_us };
	struct realgpu_wait w = { 0 };

	if (ioctl(fd, REALGPU_IOCTL_SUBMIT, &s))
		return -errno;
	w.fence = s.fence;
	w.timeout_ns = -1;
	if (ioctl(fd, REALGPU_IOCTL_WAIT, &w))
		return -errno;
	if (result)
		*result = w.result;
	return 0;
}

/* --- scenarios ----------------------------------------------------------- */

static void sc_info(int fd, struct transcript *t)
{
	struct realgpu_info a = { 0 }, b = { 0 };

	rec_ioctl(t, "get_info", fd, REALGPU_IOCTL_GET_INFO, &a);
	rec(t, "abi_version", a.abi_version);
	rec(t, "vram_total", a.vram_total);
	rec(t, "ctx_id nonzero", a.ctx_id != 0);
	rec_ioctl(t, "get_info again", fd, REALGPU_IOCTL_GET_INFO, &b);
	rec(t, "ctx_id stable", a.ctx_id == b.ctx_id);
}

static void sc_alloc_free(int fd, struct transcript *t)
{
	struct realgpu_alloc a = { .size = 5000 }, b = { .size = 4096 };
	struct realgpu_free f = { 0 };

	rec_ioctl(t, "alloc 5000", fd, REALGPU_IOCTL_ALLOC, &a);
	rec(t, "rounded size", a.size);
	rec(t, "handle", a.handle);
	rec_ioctl(t, "alloc 4096", fd, REALGPU_IOCTL_ALLOC, &b);
	rec(t, "second handle", b.handle);
	rec(t, "offsets differ", a.mmap_offset != b.mmap_offset);
	f.handle = a.handle;
	rec_ioctl(t, "free", fd, REALGPU_IOCTL_FREE, &f);
	rec_ioctl(t, "free twice", fd, REALGPU_IOCTL_FREE, &f);
	f.handle = 0xdead;
	rec_ioctl(t, "free bad handle", fd, REALGPU_IOCTL_FREE, &f);
	f.handle = b.handle;
	f.pad = 1;
	rec_ioctl(t, "free nonzero pad", fd, REALGPU_IOCTL_FREE, &f);
}

static void sc_bad_input(int fd, struct transcript *t)
{
	struct realgpu_alloc a = { 0 };

	rec_ioctl(t, "alloc size 0", fd, REALGPU_IOCTL_ALLOC, &a);
	a.size = ~0ull;
	rec_ioctl(t, "alloc size overflow", fd, REALGPU_IOCTL_ALLOC, &a);
	a.size = 1ull << 50;
	rec_ioctl(t, "alloc huge", fd, REALGPU_IOCTL_ALLOC, &a);
	rec_ioctl(t, "unknown nr", fd, _IOWR(REALGPU_IOC_MAGIC, 0x7f, struct realgpu_alloc), &a);
	rec_ioctl(t, "wrong size", fd, _IOWR(REALGPU_IOC_MAGIC, 0x01, struct realgpu_free), &a);
	rec_ioctl(t, "foreign magic", fd, _IO('x', 1), NULL);
	rec_ioctl(t, "NULL arg", fd, REALGPU_IOCTL_ALLOC, NULL);
	rec_ioctl(t, "unmapped arg", fd, REALGPU_IOCTL_ALLOC, (void *)0x1000);
	rec_ioctl(t, "kernel arg", fd, REALGPU_IOCTL_ALLOC, (void *)0xffffffff81000000ull);
	rec_ioctl(t, "get_info NULL", fd, REALGPU_IOCTL_GET_INFO, NULL);
}

static void sc_mmap_jobs(int fd, struct transcript *t)
{
	struct realgpu_alloc a, b;
	uint64_t sum = 0;
	unsigned char *p, *q;
	size_t len = 3 * 4096;

	rec(t, "alloc a", alloc(fd, len, &a));
	rec(t, "alloc b", alloc(fd, len, &b));
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, a.mmap_offset);
	rec(t, "mmap a", p == MAP_FAILED ? -errno : 0);
	if (p == MAP_FAILED)
		return;
	rec(t, "fresh page is zero", p[4096 + 7]);
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 7);
	rec(t, "checksum a", submit_wait(fd, REALGPU_OP_CHECKSUM, a.handle, 0, 0, 0, &sum));
	rec(t, "sum a", (long long)sum);
	rec(t, "copy a->b", submit_wait(fd, REALGPU_OP_COPY, a.handle, b.handle, 0, 0, NULL));
	q = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, b.mmap_offset);
	rec(t, "mmap b", q == MAP_FAILED ? -errno : 0);
	if (q != MAP_FAILED) {
		rec(t, "b equals a", memcmp(p, q, len) == 0);
		rec(t, "fill b", submit_wait(fd, REALGPU_OP_FILL, 0, b.handle, 0x5a, 0, NULL));
		rec(t, "b filled", q[0] == 0x5a && q[len - 1] == 0x5a);
		munmap(q, len);
	}
	errno = 0;
	q = mmap(NULL, len + 4096, PROT_READ, MAP_SHARED, fd, a.mmap_offset);
	rec(t, "mmap beyond buffer", q == MAP_FAILED ? -errno : 0);
	if (q != MAP_FAILED)
		munmap(q, len + 4096);
	q = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0x7fff0000000ull);
	rec(t, "mmap bad offset", q == MAP_FAILED ? -errno : 0);
	if (q != MAP_FAILED)
		munmap(q, 4096);
	munmap(p, len);
}

static void sc_events(int fd, struct transcript *t)
{
	struct realgpu_submit s = { .op = REALGPU_OP_NOP, .cost_us = 1000 };
	struct realgpu_event ev = { 0 };
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char small[4];

	rec(t, "poll idle", poll(&pfd, 1, 0));
	rec_ioctl(t, "submit", fd, REALGPU_IOCTL_SUBMIT, &s);
	rec(t, "poll event", poll(&pfd, 1, 5000));
	rec(t, "revents", pfd.revents & (POLLIN | POLLERR | POLLHUP));
	errno = 0;
	rec(t, "short read", read(fd, small, sizeof(small)) < 0 ? -errno : 0);
	rec(t, "read", read(fd, &ev, sizeof(ev)));
	rec(t, "event type", ev.type);
	rec(t, "event fence", ev.fence == s.fence);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	errno = 0;
	rec(t, "nonblocking read, no event", read(fd, &ev, sizeof(ev)) < 0 ? -errno : 0);
}

static void sc_nonblock_open(int fd, struct transcript *t)
{
	struct realgpu_event ev;

	errno = 0;
	rec(t, "O_NONBLOCK read, no event", read(fd, &ev, sizeof(ev)) < 0 ? -errno : 0);
}

static void on_alarm(int sig) { (void)sig; }

static void sc_wait_signal(int fd, struct transcript *t)
{
	struct realgpu_submit s = { .op = REALGPU_OP_NOP, .cost_us = 400000 };
	struct realgpu_wait w = { 0 };
	struct sigaction sa = { .sa_handler = on_alarm };

	rec_ioctl(t, "submit slow job", fd, REALGPU_IOCTL_SUBMIT, &s);
	w.fence = s.fence;
	w.timeout_ns = 0;
	rec_ioctl(t, "wait, timeout 0", fd, REALGPU_IOCTL_WAIT, &w);
	w.timeout_ns = 1000000;
	rec_ioctl(t, "wait, 1 ms timeout", fd, REALGPU_IOCTL_WAIT, &w);
	sigaction(SIGALRM, &sa, NULL);		/* no SA_RESTART */
	ualarm(50000, 0);
	w.timeout_ns = -1;
	rec_ioctl(t, "wait interrupted", fd, REALGPU_IOCTL_WAIT, &w);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	ualarm(50000, 0);
	rec_ioctl(t, "wait restarted", fd, REALGPU_IOCTL_WAIT, &w);
	signal(SIGALRM, SIG_DFL);
	w.fence = 1ull << 60;
	rec_ioctl(t, "wait unknown fence", fd, REALGPU_IOCTL_WAIT, &w);
}

static void sc_export_import(int fd, struct transcript *t)
{
	struct realgpu_alloc a;
	struct realgpu_export e = { 0 };
	struct realgpu_import im = { 0 };
	int fd2 = open(direct_path, O_RDWR);	/* the importer: any realgpu file */
	unsigned char *p, *q;

	rec(t, "alloc", alloc(fd, 4096, &a));
	e.handle = a.handle;
	rec_ioctl(t, "export", fd, REALGPU_IOCTL_EXPORT, &e);
	rec(t, "export fd cloexec", (fcntl(e.fd, F_GETFD) & FD_CLOEXEC) != 0);
	im.fd = e.fd;
	rec_ioctl(t, "import", fd2, REALGPU_IOCTL_IMPORT, &im);
	rec(t, "same buffer", im.buf_id == a.buf_id);
	rec(t, "same size", im.size);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, a.mmap_offset);
	q = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd2, im.mmap_offset);
	rec(t, "both mapped", p != MAP_FAILED && q != MAP_FAILED);
	if (p != MAP_FAILED && q != MAP_FAILED) {
		strcpy((char *)p, "shared through export/import");
		rec(t, "data shared", strcmp((char *)q, "shared through export/import") == 0);
	}
	if (p != MAP_FAILED)
		munmap(p, 4096);
	if (q != MAP_FAILED)
		munmap(q, 4096);
	im.fd = open("/dev/null", O_RDONLY);
	rec_ioctl(t, "import of /dev/null", fd2, REALGPU_IOCTL_IMPORT, &im);
	close(im.fd);
	rec_ioctl(t, "import of a closed fd", fd2, REALGPU_IOCTL_IMPORT, &im);
	close(e.fd);
	e.handle = 0xdead;
	rec_ioctl(t, "export bad handle", fd, REALGPU_IOCTL_EXPORT, &e);
	close(fd2);
}

/*
 * ATTACH_PEER with an fd of the same kind of node as the caller's. Through
 * the proxy an fd of a proxy file is refused with EOPNOTSUPP (the driver
 * would need a real-device fd, which mockgpu never gives user space; see
 * README): that is the scenario's one exception. Other fds are forwarded.
 */
static void sc_attach_peer(int fd, struct transcript *t)
{
	struct realgpu_info self = { 0 }, peer = { 0 };
	struct realgpu_attach_peer ap = { 0 };
	char path[64];
	int peer_fd, null_fd;
	long r;

	/* The peer is opened from the same node as @fd (proxy or direct). */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	peer_fd = open(path, O_RDWR);
	rec(t, "peer opened", peer_fd >= 0);
	ioctl(fd, REALGPU_IOCTL_GET_INFO, &self);
	ioctl(peer_fd, REALGPU_IOCTL_GET_INFO, &peer);
	ap.fd = peer_fd;
	r = rec_ioctl(t, "attach own-device fd", fd, REALGPU_IOCTL_ATTACH_PEER, &ap);
	/* The peer's context when attached; the output left alone when refused. */
	rec(t, "peer ctx reported, or left alone if refused",
	    r == 0 ? ap.peer_ctx_id == peer.ctx_id && peer.ctx_id != self.ctx_id
		   : ap.peer_ctx_id == 0);
	rec(t, "caller's fd restored", ap.fd == peer_fd);
	null_fd = open("/dev/null", O_RDWR);
	ap.fd = null_fd;
	rec_ioctl(t, "attach /dev/null fd", fd, REALGPU_IOCTL_ATTACH_PEER, &ap);
	close(null_fd);
	rec_ioctl(t, "attach closed fd", fd, REALGPU_IOCTL_ATTACH_PEER, &ap);
	ap.fd = -1;
	rec_ioctl(t, "attach fd -1", fd, REALGPU_IOCTL_ATTACH_PEER, &ap);
	rec_ioctl(t, "attach NULL arg", fd, REALGPU_IOCTL_ATTACH_PEER, NULL);
	close(peer_fd);
}

/* --- proxy-only tests ---------------------------------------------------- */

static uint64_t ctx_of(int fd)
{
	struct realgpu_info info = { 0 };

	if (ioctl(fd, REALGPU_IOCTL_GET_INFO, &info))
		return 0;
	return info.ctx_id;
}

static int test_direct_fd_into_proxy(void)
{
	struct realgpu_attach_peer ap = { 0 };
	int p = open_proxy(), d = open(direct_path, O_RDWR);

	TEST_BEGIN();
	ap.fd = d;
	EXPECT_OK(ioctl(p, REALGPU_IOCTL_ATTACH_PEER, &ap));
	EXPECT_EQ(ap.peer_ctx_id, ctx_of(d));
	close(p);
	close(d);
	return ktap_verdict();
}

static int test_fork(void)
{
	int fd = open_proxy(), status = 0;
	uint64_t ctx = ctx_of(fd);
	pid_t pid;

	TEST_BEGIN();
	EXPECT(ctx != 0);
	pid = fork();
	if (pid == 0) {
		struct realgpu_alloc a;

		_exit(ctx_of(fd) == ctx && alloc(fd, 4096, &a) == 0 ? 0 : 1);
	}
	EXPECT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
	return ktap_verdict();
}

static int test_fd_passing(void)
{
	int sv[2], fd = open_proxy(), got = -1;
	char cbuf[CMSG_SPACE(sizeof(int))], c = 'x';
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;

	TEST_BEGIN();
	EXPECT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	EXPECT_EQ(sendmsg(sv[0], &msg, 0), 1);
	memset(cbuf, 0, sizeof(cbuf));
	EXPECT_EQ(recvmsg(sv[1], &msg, 0), 1);
	cm = CMSG_FIRSTHDR(&msg);
	if (cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&got, CMSG_DATA(cm), sizeof(int));
	EXPECT(got >= 0 && got != fd);
	EXPECT_EQ(ctx_of(got), ctx_of(fd));
	close(got);
	close(fd);
	close(sv[0]);
	close(sv[1]);
	return ktap_verdict();
}

static int hammer_fd;
static int hammer_errors;

static void *hammer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 300; i++) {
		struct realgpu_alloc a;
		struct realgpu_free f = { 0 };

		if (alloc(hammer_fd, 4096, &a)) {
			__atomic_add_fetch(&hammer_errors, 1, __ATOMIC_RELAXED);
			continue;
		}
		f.handle = a.handle;
		if (ioctl(hammer_fd, REALGPU_IOCTL_FREE, &f) || ctx_of(hammer_fd) == 0)
			__atomic_add_fetch(&hammer_errors, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static int test_threads(void)
{
	pthread_t th[16];
	uint64_t before = vram_used();

	TEST_BEGIN();
	hammer_fd = open_proxy();
	for (int i = 0; i < 16; i++)
		pthread_create(&th[i], NULL, hammer, NULL);
	for (int i = 0; i < 16; i++)
		pthread_join(th[i], NULL);
	EXPECT_EQ(hammer_errors, 0);
	close(hammer_fd);
	EXPECT_EQ(vram_used(), before);
	return ktap_verdict();
}

static volatile int race_stop;

static void *ioctl_loop(void *arg)
{
	int fd = *(int *)arg;

	while (!race_stop) {
		struct realgpu_info info;

		/* EBADF once closed; never anything worse. */
		ioctl(fd, REALGPU_IOCTL_GET_INFO, &info);
	}
	return NULL;
}

static int test_close_races(void)
{
	TEST_BEGIN();
	for (int round = 0; round < 50; round++) {
		pthread_t th;
		int fd = open_proxy();

		race_stop = 0;
		pthread_create(&th, NULL, ioctl_loop, &fd);
		usleep(200);
		close(fd);
		usleep(200);
		race_stop = 1;
		pthread_join(th, NULL);
	}
	EXPECT_EQ(vram_used(), 0);
	return ktap_verdict();
}

static void *poll_forever(void *arg)
{
	struct pollfd pfd = { .fd = *(int *)arg, .events = POLLIN };

	poll(&pfd, 1, 1500);
	return NULL;
}

static int test_close_during_poll(void)
{
	pthread_t th;
	int fd = open_proxy();
	int fd2;

	TEST_BEGIN();
	pthread_create(&th, NULL, poll_forever, &fd);
	usleep(100000);
	EXPECT_OK(close(fd));
	pthread_join(th, NULL);
	/* The device still works for new files. */
	fd2 = open_proxy();
	EXPECT(ctx_of(fd2) != 0);
	close(fd2);
	return ktap_verdict();
}

/* The name /proc/self/maps gives the mapping at @p, or "" if none. */
static void maps_name(void *p, char *name, size_t len)
{
	char line[512];
	FILE *maps = fopen("/proc/self/maps", "r");

	name[0] = 0;
	while (maps && fgets(line, sizeof(line), maps)) {
		char *path = strchr(line, '/');

		if (strtoull(line, NULL, 16) == (uintptr_t)p && path) {
			path[strcspn(path, "\n")] = 0;
			snprintf(name, len, "%s", path);
		}
	}
	if (maps)
		fclose(maps);
}

/* A proxy mapping is listed under the proxy's path, a direct one under the real node's. */
static int test_maps_name(void)
{
	int fd = open_proxy(), d = open(direct_path, O_RDWR);
	struct realgpu_alloc a, b;
	char pname[256], dname[256];
	void *p, *q;

	TEST_BEGIN();
	EXPECT_OK(alloc(fd, 4096, &a));
	EXPECT_OK(alloc(d, 4096, &b));
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, a.mmap_offset);
	q = mmap(NULL, 4096, PROT_READ, MAP_SHARED, d, b.mmap_offset);
	EXPECT(p != MAP_FAILED && q != MAP_FAILED);
	maps_name(p, pname, sizeof(pname));
	maps_name(q, dname, sizeof(dname));
	if (strcmp(pname, proxy_path) || strcmp(dname, direct_path))
		ktap_diag("proxy mapping '%s', direct mapping '%s'", pname, dname);
	EXPECT(strcmp(pname, proxy_path) == 0);
	EXPECT(strcmp(dname, direct_path) == 0);
	munmap(p, 4096);
	munmap(q, 4096);
	close(fd);
	close(d);
	return ktap_verdict();
}

static int test_mapping_outlives_file(void)
{
	int fd = open_proxy();
	struct realgpu_alloc a;
	unsigned char *p;

	TEST_BEGIN();
	EXPECT_OK(alloc(fd, 8192, &a));
	p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, a.mmap_offset);
	EXPECT(p != MAP_FAILED);
	close(fd);
	if (p != MAP_FAILED) {
		p[8191] = 0x42;		/* faults in after the proxy file is gone */
		EXPECT_EQ(p[8191], 0x42);
		EXPECT(vram_used() >= 8192);
		munmap(p, 8192);
	}
	/* The context goes with the last mapping: at once on the bare device,
	 * within a reaper pass (100 ms) through the proxy, whose file charge
	 * it held until then (mapped.rs). */
	for (int i = 0; i < 100 && vram_used() != 0; i++)
		usleep(10000);
	EXPECT_EQ(vram_used(), 0);
	return ktap_verdict();
}

static int control(unsigned long cmd, void *req)
{
	int fd = open("/dev/mockgpu-control", O_RDWR);
	int r;

	if (fd < 0)
		return -1;
	r = ioctl(fd, cmd, req);
	close(fd);
	return r;
}

static int unload_refused(const char *module)
{
	errno = 0;
	if (syscall(__NR_delete_module, module, O_NONBLOCK) == 0) {
		ktap_diag("%s was unloaded while a proxy file was open", module);
		return 0;
	}
	return errno == EWOULDBLOCK || errno == EBUSY;
}

static int test_unload_refused(void)
{
	int fd = open_proxy();

	TEST_BEGIN();
	EXPECT(unload_refused("mockgpu"));
	EXPECT(unload_refused("realgpu"));
	EXPECT(ctx_of(fd) != 0);
	close(fd);
	return ktap_verdict();
}

/*
 * Removing the target leaves open files working; the node disappears, and the
 * node a container already had (a bind mount of the proxy made before the
 * removal, whose inode an open file keeps bound to the proxy's cdev) gives
 * ENODEV. Adding the target again restores the proxy.
 */
static int test_target_removal(void)
{
	struct mockgpu_target_remove rm = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(rm) } };
	struct mockgpu_target_add add = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(add) } };
	struct realgpu_alloc a;
	const char *bind = "/tmp/proxy-bind";
	int fd = open_proxy(), mounted, b;
	unsigned char *p;

	TEST_BEGIN();
	EXPECT_OK(alloc(fd, 4096, &a));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, a.mmap_offset);
	EXPECT(p != MAP_FAILED);
	/* A container's view of the proxy: the same inode as the one @fd was opened by. */
	b = open(bind, O_CREAT | O_WRONLY, 0600);
	if (b >= 0)
		close(b);
	mounted = !mount(proxy_path, bind, NULL, MS_BIND, NULL);
	EXPECT(mounted);
	b = open(bind, O_RDWR);
	EXPECT(b >= 0);			/* it works before the removal */
	if (b >= 0)
		close(b);
	strcpy(rm.name, strrchr(proxy_path, '/') + 1);
	EXPECT_OK(control(MOCKGPU_IOCTL_TARGET_REMOVE, &rm));
	EXPECT_ERRNO(control(MOCKGPU_IOCTL_TARGET_REMOVE, &rm), ENOENT);
	EXPECT(ctx_of(fd) != 0);		/* the open file still works */
	EXPECT_OK(alloc(fd, 4096, &a));
	if (p != MAP_FAILED) {
		p[0] = 1;			/* and so does its mapping */
		munmap(p, 4096);
	}
	EXPECT_ERRNO(open(proxy_path, O_RDWR), ENOENT);
	EXPECT_ERRNO(open(bind, O_RDWR), ENODEV);
	EXPECT_OK(ioctl(fd, REALGPU_IOCTL_GET_INFO, &(struct realgpu_info){ 0 }));
	if (mounted)
		umount2(bind, MNT_DETACH);
	unlink(bind);
	close(fd);
	strcpy(add.path, direct_path);
	EXPECT_OK(control(MOCKGPU_IOCTL_TARGET_ADD, &add));
	EXPECT(strcmp(add.name, rm.name) == 0);
	fd = open_proxy();
	EXPECT(ctx_of(fd) != 0);
	close(fd);
	return ktap_verdict();
}

/* --- main ---------------------------------------------------------------- */

static const struct scenario scenarios[] = {
	{ "get_info", sc_info, 0, "abi_version", REALGPU_ABI_VERSION, NULL, 0 },
	{ "alloc and free", sc_alloc_free, 0, "free bad handle", -EINVAL, NULL, 0 },
	{ "bad input errnos", sc_bad_input, 0, "NULL arg", -EFAULT, NULL, 0 },
	{ "mmap and jobs", sc_mmap_jobs, 0, "b equals a", 1, NULL, 0 },
	{ "poll and read events", sc_events, 0, "nonblocking read, no event", -EAGAIN, NULL, 0 },
	{ "O_NONBLOCK at open", sc_nonblock_open, O_NONBLOCK, "O_NONBLOCK read, no event", -EAGAIN,
	  NULL, 0 },
	{ "wait timeout and signals", sc_wait_signal, 0, "wait interrupted", -EINTR, NULL, 0 },
	{ "export and import", sc_export_import, 0, "data shared", 1, NULL, 0 },
	{ "attach peer: a proxy fd is refused by design, other fds forwarded", sc_attach_peer, 0,
	  "attach own-device fd", 0, "attach own-device fd", -EOPNOTSUPP },
};

int main(int argc, char **argv)
{
	int nsc = sizeof(scenarios) / sizeof(scenarios[0]);

	direct_path = argc > 1 ? argv[1] : "/dev/realgpu";
	proxy_path = argc > 2 ? argv[2] : "/dev/mockgpu/realgpu";
	ktap_header(nsc + 11);
	for (int i = 0; i < nsc; i++) {
		struct transcript d;
		int same = same_both_ways(&scenarios[i], &d);
		long long got = get(&d, scenarios[i].key);

		if (got != scenarios[i].want)
			ktap_diag("direct run: '%s' is %lld, expected %lld", scenarios[i].key,
				  got, scenarios[i].want);
		ktap_result(same && got == scenarios[i].want, "same through the proxy: %s",
			    scenarios[i].name);
	}
	ktap_result(test_direct_fd_into_proxy(), "a direct fd passed through the proxy");
	ktap_result(test_fork(), "fork: the child uses the inherited proxy fd");
	ktap_result(test_fd_passing(), "an fd passed over a unix socket is the same context");
	ktap_result(test_threads(), "16 threads hammering one proxy fd");
	ktap_result(test_close_races(), "close races with ioctls in flight");
	ktap_result(test_close_during_poll(), "close during poll");
	ktap_result(test_maps_name(), "/proc/self/maps names the proxy for a proxy mapping");
	ktap_result(test_mapping_outlives_file(), "a mapping outlives its proxy file");
	ktap_result(test_unload_refused(), "rmmod of mockgpu and of the driver refused while a proxy file is open");
	ktap_result(test_target_removal(), "target removal leaves open files working, opens through "
		    "an old bind mount get ENODEV");
	ktap_result(vram_used() == 0, "no VRAM left allocated after the suite");
	return ktap_finish();
}
