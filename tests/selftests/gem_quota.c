// SPDX-License-Identifier: GPL-2.0
/*
 * gem_quota: device memory on a DRM target (vgem) is charged per GEM object,
 * for the object's whole life, from the kernel's own copy of each argument
 * (issue 11).
 *
 *   gem_quota CARD RENDER      e.g. /dev/dri/card0 /dev/dri/renderD128
 *
 * The test adds both nodes as targets whose tenants are cgroups, moves itself
 * into a new cgroup with a memory limit, and attacks the limit through the
 * proxies as a hostile tenant would: a thread flipping the size while the
 * ioctl runs, objects kept alive by mmaps, dma-bufs, flink names and a
 * closed file's mapping, imports across nodes, other encodings of the same
 * ioctl number, an answer that cannot be copied back.
 *
 * Truth is the device's: vgem's objects are shmem files, and every object
 * alive is made resident (mapped and written once), so /proc/meminfo's
 * Shmem grows by exactly the bytes alive. mockgpu's own charge is compared
 * with it, never trusted for the limit.
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
#include <drm/drm.h>
#include <drm/drm_mode.h>

#include "ctl.h"
#include "ktap.h"
#include "mockgpu.h"

#define KiB 1024ull
#define MiB (1024 * KiB)
#define LIMIT (1 * MiB)
#define CG "/sys/fs/cgroup/gem_quota"
/* Shmem also moves with whatever else in the guest uses tmpfs or shmem:
 * measured up to ~70 KiB either way between two readings. */
#define SLACK (128 * KiB)

static const char *card_path, *render_path;
static char card_name[MOCKGPU_NAME_MAX], render_name[MOCKGPU_NAME_MAX];
static char card_proxy[128], render_proxy[128];
static uint64_t cg_id;
static long shmem_base;

static int target_add(const char *path, char *name)
{
	struct mockgpu_target_add a = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(a) } };

	snprintf(a.path, sizeof(a.path), "%s", path);
	a.tenant_kind = MOCKGPU_TENANT_CGROUP;
	if (ctl(MOCKGPU_IOCTL_TARGET_ADD, &a))
		return -1;
	snprintf(name, MOCKGPU_NAME_MAX, "%s", a.name);
	return 0;
}

static int limit_set(const char *tgt, uint64_t mem)
{
	struct mockgpu_limit l = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(l) } };

	snprintf(l.target, sizeof(l.target), "%s", tgt);
	l.tenant.kind = MOCKGPU_TENANT_CGROUP;
	l.tenant.id = cg_id;
	l.limits.memory = mem;
	l.limits.files = 1000;
	l.limits.compute_pct = 100;
	return ctl(MOCKGPU_IOCTL_LIMIT_SET, &l);
}

/* The test cgroup's charge on a target; UINT64_MAX if unknown. */
static uint64_t charged(const char *tgt)
{
	return ctl_memory_used(tgt, MOCKGPU_TENANT_CGROUP, cg_id);
}

static uint64_t charged_all(void)
{
	uint64_t a = charged(card_name), b = charged(render_name);

	return a == UINT64_MAX || b == UINT64_MAX ? UINT64_MAX : a + b;
}

static long shmem_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Shmem: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Bytes of vgem objects alive (resident), by the kernel's own count. */
static int64_t truth(void)
{
	return (int64_t)(shmem_kb() - shmem_base) * 1024;
}

static int near(int64_t a, uint64_t b)
{
	return a >= (int64_t)b - (int64_t)SLACK && a <= (int64_t)(b + SLACK);
}

/* --- vgem through DRM ------------------------------------------------------ */

static int create(int fd, uint32_t width, uint32_t *handle)
{
	struct drm_mode_create_dumb c = { .height = 64, .width = width, .bpp = 32 };
	int r = ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &c);

	if (!r)
		*handle = c.handle;
	return r;
}

/* width for @bytes: height 64, 4 bytes a pixel */
#define W(bytes) ((uint32_t)((bytes) / 256))

static int gem_close(int fd, uint32_t h)
{
	struct drm_gem_close c = { .handle = h };

	return ioctl(fd, DRM_IOCTL_GEM_CLOSE, &c);
}

/* Maps the object (its pages become resident), writes each page; the mapping is returned. */
static void *map(int fd, uint32_t h, size_t size)
{
	struct drm_mode_map_dumb m = { .handle = h };
	char *p;

	if (ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &m))
		return NULL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, m.offset);
	if (p == MAP_FAILED)
		return NULL;
	for (size_t i = 0; i < size; i += 4096)
		p[i] = 1;
	return p;
}

/* Makes the object resident and unmaps it again. */
static int touch(int fd, uint32_t h, size_t size)
{
	void *p = map(fd, h, size);

	return p ? munmap(p, size) : -1;
}

static int export(int fd, uint32_t h)
{
	struct drm_prime_handle p = { .handle = h, .flags = DRM_CLOEXEC | DRM_RDWR };

	return ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p) ? -1 : p.fd;
}

/* The object's size as the kernel has it: its dma-buf's size. */
static uint64_t obj_size(int fd, uint32_t h)
{
	int d = export(fd, h);
	off_t n = d < 0 ? 0 : lseek(d, 0, SEEK_END);

	if (d >= 0)
		close(d);
	return n < 0 ? 0 : (uint64_t)n;
}

static int import(int fd, int dmabuf, uint32_t *h)
{
	struct drm_prime_handle p = { .fd = dmabuf };
	int r = ioctl(fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, &p);

	if (!r)
		*h = p.handle;
	return r;
}

/* The charge once it settles at @want (the reaper runs every second), or after 5 s. */
static uint64_t charge_settles(uint64_t want)
{
	uint64_t c = charged_all();

	for (int i = 0; i < 500 && c != want; i++) {
		usleep(10000);
		c = charged_all();
	}
	return c;
}

/* The device's count once it settles near @want (a freed object's shmem
 * file is released by a deferred fput, a moment after), or after 5 s. */
static int64_t truth_settles(uint64_t want)
{
	int64_t t = truth();

	for (int i = 0; i < 500 && !near(t, want); i++) {
		usleep(10000);
		t = truth();
	}
	return t;
}

static int check(const char *what, int64_t device, uint64_t charge, uint64_t want)
{
	int ok = near(device, want) && charge == want;

	if (!ok) {
		char line[256];
		FILE *f = fopen("/sys/kernel/debug/mockgpu/status", "r");

		ktap_diag("%s: device %" PRId64 " B, charged %" PRIu64 " B, expected %" PRIu64 " B",
			  what, device, charge, want);
		while (f && fgets(line, sizeof(line), f))
			printf("#   %s", line);
		if (f)
			fclose(f);
	}
	return ok;
}

/* --- the attacks ------------------------------------------------------------ */

static volatile int flip_stop;
static struct drm_mode_create_dumb *flip_arg;

static void *flipper(void *unused)
{
	(void)unused;
	while (!flip_stop) {
		flip_arg->width = W(4 * KiB);
		flip_arg->width = W(2 * MiB);
	}
	return NULL;
}

/*
 * A thread flips CREATE_DUMB's width between 4 KiB and 2 MiB worth for
 * 10,000 calls; at every 1,000 the objects alive are made resident and
 * compared with the limit and the charge, then freed.
 */
static int test_flip(void)
{
	static uint32_t handles[1024];
	int fd = open(card_proxy, O_RDWR | O_CLOEXEC), ok = fd >= 0;
	struct drm_mode_create_dumb arg;
	uint64_t worst = 0;
	pthread_t t;

	if (!ok)
		return 0;
	flip_arg = &arg;
	flip_stop = 0;
	pthread_create(&t, NULL, flipper, NULL);
	for (int round = 0; round < 10 && ok; round++) {
		unsigned n = 0;

		for (int i = 0; i < 1000; i++) {
			arg = (struct drm_mode_create_dumb){ .height = 64, .width = W(4 * KiB), .bpp = 32 };
			if (!ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &arg) && n < 1024)
				handles[n++] = arg.handle;
		}
		flip_stop = 1;
		uint64_t sizes = 0;

		for (unsigned i = 0; i < n; i++) {
			if (touch(fd, handles[i], 2 * MiB))
				touch(fd, handles[i], 4 * KiB);
			sizes += obj_size(fd, handles[i]);
		}
		int64_t dev = truth();
		uint64_t c = charged_all();

		if (dev > (int64_t)worst)
			worst = dev;
		/* Resident bytes within the limit; the objects' own sizes are the charge. */
		if (dev > (int64_t)(LIMIT + SLACK) || sizes > LIMIT || sizes != c) {
			ktap_diag("round %d: %u objects of %" PRIu64 " B, resident %" PRId64
				  " B, charged %" PRIu64 " B, limit %llu B", round, n, sizes, dev, c,
				  LIMIT);
			ok = 0;
		}
		for (unsigned i = 0; i < n; i++)
			gem_close(fd, handles[i]);
		flip_stop = 0;
		pthread_join(t, NULL);
		pthread_create(&t, NULL, flipper, NULL);
	}
	flip_stop = 1;
	pthread_join(t, NULL);
	close(fd);
	ok = ok && check("after freeing", truth_settles(0), charge_settles(0), 0);
	ktap_diag("flip: most alive at a check %" PRIu64 " KiB (limit %llu KiB)", worst / KiB,
		  LIMIT / KiB);
	return ok;
}

/* An object kept alive by @keep (a mapping, a dma-buf, a closed file's
 * mapping) after its handle is gone stays charged, and the limit counts it. */
enum keep { KEEP_MAP, KEEP_DMABUF, KEEP_CLOSED_FILE };

static int test_keep(enum keep how)
{
	int fd = open(card_proxy, O_RDWR | O_CLOEXEC), ok = 1, dmabuf = -1;
	uint32_t h, h2;
	void *p = NULL;

	if (fd < 0 || create(fd, W(512 * KiB), &h))
		return 0;
	if (touch(fd, h, 512 * KiB))
		return 0;
	if (how == KEEP_DMABUF)
		dmabuf = export(fd, h);
	else
		p = map(fd, h, 512 * KiB);
	if (how == KEEP_DMABUF ? dmabuf < 0 : !p)
		return 0;
	if (how == KEEP_CLOSED_FILE)
		close(fd);
	else
		gem_close(fd, h);
	usleep(1200 * 1000);	/* past a reaper period: the object is alive, still charged */
	ok &= check("handle gone, object kept", truth(), charged_all(), 512 * KiB);
	int efd = fd;

	if (how == KEEP_CLOSED_FILE)
		efd = open(card_proxy, O_RDWR | O_CLOEXEC);
	/* 512 KiB alive + 768 KiB would pass the 1 MiB limit. */
	errno = 0;
	if (!create(efd, W(768 * KiB), &h2)) {
		ktap_diag("a 768 KiB object was created next to 512 KiB kept alive");
		ok = 0;
		gem_close(efd, h2);
	} else if (errno != EDQUOT) {
		ktap_diag("second create: %s (want EDQUOT)", strerror(errno));
		ok = 0;
	}
	if (how == KEEP_DMABUF)
		close(dmabuf);
	else
		munmap(p, 512 * KiB);
	ok &= check("object dead", truth_settles(0), charge_settles(0), 0);
	close(efd);
	return ok;
}

/*
 * Another thread of the file snatches each new object as soon as it can:
 * it exports the handle CREATE_DUMB is about to answer (the lowest free
 * one, 1 here) and closes it at once, keeping the dma-buf. Snatched after
 * mockgpu charged it, an object stays charged while the dma-buf keeps it;
 * snatched before (between the driver's handle and mockgpu's lookup, the
 * window a file's serialized GEM ioctls close), it would be alive unpaid.
 * The objects alive are the dma-bufs held, by their own sizes.
 */
#define SNATCH_SIZE (64 * KiB)
#define SNATCH_MAX 256
static volatile int snatch_stop;
static int snatch_fd, snatched[SNATCH_MAX], nsnatched;

static void *snatcher(void *unused)
{
	(void)unused;
	while (!snatch_stop && nsnatched < SNATCH_MAX) {
		int d = export(snatch_fd, 1);

		if (d < 0)
			continue;
		gem_close(snatch_fd, 1);
		snatched[nsnatched++] = d;
	}
	return NULL;
}

static int test_snatch(void)
{
	int ok = 1, created = 0, refused = 0;
	uint64_t alive = 0;
	pthread_t t;

	snatch_fd = open(card_proxy, O_RDWR | O_CLOEXEC);
	if (snatch_fd < 0 || pthread_create(&t, NULL, snatcher, NULL))
		return 0;
	for (int i = 0; i < 4000 && nsnatched < SNATCH_MAX; i++) {
		uint32_t h;

		if (create(snatch_fd, W(SNATCH_SIZE), &h)) {
			refused += errno == EDQUOT;
			continue;
		}
		created++;
		gem_close(snatch_fd, h);	/* unless the other thread had it first */
	}
	snatch_stop = 1;
	pthread_join(t, NULL);
	for (int i = 0; i < nsnatched; i++)
		alive += (uint64_t)lseek(snatched[i], 0, SEEK_END);
	ktap_diag("%d objects created, %d refused (EDQUOT), %d snatched: %" PRIu64
		  " KiB alive by their dma-bufs, %" PRIu64 " KiB charged, limit %llu KiB",
		  created, refused, nsnatched, alive / KiB, charge_settles(alive) / KiB, LIMIT / KiB);
	if (alive > LIMIT) {
		ktap_diag("the objects alive pass the limit");
		ok = 0;
	}
	ok &= nsnatched > 0 && charge_settles(alive) == alive;
	for (int i = 0; i < nsnatched; i++)
		close(snatched[i]);
	nsnatched = 0;
	ok &= charge_settles(0) == 0;
	close(snatch_fd);
	return ok;
}

/* Authenticates @fd with the master @master (GEM_OPEN needs DRM_AUTH). */
static int auth(int master, int fd)
{
	drm_auth_t a;

	return ioctl(fd, DRM_IOCTL_GET_MAGIC, &a) || ioctl(master, DRM_IOCTL_AUTH_MAGIC, &a);
}

/* A flink name keeps nothing alive by itself, but GEM_OPEN of it in another
 * file makes a second handle: the object is paid once, until its last handle. */
static int test_flink(void)
{
	int a = open(card_proxy, O_RDWR | O_CLOEXEC), b = open(card_proxy, O_RDWR | O_CLOEXEC);
	struct drm_gem_flink fl = { 0 };
	struct drm_gem_open op = { 0 };
	int ok = 1;
	uint32_t h;

	if (a < 0 || b < 0 || create(a, W(512 * KiB), &h) || touch(a, h, 512 * KiB))
		return 0;
	fl.handle = h;
	if (ioctl(a, DRM_IOCTL_GEM_FLINK, &fl) || auth(a, b))
		return 0;
	op.name = fl.name;
	if (ioctl(b, DRM_IOCTL_GEM_OPEN, &op)) {
		ktap_diag("GEM_OPEN: %s", strerror(errno));
		return 0;
	}
	ok &= check("two handles", truth(), charged_all(), 512 * KiB);
	gem_close(a, h);
	usleep(1200 * 1000);
	ok &= check("first handle closed", truth(), charged_all(), 512 * KiB);
	gem_close(b, op.handle);
	ok &= check("both closed", truth_settles(0), charge_settles(0), 0);
	close(a);
	close(b);
	return ok;
}

/* A PRIME self-import and an import through the render node's proxy reach
 * the same object: paid once, by the tenant that created it, while any holds it. */
static int test_import(void)
{
	int card = open(card_proxy, O_RDWR | O_CLOEXEC);
	int render = open(render_proxy, O_RDWR | O_CLOEXEC);
	uint32_t h, self, hr;
	int ok = 1, dmabuf;

	if (card < 0 || render < 0 || create(card, W(512 * KiB), &h) || touch(card, h, 512 * KiB))
		return 0;
	dmabuf = export(card, h);
	if (dmabuf < 0 || import(card, dmabuf, &self) || import(render, dmabuf, &hr))
		return 0;
	if (self != h) {
		ktap_diag("self-import gave handle %u, not %u", self, h);
		ok = 0;
	}
	close(dmabuf);
	ok &= check("imported twice", truth(), charged_all(), 512 * KiB);
	ok &= charged(render_name) == 0;
	gem_close(card, h);
	usleep(1200 * 1000);
	ok &= check("held by the render node only", truth(), charged_all(), 512 * KiB);
	gem_close(render, hr);
	ok &= check("all closed", truth_settles(0), charge_settles(0), 0);
	close(card);
	close(render);
	return ok;
}

/* CREATE_DUMB's number with other sizes and directions reaches the same
 * handler in drm_ioctl: each is charged, and refused over the limit. */
static int test_encodings(void)
{
	static const unsigned long cmds[] = {
		_IOC(_IOC_READ | _IOC_WRITE, 'd', 0xB2, 64),
		_IOC(_IOC_WRITE, 'd', 0xB2, sizeof(struct drm_mode_create_dumb)),
		_IOC(_IOC_READ | _IOC_WRITE, 'd', 0xB2, 24),
	};
	int fd = open(card_proxy, O_RDWR | O_CLOEXEC), ok = fd >= 0;

	for (unsigned i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && ok; i++) {
		struct drm_mode_create_dumb big[2] = { { .height = 64, .width = W(2 * MiB), .bpp = 32 } };
		struct drm_mode_create_dumb c[2] = { { .height = 64, .width = W(512 * KiB), .bpp = 32 } };

		errno = 0;
		if (ioctl(fd, cmds[i], big) != -1 || errno != EDQUOT) {
			ktap_diag("cmd %#lx, 2 MiB: %s (want EDQUOT)", cmds[i], strerror(errno));
			ok = 0;
		}
		if (ioctl(fd, cmds[i], c)) {
			ktap_diag("cmd %#lx, 512 KiB: %s", cmds[i], strerror(errno));
			ok = 0;
			continue;
		}
		/* Without _IOC_READ the handle is not copied back: it is the lowest free one, 1. */
		uint32_t h = (cmds[i] >> 30) & _IOC_READ ? c[0].handle : 1;

		touch(fd, h, 512 * KiB);
		ok &= check("other encoding", truth(), charged_all(), 512 * KiB);
		gem_close(fd, h);
		ok &= check("freed", truth_settles(0), charge_settles(0), 0);
	}
	close(fd);
	return ok;
}

/* On the render node CREATE_DUMB is refused (EACCES) through the proxy as directly. */
static int test_render_create(void)
{
	int d = open(render_path, O_RDWR | O_CLOEXEC), p = open(render_proxy, O_RDWR | O_CLOEXEC);
	uint32_t h;
	int ed, ep;

	if (d < 0 || p < 0)
		return 0;
	errno = 0;
	ed = create(d, W(4 * KiB), &h) ? errno : 0;
	errno = 0;
	ep = create(p, W(4 * KiB), &h) ? errno : 0;
	close(d);
	close(p);
	if (ed != ep)
		ktap_diag("direct %s, proxy %s", strerror(ed), strerror(ep));
	return ed == ep && ep == EACCES;
}

/* An answer that cannot be copied back (read-only argument): EFAULT, and
 * no object is left behind uncharged (drm_ioctl leaves the handle). */
static int test_efault(void)
{
	int fd = open(card_proxy, O_RDWR | O_CLOEXEC), ok = 1;
	struct drm_mode_create_dumb *c = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (fd < 0 || c == MAP_FAILED)
		return 0;
	for (int i = 0; i < 32; i++) {
		*c = (struct drm_mode_create_dumb){ .height = 64, .width = W(512 * KiB), .bpp = 32 };
		mprotect(c, 4096, PROT_READ);
		errno = 0;
		if (ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, c) != -1 || errno != EFAULT) {
			ktap_diag("read-only answer: %s (want EFAULT)", strerror(errno));
			ok = 0;
			break;
		}
		mprotect(c, 4096, PROT_READ | PROT_WRITE);
	}
	/* The handle drm_ioctl would have left is the lowest free one. */
	errno = 0;
	if (!touch(fd, 1, 512 * KiB)) {
		ktap_diag("handle 1 exists after EFAULT");
		ok = 0;
	}
	ok &= check("after 32 refused answers", truth(), charged_all(), 0);
	/* An import whose answer cannot be written: PRIME_FD_TO_HANDLE of a
	 * dma-buf the file has already answers the file's own handle, which
	 * stays (as directly: drm_ioctl undoes nothing). */
	uint32_t h;
	struct drm_prime_handle *p = (struct drm_prime_handle *)c;

	if (create(fd, W(512 * KiB), &h) || touch(fd, h, 512 * KiB)) {
		ktap_diag("create for the import: %s", strerror(errno));
		ok = 0;
	} else {
		*p = (struct drm_prime_handle){ .fd = export(fd, h) };
		mprotect(c, 4096, PROT_READ);
		errno = 0;
		if (ioctl(fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, p) != -1 || errno != EFAULT) {
			ktap_diag("read-only import answer: %s (want EFAULT)", strerror(errno));
			ok = 0;
		}
		mprotect(c, 4096, PROT_READ | PROT_WRITE);
		close(p->fd);
		if (obj_size(fd, h) != 512 * KiB) {
			ktap_diag("the file's own handle %u is gone after the refused import", h);
			ok = 0;
		}
		ok &= check("the imported object, still held", truth_settles(512 * KiB), charged_all(), 512 * KiB);
		gem_close(fd, h);
		ok &= check("freed", truth_settles(0), charge_settles(0), 0);
	}
	close(fd);
	munmap(c, 4096);
	return ok;
}

/* The test cgroup's dmem.current in the target's region; -1 if absent. */
static int64_t dmem_current(void)
{
	return dmem_current_of(CG, card_name);
}

/* cgroup v2 dmem: the cgroup's dmem.max for mockgpu's region refuses
 * (EDQUOT) under mockgpu's own limit, and dmem.current follows the objects. */
static int test_dmem(void)
{
	char max[128];
	int fd = open(card_proxy, O_RDWR | O_CLOEXEC), ok = 1;
	uint32_t a, b;

	if (fd < 0 || write_str("/sys/fs/cgroup/cgroup.subtree_control", "+dmem")) {
		ktap_diag("enabling dmem: %s", strerror(errno));
		return 0;
	}
	snprintf(max, sizeof(max), "mockgpu/%s 786432", card_name);
	if (write_str(CG "/dmem.max", max)) {
		ktap_diag("writing dmem.max: %s", strerror(errno));
		return 0;
	}
	if (create(fd, W(512 * KiB), &a) || touch(fd, a, 512 * KiB)) {
		ktap_diag("first 512 KiB: %s", strerror(errno));
		return 0;
	}
	errno = 0;
	if (!create(fd, W(512 * KiB), &b)) {
		ktap_diag("a second 512 KiB passed dmem.max 768 KiB");
		gem_close(fd, b);
		ok = 0;
	} else if (errno != EDQUOT) {
		ktap_diag("second 512 KiB: %s (want EDQUOT)", strerror(errno));
		ok = 0;
	}
	ok &= check("under dmem.max", truth(), charged_all(), 512 * KiB);
	if (dmem_current() != (int64_t)(512 * KiB)) {
		ktap_diag("dmem.current %" PRId64 ", want 524288", dmem_current());
		ok = 0;
	}
	gem_close(fd, a);
	ok &= check("freed", truth_settles(0), charge_settles(0), 0);
	if (dmem_current() != 0) {
		ktap_diag("dmem.current %" PRId64 " after free", dmem_current());
		ok = 0;
	}
	snprintf(max, sizeof(max), "mockgpu/%s max", card_name);
	write_str(CG "/dmem.max", max);
	close(fd);
	return ok;
}

/* Each test starts from the device's count once the last test's objects are
 * gone (every test checks that they go), so drift elsewhere in the guest
 * between tests does not add up. */
static void rebase(void)
{
	charge_settles(0);
	usleep(100000);
	shmem_base = shmem_kb();
}

int main(int argc, char **argv)
{
	char pid[32];
	struct stat st;

	if (argc != 3) {
		fprintf(stderr, "usage: gem_quota CARD RENDER\n");
		return 2;
	}
	card_path = argv[1];
	render_path = argv[2];
	ktap_header(11);
	if (target_add(card_path, card_name) || target_add(render_path, render_name)) {
		printf("Bail out! TARGET_ADD: %s\n", strerror(errno));
		return 1;
	}
	snprintf(card_proxy, sizeof(card_proxy), "/dev/mockgpu/%s", card_name);
	snprintf(render_proxy, sizeof(render_proxy), "/dev/mockgpu/%s", render_name);
	snprintf(pid, sizeof(pid), "%d", getpid());
	if ((mkdir(CG, 0755) && errno != EEXIST) || stat(CG, &st)) {
		printf("Bail out! cgroup %s: %s\n", CG, strerror(errno));
		return 1;
	}
	cg_id = st.st_ino;
	int cfd = open(CG "/cgroup.procs", O_WRONLY);

	if (cfd < 0 || write(cfd, pid, strlen(pid)) < 0) {
		printf("Bail out! joining %s: %s\n", CG, strerror(errno));
		return 1;
	}
	close(cfd);
	if (limit_set(card_name, LIMIT) || limit_set(render_name, LIMIT)) {
		printf("Bail out! LIMIT_SET: %s\n", strerror(errno));
		return 1;
	}
	rebase();
	rebase();
	ktap_result(test_flip(), "flip: a raced size never passes the limit; charge = device (10,000 calls)");
	rebase();
	ktap_result(test_keep(KEEP_MAP), "map then free: charged until unmapped, then exactly returned");
	rebase();
	ktap_result(test_keep(KEEP_DMABUF), "export then free: charged until the dma-buf closes");
	rebase();
	ktap_result(test_keep(KEEP_CLOSED_FILE), "close while mapped: charged until unmapped");
	rebase();
	ktap_result(test_flink(), "flink + GEM_OPEN: paid once, until the last handle");
	rebase();
	ktap_result(test_import(), "PRIME self-import and render-node import: paid once, while held");
	rebase();
	ktap_result(test_encodings(), "other encodings of CREATE_DUMB: charged and refused alike");
	rebase();
	ktap_result(test_render_create(), "render node: CREATE_DUMB refused as directly (EACCES)");
	rebase();
	ktap_result(test_efault(), "unwritable answer: EFAULT, nothing left alive or charged; an import keeps the file's handle");
	rebase();
	ktap_result(test_dmem(), "cgroup dmem.max refuses, dmem.current matches the device");
	rebase();
	ktap_result(test_snatch(), "a thread closing each new handle before it is charged: nothing alive unpaid");
	return ktap_finish();
}
