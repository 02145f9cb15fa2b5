// SPDX-License-Identifier: GPL-2.0
/*
 * proxy_vgem: a mockgpu proxy of a vgem DRM node is indistinguishable from
 * the node itself for a real DRM client (no libdrm: raw ioctls).
 *
 *   proxy_vgem DIRECT PROXY [DIRECT PROXY]...
 *   e.g. proxy_vgem /dev/dri/renderD128 /dev/mockgpu/renderD128 \
 *                   /dev/dri/card0 /dev/mockgpu/card0
 *
 * Every scenario runs twice, the same calls in the same order: once on fresh
 * fds of DIRECT, once on fresh fds of PROXY (where a scenario needs an fd "of
 * the other kind", the roles swap too). Each run records what it observes
 * (return values as 0 or -errno, output fields, data checks) in a list of
 * labelled values, and the test passes only if
 *   - both lists are identical, label by label, value by value, and
 *   - the values that vgem documents (its name, EACCES for modesetting
 *     ioctls on a render node, EFAULT for bad pointers, ...) are the ones
 *     seen, so that both sides failing the same way is not a pass.
 * Values that are global rather than per-open (fake mmap offsets, flink
 * names, fd numbers, client ids) are never compared directly: only what
 * they mean (nonzero, page aligned, equal to another one, data visible).
 *
 * vgem creates buffers with dumb ioctls, which a render node refuses
 * (EACCES, also checked); on a render pair the buffers a scenario needs are
 * created on the device's primary node (found through sysfs) and imported
 * with PRIME, as a real render client receives them.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <drm/drm.h>
#include <drm/drm_mode.h>
#include <drm/vgem_drm.h>

#include "ktap.h"

#ifndef DRM_IOCTL_SET_CLIENT_NAME
struct drm_set_client_name {
	__u64 name_len;
	__u64 name;
};
#define DRM_IOCTL_SET_CLIENT_NAME DRM_IOWR(0xD1, struct drm_set_client_name)
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define KERNEL_PTR ((void *)0xffff888000000000UL)

/* ---- What one run observes ---------------------------------------------- */

enum kind { V_VAL, V_ERR, V_STR };

struct ent {
	char label[48];
	enum kind kind;
	long long v;
	char s[160];
};

#define OBS_MAX 160
struct obs {
	int n;
	int overflow;
	struct ent e[OBS_MAX];
};

static struct obs obs[2];	/* [0] direct run, [1] proxy run */
static struct obs *cur;
static const char *const side[2] = { "direct", "proxy" };

static struct ent *new_ent(const char *label, enum kind k)
{
	struct ent *e;

	if (cur->n >= OBS_MAX) {
		cur->overflow = 1;
		return NULL;
	}
	e = &cur->e[cur->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->label, sizeof(e->label), "%s", label);
	e->kind = k;
	return e;
}

/* A value. */
static void rec(const char *label, long long v)
{
	struct ent *e = new_ent(label, V_VAL);

	if (e)
		e->v = v;
}

/* The outcome of a syscall-style call: 0 if it succeeded, else -errno. */
static void rec_err(const char *label, long r, int err)
{
	struct ent *e = new_ent(label, V_ERR);

	if (e)
		e->v = r < 0 ? -err : 0;
}

/* A string. */
static void rec_str(const char *label, const char *s)
{
	struct ent *e = new_ent(label, V_STR);

	if (e)
		snprintf(e->s, sizeof(e->s), "%s", s ? s : "(null)");
}

/* Bytes, as hex. */
static void rec_hex(const char *label, const void *p, size_t n)
{
	struct ent *e = new_ent(label, V_STR);
	const unsigned char *b = p;

	if (!e)
		return;
	for (size_t i = 0; i < n && 2 * i + 2 < sizeof(e->s); i++)
		sprintf(e->s + 2 * i, "%02x", b[i]);
}

/*
 * Where the current run is, for the watchdog: a forwarded call that never
 * returns is reported with its test, side and step instead of hanging the
 * whole suite.
 */
static char step[64];
static volatile int step_side;
static const char *volatile step_test;
static volatile long long step_since;

static void step_at(const char *label)
{
	snprintf(step, sizeof(step), "%s", label);
}

/* Runs a syscall-style call, records its outcome, evaluates to its result. */
#define SYS(label, call)						\
	({								\
		step_at(label);						\
		errno = 0;						\
		long _r = (long)(call);					\
		rec_err(label, _r, errno);				\
		_r;							\
	})

static const char *errname(long long v)
{
	static char buf[64];

	if (v >= 0)
		return "ok";
	snprintf(buf, sizeof(buf), "-%s", strerrorname_np((int)-v) ?: "?");
	return buf;
}

static void fail(const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ktap_diag("%s", msg);
	ktap_cur_ok = 0;
}

static void show(char *buf, size_t n, const struct ent *e)
{
	if (e->kind == V_STR)
		snprintf(buf, n, "\"%s\"", e->s);
	else if (e->kind == V_ERR)
		snprintf(buf, n, "%lld (%s)", e->v, errname(e->v));
	else
		snprintf(buf, n, "%lld (%#llx)", e->v, e->v);
}

static int ent_eq(const struct ent *a, const struct ent *b)
{
	return a->kind == b->kind &&
	       (a->kind == V_STR ? !strcmp(a->s, b->s) : a->v == b->v);
}

/* Both runs must have observed the same things. */
static void compare(void)
{
	struct obs *d = &obs[0], *p = &obs[1];
	int n = d->n < p->n ? d->n : p->n;
	char a[200], b[200];

	for (int w = 0; w < 2; w++)
		if (obs[w].overflow)
			fail("%s run recorded more than %d values", side[w], OBS_MAX);
	for (int i = 0; i < n; i++) {
		if (strcmp(d->e[i].label, p->e[i].label)) {
			fail("runs diverged at step %d: direct did %s, proxy did %s",
			     i, d->e[i].label, p->e[i].label);
			return;
		}
		if (!ent_eq(&d->e[i], &p->e[i])) {
			show(a, sizeof(a), &d->e[i]);
			show(b, sizeof(b), &p->e[i]);
			fail("%s: direct %s, proxy %s", d->e[i].label, a, b);
		}
	}
	if (d->n != p->n)
		fail("direct run recorded %d values, proxy run %d (last: %s)",
		     d->n, p->n, (d->n > p->n ? d : p)->e[n].label);
}

static const struct ent *find(int w, const char *label)
{
	for (int i = 0; i < obs[w].n; i++)
		if (!strcmp(obs[w].e[i].label, label))
			return &obs[w].e[i];
	return NULL;
}

/* Both runs must have seen `label` with value v (or outcome v, as -errno). */
static void want(const char *label, long long v)
{
	char a[200];

	for (int w = 0; w < 2; w++) {
		const struct ent *e = find(w, label);

		if (!e) {
			fail("%s run never recorded %s", side[w], label);
		} else if (e->kind == V_STR || e->v != v) {
			show(a, sizeof(a), e);
			fail("%s: %s run saw %s, expected %lld%s%s%s", label, side[w], a,
			     v, e->kind == V_ERR ? " (" : "",
			     e->kind == V_ERR ? errname(v) : "",
			     e->kind == V_ERR ? ")" : "");
		}
	}
}

static void want_str(const char *label, const char *s)
{
	for (int w = 0; w < 2; w++) {
		const struct ent *e = find(w, label);

		if (!e)
			fail("%s run never recorded %s", side[w], label);
		else if (e->kind != V_STR || strcmp(e->s, s))
			fail("%s: %s run saw \"%s\", expected \"%s\"", label,
			     side[w], e->kind == V_STR ? e->s : "(a number)", s);
	}
}

/* ---- The pair under test ------------------------------------------------- */

struct ctx {
	const char *path[2];	/* [0] direct node, [1] its proxy */
	char node[64];		/* short name, for test names */
	int render;		/* a render node (else a primary node) */
	unsigned int minor;	/* the DRM minor of the direct node */
	char src_path[64];	/* render: the device's primary node */
	int src;		/* render: an fd of it, buffer source */
};

static int xopen(const struct ctx *c, int w, int flags, const char *label)
{
	return SYS(label, open(c->path[w], O_RDWR | O_CLOEXEC | flags));
}

static void xclose(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* Errno-preserving ioctl returning 0 or -errno. */
static int drm_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

static int gem_close(int fd, uint32_t handle)
{
	struct drm_gem_close gc = { .handle = handle };

	return ioctl(fd, DRM_IOCTL_GEM_CLOSE, &gc);
}

struct bo {
	uint32_t handle;
	uint32_t pitch;
	uint64_t size;
	uint64_t offset;	/* fake mmap offset, global to the device */
};

/*
 * A w x h x 32bpp buffer usable on fd, with its mmap offset: created on fd
 * (a primary node), or on the source primary node and imported into fd (a
 * render node; the import lets fd map the object at its offset). Returns
 * 0 or -errno, not recorded: scenarios record it.
 */
static int bo_get(const struct ctx *c, int fd, uint32_t w, uint32_t h, struct bo *bo)
{
	struct drm_mode_create_dumb cd = { .width = w, .height = h, .bpp = 32 };
	struct drm_mode_map_dumb md = { 0 };
	int cfd = c->render ? c->src : fd;
	int r;

	memset(bo, 0, sizeof(*bo));
	r = drm_ioctl(cfd, DRM_IOCTL_MODE_CREATE_DUMB, &cd);
	if (r)
		return r;
	md.handle = cd.handle;
	r = drm_ioctl(cfd, DRM_IOCTL_MODE_MAP_DUMB, &md);
	if (r)
		return r;
	bo->handle = cd.handle;
	bo->pitch = cd.pitch;
	bo->size = cd.size;
	bo->offset = md.offset;
	if (c->render) {
		struct drm_prime_handle ex = {
			.handle = cd.handle, .flags = DRM_CLOEXEC | DRM_RDWR,
		};
		struct drm_prime_handle im = { 0 };

		r = drm_ioctl(cfd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &ex);
		if (!r) {
			im.fd = ex.fd;
			r = drm_ioctl(fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, &im);
			close(ex.fd);
		}
		/* fd's handle now holds the object. */
		gem_close(cfd, cd.handle);
		bo->handle = im.handle;
	}
	return r;
}

static uint32_t pat(uint32_t seed, size_t i)
{
	return (uint32_t)(i * 2654435761u) ^ seed;
}

static void fill(void *p, size_t size, uint32_t seed)
{
	uint32_t *u = p;

	for (size_t i = 0; i < size / 4; i++)
		u[i] = pat(seed, i);
}

static int holds(const void *p, size_t size, uint32_t seed)
{
	const volatile uint32_t *u = p;

	for (size_t i = 0; i < size / 4; i++)
		if (u[i] != pat(seed, i))
			return 0;
	return 1;
}

/* mmap recorded as 0 / -errno. */
static void *xmap(const char *label, int fd, uint64_t off, size_t len, int prot, int flags)
{
	void *p;

	step_at(label);
	errno = 0;
	p = mmap(NULL, len, prot, flags, fd, (off_t)off);
	rec_err(label, p == MAP_FAILED ? -1 : 0, errno);
	return p;
}

static ino_t ino_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : st.st_ino;
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	alarms++;
}

/* Arms a one-shot SIGALRM in ms (0 disarms); the handler does not restart. */
static void arm(long ms)
{
	struct itimerval it = { .it_value = { ms / 1000, (ms % 1000) * 1000 } };

	setitimer(ITIMER_REAL, &it, NULL);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ---- Scenarios: w is the side (0 direct, 1 proxy), !w "the other kind" ---- */

static void sc_version(struct ctx *c, int w)
{
	char name[64] = "", date[64] = "", desc[128] = "", small[8] = "XXXXXXX";
	char unique[128] = "";
	struct drm_version v = { 0 }, v2 = { 0 }, v3 = { 0 };
	struct drm_unique u = { 0 };
	int fd = xopen(c, w, 0, "open");

	if (fd < 0)
		return;
	SYS("version(lengths)", ioctl(fd, DRM_IOCTL_VERSION, &v));
	rec("major", v.version_major);
	rec("minor", v.version_minor);
	rec("patchlevel", v.version_patchlevel);
	rec("name_len", v.name_len);
	rec("date_len", v.date_len);
	rec("desc_len", v.desc_len);
	v2.name_len = v.name_len < sizeof(name) ? v.name_len : sizeof(name) - 1;
	v2.date_len = v.date_len < sizeof(date) ? v.date_len : sizeof(date) - 1;
	v2.desc_len = v.desc_len < sizeof(desc) ? v.desc_len : sizeof(desc) - 1;
	v2.name = name;
	v2.date = date;
	v2.desc = desc;
	SYS("version(strings)", ioctl(fd, DRM_IOCTL_VERSION, &v2));
	rec_str("name", name);
	rec_str("date", date);
	rec_str("desc", desc);
	/* A short buffer gets a prefix, and the full length back. */
	v3.name_len = 2;
	v3.name = small;
	SYS("version(short)", ioctl(fd, DRM_IOCTL_VERSION, &v3));
	rec_str("short.buf", small);
	rec("short.name_len", v3.name_len);
	/* GET_UNIQUE: a primary-node ioctl. */
	SYS("get_unique(len)", ioctl(fd, DRM_IOCTL_GET_UNIQUE, &u));
	rec("unique_len", u.unique_len);
	u.unique_len = u.unique_len < sizeof(unique) ? u.unique_len : sizeof(unique) - 1;
	u.unique = unique;
	SYS("get_unique", ioctl(fd, DRM_IOCTL_GET_UNIQUE, &u));
	rec_str("unique", unique);
	close(fd);
}

static void t_version(struct ctx *c)
{
	want("version(lengths)", 0);
	want("version(strings)", 0);
	want_str("name", "vgem");
	want_str("desc", "Virtual GEM provider");
	want("major", 1);
	want("minor", 0);
	want("name_len", 4);
	want_str("short.buf", "vgXXXXX");
	want("short.name_len", 4);
	want("get_unique(len)", c->render ? -EACCES : 0);
}

static void sc_getcap(struct ctx *c, int w)
{
	static const uint64_t caps[] = {
		DRM_CAP_TIMESTAMP_MONOTONIC, DRM_CAP_PRIME, DRM_CAP_SYNCOBJ,
		DRM_CAP_SYNCOBJ_TIMELINE, DRM_CAP_DUMB_BUFFER,
		DRM_CAP_DUMB_PREFERRED_DEPTH, DRM_CAP_CURSOR_WIDTH, 0xdead,
	};
	static const struct { uint64_t cap, value; } ccaps[] = {
		{ DRM_CLIENT_CAP_STEREO_3D, 1 },
		{ DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1 },
		{ DRM_CLIENT_CAP_ATOMIC, 1 },
	};
	char label[48];
	int fd = xopen(c, w, 0, "open");

	if (fd < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
		struct drm_get_cap g = { .capability = caps[i], .value = 0x5555 };

		snprintf(label, sizeof(label), "get_cap(%#llx)", (unsigned long long)caps[i]);
		SYS(label, ioctl(fd, DRM_IOCTL_GET_CAP, &g));
		snprintf(label, sizeof(label), "cap(%#llx).value", (unsigned long long)caps[i]);
		rec(label, g.value);
	}
	for (size_t i = 0; i < ARRAY_SIZE(ccaps); i++) {
		struct drm_set_client_cap s = { ccaps[i].cap, ccaps[i].value };

		snprintf(label, sizeof(label), "set_client_cap(%llu)",
			 (unsigned long long)ccaps[i].cap);
		SYS(label, ioctl(fd, DRM_IOCTL_SET_CLIENT_CAP, &s));
	}
	close(fd);
}

static void t_getcap(struct ctx *c)
{
	want("get_cap(0x6)", 0);	/* TIMESTAMP_MONOTONIC */
	want("cap(0x6).value", 1);
	want("get_cap(0x5)", 0);	/* PRIME */
	want("cap(0x5).value", DRM_PRIME_CAP_IMPORT | DRM_PRIME_CAP_EXPORT);
	want("get_cap(0x13)", 0);	/* SYNCOBJ: vgem has none */
	want("cap(0x13).value", 0);
	/* KMS caps: vgem is not a KMS driver. */
	want("get_cap(0x1)", -EOPNOTSUPP);
	want("get_cap(0xdead)", -EOPNOTSUPP);
	want("set_client_cap(1)", c->render ? -EACCES : -EOPNOTSUPP);
}

static void sc_create_dumb(struct ctx *c, int w)
{
	static const uint32_t dims[][3] = {
		{ 640, 480, 32 }, { 1, 1, 8 }, { 1023, 7, 16 }, { 1920, 1080, 24 },
		{ 4096, 4096, 32 },
	};
	char label[48];
	uint32_t handles[ARRAY_SIZE(dims)] = { 0 };
	int fd = xopen(c, w, 0, "open");

	if (fd < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(dims); i++) {
		struct drm_mode_create_dumb cd = {
			.width = dims[i][0], .height = dims[i][1], .bpp = dims[i][2],
			.handle = 0xdeadbeef, .pitch = 0xdeadbeef, .size = 0xdeadbeef,
		};

		snprintf(label, sizeof(label), "create_dumb(%ux%ux%u)",
			 dims[i][0], dims[i][1], dims[i][2]);
		SYS(label, ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &cd));
		snprintf(label, sizeof(label), "dumb%zu.handle", i);
		rec(label, cd.handle);
		snprintf(label, sizeof(label), "dumb%zu.pitch", i);
		rec(label, cd.pitch);
		snprintf(label, sizeof(label), "dumb%zu.size", i);
		rec(label, cd.size);
		handles[i] = cd.handle;
	}
	for (size_t i = 0; i < ARRAY_SIZE(dims); i++) {
		struct drm_mode_destroy_dumb dd = { .handle = handles[i] };

		snprintf(label, sizeof(label), "destroy_dumb(%zu)", i);
		SYS(label, ioctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &dd));
	}
	close(fd);
}

static void t_create_dumb(struct ctx *c)
{
	if (c->render) {
		want("create_dumb(640x480x32)", -EACCES);
		want("create_dumb(4096x4096x32)", -EACCES);
		want("destroy_dumb(0)", -EACCES);
		return;
	}
	want("create_dumb(640x480x32)", 0);
	want("dumb0.handle", 1);
	want("dumb0.pitch", 2560);
	want("dumb0.size", 2560 * 480);
	want("create_dumb(1x1x8)", 0);
	want("dumb1.handle", 2);
	want("dumb1.size", 4096);
	want("create_dumb(1023x7x16)", 0);
	want("dumb2.handle", 3);
	want("create_dumb(1920x1080x24)", 0);
	want("create_dumb(4096x4096x32)", 0);
	want("dumb4.handle", 5);
	want("dumb4.pitch", 16384);
	want("dumb4.size", 16384 * 4096);
	want("destroy_dumb(0)", 0);
	want("destroy_dumb(4)", 0);
}

static void sc_map_dumb(struct ctx *c, int w)
{
	struct drm_mode_create_dumb cd = { .width = 256, .height = 256, .bpp = 32 };
	struct drm_mode_map_dumb md = { 0 }, md2 = { 0 };
	struct drm_mode_map_dumb bad = { .handle = 999, .offset = 0x1234 };
	struct drm_mode_map_dumb zero = { .handle = 0, .offset = 0x1234 };
	int fd = xopen(c, w, 0, "open");

	if (fd < 0)
		return;
	SYS("create_dumb", ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &cd));
	md.handle = cd.handle;
	SYS("map_dumb", ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md));
	rec("offset nonzero", md.offset != 0);
	rec("offset page aligned", (md.offset & 4095) == 0);
	md2.handle = cd.handle;
	SYS("map_dumb(again)", ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md2));
	rec("same offset again", md2.offset == md.offset);
	SYS("map_dumb(999)", ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &bad));
	rec("map_dumb(999).offset", bad.offset);
	SYS("map_dumb(0)", ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &zero));
	rec("map_dumb(0).offset", zero.offset);
	close(fd);
}

static void t_map_dumb(struct ctx *c)
{
	if (c->render) {
		want("create_dumb", -EACCES);
		want("map_dumb", -EACCES);
		want("map_dumb(999)", -EACCES);
		return;
	}
	want("create_dumb", 0);
	want("map_dumb", 0);
	want("offset nonzero", 1);
	want("offset page aligned", 1);
	want("map_dumb(again)", 0);
	want("same offset again", 1);
	want("map_dumb(999)", -ENOENT);
	want("map_dumb(999).offset", 0);
	want("map_dumb(0)", -ENOENT);
}

static void sc_mmap(struct ctx *c, int w)
{
	struct bo bo;
	void *a, *b, *r, *p;
	int fd = xopen(c, w, 0, "open"), fd2, r0;

	if (fd < 0)
		return;
	r0 = bo_get(c, fd, 64, 64, &bo);
	rec_err("bo", r0 ? -1 : 0, -r0);
	if (r0) {
		close(fd);
		return;
	}
	rec("bo.size", bo.size);
	a = xmap("mmap A", fd, bo.offset, bo.size, PROT_READ | PROT_WRITE, MAP_SHARED);
	b = xmap("mmap B", fd, bo.offset, bo.size, PROT_READ | PROT_WRITE, MAP_SHARED);
	if (a != MAP_FAILED && b != MAP_FAILED) {
		fill(a, bo.size, 0x11111111);
		rec("B sees A's writes", holds(b, bo.size, 0x11111111));
		fill(b, bo.size, 0x22222222);
		rec("A sees B's writes", holds(a, bo.size, 0x22222222));
	}
	if (a != MAP_FAILED)
		SYS("munmap A", munmap(a, bo.size));
	if (b != MAP_FAILED)
		SYS("munmap B", munmap(b, bo.size));
	r = xmap("mmap R (read-only)", fd, bo.offset, bo.size, PROT_READ, MAP_SHARED);
	if (r != MAP_FAILED)
		rec("data outlives the mappings", holds(r, bo.size, 0x22222222));
	/* Bad mappings. */
	p = xmap("mmap(twice the size)", fd, bo.offset, 2 * bo.size,
		 PROT_READ | PROT_WRITE, MAP_SHARED);
	if (p != MAP_FAILED)
		munmap(p, 2 * bo.size);
	p = xmap("mmap(offset 0)", fd, 0, 4096, PROT_READ, MAP_SHARED);
	if (p != MAP_FAILED)
		munmap(p, 4096);
	p = xmap("mmap(unallocated offset)", fd, 1ULL << 44, 4096, PROT_READ, MAP_SHARED);
	if (p != MAP_FAILED)
		munmap(p, 4096);
	p = xmap("mmap(MAP_PRIVATE)", fd, bo.offset, bo.size,
		 PROT_READ | PROT_WRITE, MAP_PRIVATE);
	if (p != MAP_FAILED)
		munmap(p, bo.size);
	/* Another open file of the same node may not map the object. */
	fd2 = xopen(c, w, 0, "open second");
	if (fd2 >= 0) {
		p = xmap("mmap from another file", fd2, bo.offset, bo.size,
			 PROT_READ, MAP_SHARED);
		if (p != MAP_FAILED)
			munmap(p, bo.size);
		close(fd2);
	}
	/* Nor this one once its handle is gone, while the old mapping lives. */
	SYS("gem_close", gem_close(fd, bo.handle));
	p = xmap("mmap after gem_close", fd, bo.offset, bo.size, PROT_READ, MAP_SHARED);
	if (p != MAP_FAILED)
		munmap(p, bo.size);
	if (r != MAP_FAILED) {
		rec("old mapping still readable", holds(r, bo.size, 0x22222222));
		munmap(r, bo.size);
	}
	close(fd);
}

static void t_mmap(struct ctx *c)
{
	want("bo", 0);
	want("bo.size", 64 * 64 * 4);
	want("mmap A", 0);
	want("mmap B", 0);
	want("B sees A's writes", 1);
	want("A sees B's writes", 1);
	want("mmap R (read-only)", 0);
	want("data outlives the mappings", 1);
	want("mmap(twice the size)", -EINVAL);
	want("mmap(offset 0)", -EINVAL);
	want("mmap(unallocated offset)", -EINVAL);
	want("mmap(MAP_PRIVATE)", -EINVAL);
	want("mmap from another file", -EACCES);
	want("gem_close", 0);
	want("mmap after gem_close", -EACCES);
	want("old mapping still readable", 1);
}

static void sc_destroy_close(struct ctx *c, int w)
{
	struct bo a, b, n;
	struct drm_mode_destroy_dumb dd = { 0 };
	struct drm_mode_map_dumb md = { 0 };
	int fd = xopen(c, w, 0, "open"), r;

	if (fd < 0)
		return;
	r = bo_get(c, fd, 32, 32, &a);
	rec_err("bo A", r ? -1 : 0, -r);
	rec("A.handle", a.handle);
	r = bo_get(c, fd, 32, 32, &b);
	rec_err("bo B", r ? -1 : 0, -r);
	rec("B.handle", b.handle);
	dd.handle = a.handle;
	SYS("destroy_dumb(A)", ioctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &dd));
	SYS("gem_close(A)", gem_close(fd, a.handle));
	SYS("gem_close(A) again", gem_close(fd, a.handle));
	SYS("destroy_dumb(A) again", ioctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &dd));
	md.handle = a.handle;
	SYS("map_dumb(A)", ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md));
	SYS("gem_close(B)", gem_close(fd, b.handle));
	SYS("gem_close(B) again", gem_close(fd, b.handle));
	r = bo_get(c, fd, 32, 32, &n);
	rec_err("bo N", r ? -1 : 0, -r);
	rec("N.handle (reused)", n.handle);
	SYS("gem_close(N)", gem_close(fd, n.handle));
	close(fd);
}

static void t_destroy_close(struct ctx *c)
{
	want("bo A", 0);
	want("A.handle", 1);
	want("bo B", 0);
	want("B.handle", 2);
	if (c->render) {
		want("destroy_dumb(A)", -EACCES);
		want("gem_close(A)", 0);
		want("destroy_dumb(A) again", -EACCES);
		want("map_dumb(A)", -EACCES);
	} else {
		want("destroy_dumb(A)", 0);
		want("gem_close(A)", -EINVAL);
		want("destroy_dumb(A) again", -EINVAL);
		want("map_dumb(A)", -ENOENT);
	}
	want("gem_close(A) again", -EINVAL);
	want("gem_close(B)", 0);
	want("gem_close(B) again", -EINVAL);
	want("bo N", 0);
	want("N.handle (reused)", 1);
	want("gem_close(N)", 0);
}

static void sc_close_bad(struct ctx *c, int w)
{
	static const uint32_t handles[] = { 0, 1, 7, 0x7fffffff, 0xffffffff };
	struct drm_gem_close gc = { .handle = 1234, .pad = 1 };
	char label[48];
	int fd = xopen(c, w, 0, "open");

	if (fd < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(handles); i++) {
		snprintf(label, sizeof(label), "gem_close(%#x)", handles[i]);
		SYS(label, gem_close(fd, handles[i]));
	}
	SYS("gem_close(1234, pad 1)", ioctl(fd, DRM_IOCTL_GEM_CLOSE, &gc));
	close(fd);
}

static void t_close_bad(struct ctx *c)
{
	want("gem_close(0)", -EINVAL);
	want("gem_close(0x1)", -EINVAL);
	want("gem_close(0x7)", -EINVAL);
	want("gem_close(0x7fffffff)", -EINVAL);
	want("gem_close(0xffffffff)", -EINVAL);
	want("gem_close(1234, pad 1)", -EINVAL);
}

/*
 * Export from a file of side w, import into a second file of side w and
 * into a file of the other side: the proxy run exports from a proxy and
 * imports into a proxy and a direct file, the direct run the reverse.
 */
static void sc_prime(struct ctx *c, int w)
{
	struct drm_prime_handle ex = { 0 }, ex2 = { 0 }, im = { 0 };
	struct drm_prime_handle exs = { 0 };
	struct bo bo;
	uint32_t hs = 0, hx = 0;
	void *d = MAP_FAILED, *m;
	int e = -1, s = -1, x = -1, dn = -1, r;

	e = xopen(c, w, 0, "open exporter");
	s = xopen(c, w, 0, "open importer (same side)");
	x = xopen(c, !w, 0, "open importer (other side)");
	if (e < 0 || s < 0 || x < 0)
		goto out;
	r = bo_get(c, e, 64, 32, &bo);
	rec_err("bo", r ? -1 : 0, -r);
	if (r)
		goto out;
	m = xmap("mmap exporter", e, bo.offset, bo.size, PROT_READ | PROT_WRITE, MAP_SHARED);
	if (m != MAP_FAILED) {
		fill(m, bo.size, 0xa1a1a1a1);
		munmap(m, bo.size);
	}
	/* Export. */
	ex.handle = bo.handle;
	ex.flags = DRM_CLOEXEC | DRM_RDWR;
	ex.fd = -1;
	SYS("handle_to_fd", ioctl(e, DRM_IOCTL_PRIME_HANDLE_TO_FD, &ex));
	rec("dmabuf fd valid", ex.fd >= 0);
	if (ex.fd < 0)
		goto out;
	rec("dmabuf FD_CLOEXEC", !!(fcntl(ex.fd, F_GETFD) & FD_CLOEXEC));
	rec("dmabuf O_ACCMODE", fcntl(ex.fd, F_GETFL) & O_ACCMODE);
	ex2.handle = bo.handle;
	ex2.flags = DRM_CLOEXEC;
	ex2.fd = -1;
	SYS("handle_to_fd(again)", ioctl(e, DRM_IOCTL_PRIME_HANDLE_TO_FD, &ex2));
	rec("same dma-buf again", ex2.fd >= 0 && ino_of(ex2.fd) == ino_of(ex.fd));
	xclose(ex2.fd);
	/* Self import gives the exporter its handle back. */
	im.fd = ex.fd;
	SYS("fd_to_handle(exporter)", ioctl(e, DRM_IOCTL_PRIME_FD_TO_HANDLE, &im));
	rec("self import gives the same handle", im.handle == bo.handle);
	/* Handles are per file: the importers do not see the exporter's. */
	SYS("gem_close(exporter's handle) on importer", gem_close(x, bo.handle));
	/* Import. */
	im.fd = ex.fd;
	im.handle = 0;
	SYS("fd_to_handle(same side)", ioctl(s, DRM_IOCTL_PRIME_FD_TO_HANDLE, &im));
	hs = im.handle;
	rec("same side handle", hs);
	im.handle = 0;
	SYS("fd_to_handle(same side, again)", ioctl(s, DRM_IOCTL_PRIME_FD_TO_HANDLE, &im));
	rec("same side handle again", im.handle == hs);
	im.handle = 0;
	SYS("fd_to_handle(other side)", ioctl(x, DRM_IOCTL_PRIME_FD_TO_HANDLE, &im));
	hx = im.handle;
	rec("other side handle", hx);
	/* The dma-buf maps the same memory. */
	d = xmap("mmap dmabuf", ex.fd, 0, bo.size, PROT_READ | PROT_WRITE, MAP_SHARED);
	if (d != MAP_FAILED) {
		rec("dmabuf sees exporter's data", holds(d, bo.size, 0xa1a1a1a1));
		fill(d, bo.size, 0xb2b2b2b2);
	}
	/* So do the importers, at the object's one offset. */
	for (int k = 0; k < 2; k++) {
		int fd = k ? x : s;
		uint32_t h = k ? hx : hs;
		uint64_t off = bo.offset;
		const char *who = k ? "other side" : "same side";
		char label[64];

		if (!c->render) {
			struct drm_mode_map_dumb md = { .handle = h };

			snprintf(label, sizeof(label), "map_dumb(%s)", who);
			SYS(label, ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md));
			snprintf(label, sizeof(label), "%s offset is the exporter's", who);
			rec(label, md.offset == bo.offset);
			off = md.offset;
		}
		snprintf(label, sizeof(label), "mmap %s", who);
		m = xmap(label, fd, off, bo.size, PROT_READ | PROT_WRITE, MAP_SHARED);
		if (m == MAP_FAILED)
			continue;
		snprintf(label, sizeof(label), "%s sees the data", who);
		rec(label, holds(m, bo.size, k ? 0xc3c3c3c3 : 0xb2b2b2b2));
		fill(m, bo.size, k ? 0xd4d4d4d4 : 0xc3c3c3c3);
		munmap(m, bo.size);
	}
	if (d != MAP_FAILED)
		rec("dmabuf sees importers' writes", holds(d, bo.size, 0xd4d4d4d4));
	/* Re-export from an importer: the same dma-buf. */
	exs.handle = hx;
	exs.flags = DRM_CLOEXEC;
	exs.fd = -1;
	SYS("handle_to_fd(other side)", ioctl(x, DRM_IOCTL_PRIME_HANDLE_TO_FD, &exs));
	rec("re-export is the same dma-buf", exs.fd >= 0 && ino_of(exs.fd) == ino_of(ex.fd));
	xclose(exs.fd);
	/* Errors. */
	ex2.handle = bo.handle;
	ex2.flags = 0x1234;
	ex2.fd = -1;
	SYS("handle_to_fd(bad flags)", ioctl(e, DRM_IOCTL_PRIME_HANDLE_TO_FD, &ex2));
	xclose(ex2.fd);
	ex2.handle = 999;
	ex2.flags = DRM_CLOEXEC;
	ex2.fd = -1;
	SYS("handle_to_fd(bad handle)", ioctl(e, DRM_IOCTL_PRIME_HANDLE_TO_FD, &ex2));
	xclose(ex2.fd);
	im.fd = -1;
	SYS("fd_to_handle(-1)", ioctl(s, DRM_IOCTL_PRIME_FD_TO_HANDLE, &im));
	dn = open("/dev/null", O_RDWR | O_CLOEXEC);
	im.fd = dn;
	SYS("fd_to_handle(/dev/null)", ioctl(s, DRM_IOCTL_PRIME_FD_TO_HANDLE, &im));
	im.fd = e;
	SYS("fd_to_handle(a DRM fd of the same side)", ioctl(s, DRM_IOCTL_PRIME_FD_TO_HANDLE, &im));
	im.fd = x;
	SYS("fd_to_handle(a DRM fd of the other side)", ioctl(s, DRM_IOCTL_PRIME_FD_TO_HANDLE, &im));
	/* Closing every handle leaves the dma-buf and its mapping working. */
	SYS("gem_close(same side)", gem_close(s, hs));
	SYS("gem_close(other side)", gem_close(x, hx));
	SYS("gem_close(exporter)", gem_close(e, bo.handle));
	if (d != MAP_FAILED)
		rec("dmabuf mapping outlives the handles", holds(d, bo.size, 0xd4d4d4d4));
	im.fd = ex.fd;
	im.handle = 0;
	SYS("fd_to_handle(after close)", ioctl(s, DRM_IOCTL_PRIME_FD_TO_HANDLE, &im));
	rec("handle after close", im.handle);
	gem_close(s, im.handle);
out:
	if (d != MAP_FAILED)
		munmap(d, bo.size);
	xclose(ex.fd);
	xclose(dn);
	xclose(e);
	xclose(s);
	xclose(x);
}

static void t_prime(struct ctx *c)
{
	want("bo", 0);
	want("mmap exporter", 0);
	want("handle_to_fd", 0);
	want("dmabuf fd valid", 1);
	want("dmabuf FD_CLOEXEC", 1);
	want("dmabuf O_ACCMODE", O_RDWR);
	want("same dma-buf again", 1);
	want("fd_to_handle(exporter)", 0);
	want("self import gives the same handle", 1);
	want("gem_close(exporter's handle) on importer", -EINVAL);
	want("fd_to_handle(same side)", 0);
	want("same side handle", 1);
	want("same side handle again", 1);
	want("fd_to_handle(other side)", 0);
	want("other side handle", 1);
	want("mmap dmabuf", 0);
	want("dmabuf sees exporter's data", 1);
	if (!c->render) {
		want("map_dumb(same side)", 0);
		want("same side offset is the exporter's", 1);
		want("map_dumb(other side)", 0);
		want("other side offset is the exporter's", 1);
	}
	want("mmap same side", 0);
	want("same side sees the data", 1);
	want("mmap other side", 0);
	want("other side sees the data", 1);
	want("dmabuf sees importers' writes", 1);
	want("handle_to_fd(other side)", 0);
	want("re-export is the same dma-buf", 1);
	want("handle_to_fd(bad flags)", -EINVAL);
	want("handle_to_fd(bad handle)", -ENOENT);
	want("fd_to_handle(-1)", -EBADF);
	want("fd_to_handle(/dev/null)", -EINVAL);
	want("fd_to_handle(a DRM fd of the same side)", -EINVAL);
	want("fd_to_handle(a DRM fd of the other side)", -EINVAL);
	want("gem_close(same side)", 0);
	want("gem_close(other side)", 0);
	want("gem_close(exporter)", 0);
	want("dmabuf mapping outlives the handles", 1);
	want("fd_to_handle(after close)", 0);
	want("handle after close", 1);
}

static void rec_poll(const char *label, int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	char l[64];
	int r = SYS(label, poll(&p, 1, 0));

	snprintf(l, sizeof(l), "%s.ready", label);
	rec(l, r);
	snprintf(l, sizeof(l), "%s.revents", label);
	rec(l, p.revents);
}

static void sc_fence(struct ctx *c, int w)
{
	struct drm_vgem_fence_attach at = { 0 };
	struct drm_vgem_fence_signal sg = { 0 };
	struct drm_prime_handle ex = { .fd = -1 };
	struct bo bo;
	uint32_t f1;
	int fd = xopen(c, w, 0, "open"), r;

	if (fd < 0)
		return;
	r = bo_get(c, fd, 16, 16, &bo);
	rec_err("bo", r ? -1 : 0, -r);
	if (r)
		goto out;
	ex.handle = bo.handle;
	ex.flags = DRM_CLOEXEC;
	SYS("handle_to_fd", ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &ex));
	if (ex.fd < 0)
		goto out;
	rec_poll("poll(dmabuf, IN) idle", ex.fd, POLLIN);
	at = (struct drm_vgem_fence_attach){ .handle = bo.handle, .flags = VGEM_FENCE_WRITE };
	SYS("fence_attach(write)", ioctl(fd, DRM_IOCTL_VGEM_FENCE_ATTACH, &at));
	rec("out_fence", at.out_fence);
	f1 = at.out_fence;
	at = (struct drm_vgem_fence_attach){ .handle = bo.handle, .flags = VGEM_FENCE_WRITE };
	SYS("fence_attach(write) busy", ioctl(fd, DRM_IOCTL_VGEM_FENCE_ATTACH, &at));
	at = (struct drm_vgem_fence_attach){ .handle = bo.handle };
	SYS("fence_attach(read) busy", ioctl(fd, DRM_IOCTL_VGEM_FENCE_ATTACH, &at));
	at = (struct drm_vgem_fence_attach){ .handle = bo.handle, .flags = 2 };
	SYS("fence_attach(bad flags)", ioctl(fd, DRM_IOCTL_VGEM_FENCE_ATTACH, &at));
	at = (struct drm_vgem_fence_attach){ .handle = bo.handle, .pad = 1 };
	SYS("fence_attach(pad)", ioctl(fd, DRM_IOCTL_VGEM_FENCE_ATTACH, &at));
	at = (struct drm_vgem_fence_attach){ .handle = 999 };
	SYS("fence_attach(bad handle)", ioctl(fd, DRM_IOCTL_VGEM_FENCE_ATTACH, &at));
	rec_poll("poll(dmabuf, IN) write-fenced", ex.fd, POLLIN);
	sg = (struct drm_vgem_fence_signal){ .fence = f1 };
	SYS("fence_signal", ioctl(fd, DRM_IOCTL_VGEM_FENCE_SIGNAL, &sg));
	rec_poll("poll(dmabuf, IN) signaled", ex.fd, POLLIN);
	SYS("fence_signal(again)", ioctl(fd, DRM_IOCTL_VGEM_FENCE_SIGNAL, &sg));
	sg = (struct drm_vgem_fence_signal){ .fence = 42 };
	SYS("fence_signal(42)", ioctl(fd, DRM_IOCTL_VGEM_FENCE_SIGNAL, &sg));
	sg = (struct drm_vgem_fence_signal){ .fence = f1, .flags = 1 };
	SYS("fence_signal(flags)", ioctl(fd, DRM_IOCTL_VGEM_FENCE_SIGNAL, &sg));
	at = (struct drm_vgem_fence_attach){ .handle = bo.handle };
	SYS("fence_attach(read)", ioctl(fd, DRM_IOCTL_VGEM_FENCE_ATTACH, &at));
	rec("out_fence(read)", at.out_fence);
	rec_poll("poll(dmabuf, IN) read-fenced", ex.fd, POLLIN);
	rec_poll("poll(dmabuf, OUT) read-fenced", ex.fd, POLLOUT);
	/* Closing the DRM file signals its unsignaled fences. */
	close(fd);
	fd = -1;
	rec_poll("poll(dmabuf, OUT) after close", ex.fd, POLLOUT);
out:
	xclose(ex.fd);
	xclose(fd);
}

static void t_fence(struct ctx *c)
{
	want("bo", 0);
	want("handle_to_fd", 0);
	want("poll(dmabuf, IN) idle.ready", 1);
	want("fence_attach(write)", 0);
	want("out_fence", 1);
	want("fence_attach(write) busy", -EBUSY);
	want("fence_attach(read) busy", -EBUSY);
	want("fence_attach(bad flags)", -EINVAL);
	want("fence_attach(pad)", -EINVAL);
	want("fence_attach(bad handle)", -ENOENT);
	want("poll(dmabuf, IN) write-fenced.ready", 0);
	want("fence_signal", 0);
	want("poll(dmabuf, IN) signaled.ready", 1);
	want("poll(dmabuf, IN) signaled.revents", POLLIN);
	want("fence_signal(again)", -ENOENT);
	want("fence_signal(42)", -ENOENT);
	want("fence_signal(flags)", -EINVAL);
	want("fence_attach(read)", 0);
	want("poll(dmabuf, IN) read-fenced.ready", 1);
	want("poll(dmabuf, OUT) read-fenced.ready", 0);
	want("poll(dmabuf, OUT) after close.ready", 1);
}

static void sc_poll(struct ctx *c, int w)
{
	struct pollfd p;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT }, out[2];
	struct timeval tv = { 0, 0 };
	fd_set rd, wr, ex;
	int fd = xopen(c, w, 0, "open"), ep, r;
	long long t0;

	if (fd < 0)
		return;
	rec_poll("poll(0ms)", fd, POLLIN | POLLOUT | POLLPRI | POLLRDNORM);
	p = (struct pollfd){ .fd = fd, .events = POLLIN | POLLOUT };
	t0 = now_ms();
	r = SYS("poll(50ms)", poll(&p, 1, 50));
	rec("poll(50ms).ready", r);
	rec("poll(50ms).revents", p.revents);
	rec("poll(50ms) waited", now_ms() - t0 >= 40);
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_ZERO(&ex);
	FD_SET(fd, &rd);
	FD_SET(fd, &wr);
	FD_SET(fd, &ex);
	r = SYS("select", select(fd + 1, &rd, &wr, &ex, &tv));
	rec("select.ready", r);
	ep = SYS("epoll_create1", epoll_create1(EPOLL_CLOEXEC));
	if (ep >= 0) {
		SYS("epoll_ctl(ADD)", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
		r = SYS("epoll_wait", epoll_wait(ep, out, 2, 0));
		rec("epoll_wait.ready", r);
		close(ep);
	}
	close(fd);
}

static void t_poll(struct ctx *c)
{
	want("poll(0ms)", 0);
	want("poll(0ms).ready", 0);
	want("poll(0ms).revents", 0);
	want("poll(50ms)", 0);
	want("poll(50ms).ready", 0);
	want("poll(50ms) waited", 1);
	want("select.ready", 0);
	want("epoll_ctl(ADD)", 0);
	want("epoll_wait.ready", 0);
}

/* A read that must not block: guarded, so a blocking one ends in EINTR. */
static void guarded_read(const char *label, int fd, void *buf, size_t n)
{
	arm(1000);
	SYS(label, read(fd, buf, n));
	arm(0);
}

static void sc_read(struct ctx *c, int w)
{
	char buf[4096];
	struct iovec iov = { buf, sizeof(buf) };
	int fd = xopen(c, w, O_NONBLOCK, "open(O_NONBLOCK)"), on;
	long long t0;

	if (fd < 0)
		return;
	rec("F_GETFL", fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
	guarded_read("read(4096)", fd, buf, sizeof(buf));
	guarded_read("read(0)", fd, buf, 0);
	guarded_read("read(NULL, 4096)", fd, NULL, 4096);
	arm(1000);
	SYS("readv", readv(fd, &iov, 1));
	arm(0);
	close(fd);

	fd = xopen(c, w, 0, "open(blocking)");
	if (fd < 0)
		return;
	rec("F_GETFL(blocking)", fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
	SYS("F_SETFL(O_NONBLOCK)", fcntl(fd, F_SETFL, O_NONBLOCK));
	rec("F_GETFL(set)", fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
	guarded_read("read after F_SETFL", fd, buf, sizeof(buf));
	SYS("F_SETFL(0)", fcntl(fd, F_SETFL, 0));
	on = 1;
	SYS("FIONBIO(1)", ioctl(fd, FIONBIO, &on));
	guarded_read("read after FIONBIO", fd, buf, sizeof(buf));
	on = 0;
	SYS("FIONBIO(0)", ioctl(fd, FIONBIO, &on));
	/* Blocking again: a read waits for an event, until a signal. */
	t0 = now_ms();
	arm(200);
	SYS("blocking read", read(fd, buf, sizeof(buf)));
	arm(0);
	rec("blocking read waited", now_ms() - t0 >= 150);
	close(fd);
}

static void t_read(struct ctx *c)
{
	want("F_GETFL", O_RDWR | O_NONBLOCK);
	want("read(4096)", -EAGAIN);
	want("read(NULL, 4096)", -EAGAIN);
	want("readv", -EAGAIN);
	want("F_GETFL(blocking)", O_RDWR);
	want("F_GETFL(set)", O_RDWR | O_NONBLOCK);
	want("read after F_SETFL", -EAGAIN);
	want("read after FIONBIO", -EAGAIN);
	want("blocking read", -EINTR);
	want("blocking read waited", 1);
}

static void sc_fops(struct ctx *c, int w)
{
	char buf[16] = "x";
	int n = 0;
	/* Non-blocking: a pread is a DRM read, which waits for an event. */
	int fd = xopen(c, w, O_NONBLOCK, "open(O_NONBLOCK)");

	if (fd < 0)
		return;
	SYS("write", write(fd, buf, 1));
	SYS("pwrite", pwrite(fd, buf, 1, 0));
	arm(1000);
	SYS("pread", pread(fd, buf, 16, 0));
	arm(0);
	rec("lseek(0, SEEK_CUR)", lseek(fd, 0, SEEK_CUR));
	rec("lseek(4096, SEEK_SET)", lseek(fd, 4096, SEEK_SET));
	rec("lseek(0, SEEK_END)", lseek(fd, 0, SEEK_END));
	SYS("fsync", fsync(fd));
	SYS("ftruncate", ftruncate(fd, 0));
	SYS("FIONREAD", ioctl(fd, FIONREAD, &n));
	SYS("fallocate", fallocate(fd, 0, 0, 4096));
	close(fd);
}

static void t_fops(struct ctx *c)
{
	want("write", -EINVAL);
	want("lseek(0, SEEK_CUR)", 0);
	want("fsync", -EINVAL);
}

static void sc_bad_ioctl(struct ctx *c, int w)
{
	static const struct { const char *name; unsigned long cmd; } cmds[] = {
		{ "core nr beyond the table", DRM_IO(0xf0) },
		{ "driver nr beyond vgem's", DRM_IOWR(DRM_COMMAND_BASE + 0x20, struct drm_version) },
		{ "not a DRM ioctl", _IO('x', 1) },
		{ "not a DRM ioctl (size)", _IOWR('x', 1, struct drm_version) },
		{ "GEM_CHANGE_HANDLE (invalid op)", DRM_IOWR(0xD2, struct drm_gem_close) },
		{ "MODE_GETRESOURCES", DRM_IOCTL_MODE_GETRESOURCES },
		{ "GET_MAGIC", DRM_IOCTL_GET_MAGIC },
		{ "SET_VERSION", DRM_IOCTL_SET_VERSION },
		{ "BLOCK (legacy noop)", DRM_IOCTL_BLOCK },
		{ "GEM_FLINK", DRM_IOCTL_GEM_FLINK },
	};
	char label[64];
	uint64_t arg[16];
	int fd = xopen(c, w, 0, "open");

	if (fd < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		memset(arg, 0, sizeof(arg));
		snprintf(label, sizeof(label), "%s", cmds[i].name);
		SYS(label, ioctl(fd, cmds[i].cmd, arg));
	}
	close(fd);
}

static void t_bad_ioctl(struct ctx *c)
{
	want("core nr beyond the table", -EINVAL);
	want("driver nr beyond vgem's", -EINVAL);
	want("not a DRM ioctl", -ENOTTY);
	want("not a DRM ioctl (size)", -ENOTTY);
	want("GEM_CHANGE_HANDLE (invalid op)", -EINVAL);
	want("MODE_GETRESOURCES", c->render ? -EACCES : -EOPNOTSUPP);
	want("GET_MAGIC", c->render ? -EACCES : 0);
	want("GEM_FLINK", c->render ? -EACCES : -ENOENT);
}

static void sc_wrong_size(struct ctx *c, int w)
{
	unsigned char buf[64];
	struct drm_get_cap *gc = (void *)buf;
	int fd = xopen(c, w, 0, "open");

	if (fd < 0)
		return;
	/* VERSION with an 8-byte argument: only major and minor go both ways. */
	memset(buf, 0xa5, sizeof(buf));
	SYS("VERSION(8 bytes)", ioctl(fd, _IOC(_IOC_READ | _IOC_WRITE, DRM_IOCTL_BASE, 0x00, 8), buf));
	rec_hex("VERSION(8 bytes).arg", buf, sizeof(struct drm_version));
	/* VERSION with no direction: nothing is copied either way. */
	memset(buf, 0xa5, sizeof(buf));
	SYS("VERSION(_IOC_NONE)", ioctl(fd, DRM_IO(0x00), buf));
	rec_hex("VERSION(_IOC_NONE).arg", buf, sizeof(struct drm_version));
	/* GET_CAP with a 64-byte argument: the tail goes in and comes back. */
	memset(buf, 0xa5, sizeof(buf));
	gc->capability = DRM_CAP_PRIME;
	SYS("GET_CAP(64 bytes)", ioctl(fd, _IOC(_IOC_READ | _IOC_WRITE, DRM_IOCTL_BASE, 0x0c, 64), buf));
	rec_hex("GET_CAP(64 bytes).arg", buf, 64);
	/* GET_CAP with a 4-byte argument: half a capability, no value back. */
	memset(buf, 0xa5, sizeof(buf));
	memset(buf, 0, 8);
	buf[0] = DRM_CAP_PRIME;
	SYS("GET_CAP(4 bytes)", ioctl(fd, _IOC(_IOC_READ | _IOC_WRITE, DRM_IOCTL_BASE, 0x0c, 4), buf));
	rec_hex("GET_CAP(4 bytes).arg", buf, 16);
	/* GEM_CLOSE with an empty argument: handle 0. */
	SYS("GEM_CLOSE(0 bytes)", ioctl(fd, _IOC(_IOC_WRITE, DRM_IOCTL_BASE, 0x09, 0), buf));
	close(fd);
}

static void t_wrong_size(struct ctx *c)
{
	char v8[2 * sizeof(struct drm_version) + 1];
	char none[2 * sizeof(struct drm_version) + 1];
	char cap64[129], cap4[33];

	/* major 1, minor 0, then untouched bytes. */
	strcpy(v8, "0100000000000000");
	for (size_t i = 8; i < sizeof(struct drm_version); i++)
		strcat(v8, "a5");
	none[0] = 0;
	for (size_t i = 0; i < sizeof(struct drm_version); i++)
		strcat(none, "a5");
	/* capability 5 (PRIME), value 3, 48 untouched bytes. */
	strcpy(cap64, "05000000000000000300000000000000");
	for (int i = 16; i < 64; i++)
		strcat(cap64, "a5");
	/* capability 5, value untouched. */
	strcpy(cap4, "0500000000000000a5a5a5a5a5a5a5a5");
	want("VERSION(8 bytes)", 0);
	want_str("VERSION(8 bytes).arg", v8);
	want("VERSION(_IOC_NONE)", 0);
	want_str("VERSION(_IOC_NONE).arg", none);
	want("GET_CAP(64 bytes)", 0);
	want_str("GET_CAP(64 bytes).arg", cap64);
	want("GET_CAP(4 bytes)", 0);
	want_str("GET_CAP(4 bytes).arg", cap4);
	want("GEM_CLOSE(0 bytes)", -EINVAL);
}

static void sc_efault(struct ctx *c, int w)
{
	const long pg = sysconf(_SC_PAGESIZE);
	struct drm_version v = { 0 };
	struct drm_set_client_name cn = { 0 };
	char *hole, *ro, *edge;
	int fd = xopen(c, w, 0, "open");

	if (fd < 0)
		return;
	/*
	 * A read-only page, a page followed by a hole, and an unmapped page:
	 * unmapped last, so that no later mapping reuses it.
	 */
	ro = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	edge = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(edge + pg, pg);
	memset(edge, 0, pg);
	hole = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(hole, pg);
	rec("hole is not the other pages", hole != ro && hole != edge);

	SYS("VERSION(NULL)", ioctl(fd, DRM_IOCTL_VERSION, NULL));
	SYS("VERSION(0x1)", ioctl(fd, DRM_IOCTL_VERSION, (void *)1));
	SYS("VERSION(unmapped)", ioctl(fd, DRM_IOCTL_VERSION, hole));
	SYS("VERSION(kernel)", ioctl(fd, DRM_IOCTL_VERSION, KERNEL_PTR));
	SYS("VERSION(read-only)", ioctl(fd, DRM_IOCTL_VERSION, ro));
	SYS("VERSION(straddles a hole)", ioctl(fd, DRM_IOCTL_VERSION, edge + pg - 8));
	v.name_len = 16;
	v.name = hole;
	SYS("VERSION(name unmapped)", ioctl(fd, DRM_IOCTL_VERSION, &v));
	rec("VERSION(name unmapped).name_len", v.name_len);
	v = (struct drm_version){ .desc_len = 64, .desc = (char *)KERNEL_PTR };
	SYS("VERSION(desc kernel)", ioctl(fd, DRM_IOCTL_VERSION, &v));
	SYS("GET_CAP(NULL)", ioctl(fd, DRM_IOCTL_GET_CAP, NULL));
	SYS("GET_CAP(read-only)", ioctl(fd, DRM_IOCTL_GET_CAP, ro));
	SYS("CREATE_DUMB(kernel)", ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, KERNEL_PTR));
	SYS("CREATE_DUMB(unmapped)", ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, hole));
	SYS("HANDLE_TO_FD(unmapped)", ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, hole));
	SYS("FD_TO_HANDLE(NULL)", ioctl(fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, NULL));
	SYS("FENCE_ATTACH(NULL)", ioctl(fd, DRM_IOCTL_VGEM_FENCE_ATTACH, NULL));
	SYS("FENCE_SIGNAL(kernel)", ioctl(fd, DRM_IOCTL_VGEM_FENCE_SIGNAL, KERNEL_PTR));
	SYS("GEM_CLOSE(kernel)", ioctl(fd, DRM_IOCTL_GEM_CLOSE, KERNEL_PTR));
	/* GEM_CLOSE only reads its argument: a read-only zero page is handle 0. */
	SYS("GEM_CLOSE(read-only)", ioctl(fd, DRM_IOCTL_GEM_CLOSE, ro));
	cn.name_len = 4;
	cn.name = (uintptr_t)hole;
	SYS("SET_CLIENT_NAME(name unmapped)", ioctl(fd, DRM_IOCTL_SET_CLIENT_NAME, &cn));
	munmap(ro, pg);
	munmap(edge, pg);
	close(fd);
}

static void t_efault(struct ctx *c)
{
	want("hole is not the other pages", 1);
	want("VERSION(NULL)", -EFAULT);
	want("VERSION(0x1)", -EFAULT);
	want("VERSION(unmapped)", -EFAULT);
	want("VERSION(kernel)", -EFAULT);
	want("VERSION(read-only)", -EFAULT);
	want("VERSION(straddles a hole)", -EFAULT);
	want("VERSION(name unmapped)", -EFAULT);
	want("VERSION(name unmapped).name_len", 4);
	want("VERSION(desc kernel)", -EFAULT);
	want("GET_CAP(NULL)", -EFAULT);
	want("GET_CAP(read-only)", -EFAULT);
	want("CREATE_DUMB(kernel)", -EFAULT);
	want("CREATE_DUMB(unmapped)", -EFAULT);
	want("HANDLE_TO_FD(unmapped)", -EFAULT);
	want("FD_TO_HANDLE(NULL)", -EFAULT);
	want("FENCE_ATTACH(NULL)", -EFAULT);
	want("FENCE_SIGNAL(kernel)", -EFAULT);
	want("GEM_CLOSE(kernel)", -EFAULT);
	want("GEM_CLOSE(read-only)", -EINVAL);
	want("SET_CLIENT_NAME(name unmapped)", -EFAULT);
}

static void sc_huge_dumb(struct ctx *c, int w)
{
	static const uint32_t dims[][3] = {
		{ 0xffffffff, 1, 32 },	/* cpp * width overflows */
		{ 65536, 65536, 32 },	/* height * stride overflows */
		{ 1, 0xffffffff, 32 },
		{ 1, 1, 0xffffffff },	/* bpp overflows */
		{ 1, 0x3fffffff, 32 },	/* size page-aligns to 0 */
		{ 0, 1, 32 },
		{ 1, 0, 32 },
		{ 1, 1, 0 },
		{ 16384, 16384, 32 },	/* 1 GiB: allocated lazily, fine */
	};
	char label[64];
	int fd = xopen(c, w, 0, "open");

	if (fd < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(dims); i++) {
		struct drm_mode_create_dumb cd = {
			.width = dims[i][0], .height = dims[i][1], .bpp = dims[i][2],
			.handle = 0x1111, .pitch = 0x2222, .size = 0x3333,
		};

		snprintf(label, sizeof(label), "create_dumb(%#x x %#x x %#x)",
			 dims[i][0], dims[i][1], dims[i][2]);
		SYS(label, ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &cd));
		snprintf(label, sizeof(label), "huge%zu.handle", i);
		rec(label, cd.handle);
		snprintf(label, sizeof(label), "huge%zu.pitch", i);
		rec(label, cd.pitch);
		snprintf(label, sizeof(label), "huge%zu.size", i);
		rec(label, cd.size);
		if (cd.handle && cd.handle != 0x1111) {
			struct drm_mode_destroy_dumb dd = { .handle = cd.handle };

			snprintf(label, sizeof(label), "destroy_dumb(huge%zu)", i);
			SYS(label, ioctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &dd));
		}
	}
	close(fd);
}

static void t_huge_dumb(struct ctx *c)
{
	static const char *const bad[] = {
		"create_dumb(0xffffffff x 0x1 x 0x20)",
		"create_dumb(0x10000 x 0x10000 x 0x20)",
		"create_dumb(0x1 x 0xffffffff x 0x20)",
		"create_dumb(0x1 x 0x1 x 0xffffffff)",
		"create_dumb(0x1 x 0x3fffffff x 0x20)",
		"create_dumb(0 x 0x1 x 0x20)",
		"create_dumb(0x1 x 0 x 0x20)",
		"create_dumb(0x1 x 0x1 x 0)",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		want(bad[i], c->render ? -EACCES : -EINVAL);
	if (c->render) {
		want("create_dumb(0x4000 x 0x4000 x 0x20)", -EACCES);
		/* Refused before the driver: the argument is untouched. */
		want("huge0.handle", 0x1111);
		return;
	}
	/* A failure clears the outputs. */
	want("huge0.handle", 0);
	want("huge0.pitch", 0);
	want("huge0.size", 0);
	want("create_dumb(0x4000 x 0x4000 x 0x20)", 0);
	want("huge8.handle", 1);
	want("huge8.pitch", 65536);
	want("huge8.size", 1LL << 30);
	want("destroy_dumb(huge8)", 0);
}

/*
 * Reads /proc/self/fdinfo/<fd>: the value of "key:" (blanks trimmed) into
 * val, or with key NULL the comma-separated list of keys into val, leaving
 * out mnt_id and ino (the proxy is another inode by design). Returns
 * whether the key (or the file) was found; val is "" if not.
 */
static int fdinfo(int fd, const char *key, char *val, size_t n)
{
	char path[64], line[256];
	FILE *f;
	int found = 0;

	val[0] = 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':'), *v;

		if (!colon)
			continue;
		*colon = 0;
		if (!key) {
			if (strcmp(line, "mnt_id") && strcmp(line, "ino"))
				snprintf(val + strlen(val), n - strlen(val), "%s%s",
					 val[0] ? "," : "", line);
			found = 1;
			continue;
		}
		if (strcmp(line, key))
			continue;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		v[strcspn(v, "\n")] = 0;
		snprintf(val, n, "%s", v);
		found = 1;
		break;
	}
	fclose(f);
	return found;
}

static char clients_path[128];

/*
 * Counts the clients of the device listed in debugfs that belong to this
 * process; the newest one's line (the list is oldest first) goes to last.
 */
static int our_clients(char *last, size_t n)
{
	char line[512], cmd[64];
	int tgid, count = 0;
	FILE *f = fopen(clients_path, "re");

	if (last && n)
		last[0] = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %d", cmd, &tgid) == 2 && tgid == getpid()) {
			count++;
			if (last)
				snprintf(last, n, "%s", line);
		}
	}
	fclose(f);
	return count;
}

/* The name and id debugfs shows for this process's newest client. */
static void newest_client(char *name, size_t n, char *id, size_t idn)
{
	char line[512], cmd[64], nm[128] = "", cid[32] = "", master, auth;
	int tgid, dev, uid;
	unsigned int magic;

	our_clients(line, sizeof(line));
	if (sscanf(line, "%63s %d %d %c %c %d %u %127s %31s", cmd, &tgid, &dev,
		   &master, &auth, &uid, &magic, nm, cid) != 9)
		nm[0] = cid[0] = 0;
	snprintf(name, n, "%s", nm);
	snprintf(id, idn, "%s", cid);
}

/*
 * vgem has no show_fdinfo (DEFINE_DRM_GEM_FOPS sets none), so its fdinfo
 * has no drm-* keys, direct or proxied; the proxy must not differ: same
 * keys, same pos and flags, and drm-driver/drm-client-* lines carried over
 * if the driver has them. The client name set by SET_CLIENT_NAME is checked
 * where vgem shows it, in debugfs.
 */
static void sc_fdinfo(struct ctx *c, int w)
{
	static const char name[] = "mockgpu-vgem-test";
	struct drm_set_client_name cn = { sizeof(name) - 1, (uintptr_t)name };
	char val[256], nm[128], id[32];
	char big[100];
	int fd = xopen(c, w, 0, "open"), fd2;

	if (fd < 0)
		return;
	rec("fdinfo readable", fdinfo(fd, NULL, val, sizeof(val)));
	rec_str("fdinfo keys", val);
	fdinfo(fd, "pos", val, sizeof(val));
	rec_str("pos", val);
	fdinfo(fd, "flags", val, sizeof(val));
	rec_str("flags", val);
	if (fdinfo(fd, "drm-driver", val, sizeof(val)))
		rec_str("drm-driver", val);
	newest_client(nm, sizeof(nm), id, sizeof(id));
	rec_str("debugfs name before", nm);
	if (fdinfo(fd, "drm-client-id", val, sizeof(val)))
		rec("drm-client-id is debugfs's", !strcmp(val, id));
	SYS("set_client_name", ioctl(fd, DRM_IOCTL_SET_CLIENT_NAME, &cn));
	newest_client(nm, sizeof(nm), id, sizeof(id));
	rec_str("debugfs name", nm);
	fdinfo(fd, NULL, val, sizeof(val));
	rec_str("fdinfo keys after set_client_name", val);
	if (fdinfo(fd, "drm-client-name", val, sizeof(val)))
		rec_str("drm-client-name", val);
	memset(big, 'a', sizeof(big));
	cn = (struct drm_set_client_name){ sizeof(big), (uintptr_t)big };
	SYS("set_client_name(too long)", ioctl(fd, DRM_IOCTL_SET_CLIENT_NAME, &cn));
	cn = (struct drm_set_client_name){ 3, (uintptr_t)"a b" };
	SYS("set_client_name(space)", ioctl(fd, DRM_IOCTL_SET_CLIENT_NAME, &cn));
	newest_client(nm, sizeof(nm), id, sizeof(id));
	rec_str("debugfs name after bad names", nm);
	cn = (struct drm_set_client_name){ 0, 0 };
	SYS("set_client_name(clear)", ioctl(fd, DRM_IOCTL_SET_CLIENT_NAME, &cn));
	newest_client(nm, sizeof(nm), id, sizeof(id));
	rec_str("debugfs name cleared", nm);
	fd2 = xopen(c, w, O_NONBLOCK, "open(O_NONBLOCK)");
	if (fd2 >= 0) {
		fdinfo(fd2, "flags", val, sizeof(val));
		rec_str("flags(O_NONBLOCK)", val);
		close(fd2);
	}
	close(fd);
}

static void t_fdinfo(struct ctx *c)
{
	const struct ent *e = find(0, "fdinfo keys");

	want("fdinfo readable", 1);
	if (!e || strncmp(e->s, "pos,flags", 9))
		fail("direct fdinfo keys \"%s\" do not start with pos,flags", e ? e->s : "?");
	if (find(0, "drm-driver"))
		want_str("drm-driver", "vgem");
	want_str("pos", "0");
	want_str("debugfs name before", "<unset>");
	want("set_client_name", 0);
	want_str("debugfs name", "mockgpu-vgem-test");
	want("set_client_name(too long)", -EINVAL);
	want("set_client_name(space)", -EINVAL);
	want_str("debugfs name after bad names", "mockgpu-vgem-test");
	want("set_client_name(clear)", 0);
	want_str("debugfs name cleared", "<unset>");
}

static void sc_clients(struct ctx *c, int w)
{
	char line[512] = "", cmd[64], master, auth;
	int tgid, dev, uid, before, fd, fd2;

	before = our_clients(NULL, 0);
	rec("clients file readable", before >= 0);
	fd = xopen(c, w, 0, "open");
	if (fd < 0)
		return;
	rec("clients after open", our_clients(line, sizeof(line)) - before);
	if (sscanf(line, "%63s %d %d %c %c %d", cmd, &tgid, &dev, &master, &auth, &uid) == 6) {
		rec("client.tgid is ours", tgid == getpid());
		rec("client.dev", dev);
		rec("client.master", master);
		rec("client.authenticated", auth);
		rec("client.uid", uid);
	} else {
		rec("client line parsed", 0);
	}
	fd2 = xopen(c, w, 0, "open second");
	rec("clients after second open", our_clients(NULL, 0) - before);
	xclose(fd2);
	rec("clients after closing it", our_clients(NULL, 0) - before);
	/* A dup shares the file: one client still. */
	fd2 = SYS("dup", dup(fd));
	rec("clients after dup", our_clients(NULL, 0) - before);
	close(fd);
	rec("clients after closing the original", our_clients(NULL, 0) - before);
	xclose(fd2);
	rec("clients after closing the dup", our_clients(NULL, 0) - before);
	/* A mapping holds the file: the client lives until the munmap. */
	fd = xopen(c, w, 0, "open for a mapping");
	if (fd >= 0) {
		struct bo bo;
		int r = bo_get(c, fd, 16, 16, &bo);
		void *m;

		rec_err("bo", r ? -1 : 0, -r);
		m = r ? MAP_FAILED : xmap("mmap", fd, bo.offset, bo.size,
					  PROT_READ | PROT_WRITE, MAP_SHARED);
		if (m != MAP_FAILED)
			fill(m, bo.size, 0x5a5a5a5a);
		close(fd);
		rec("clients after close, mapping alive", our_clients(NULL, 0) - before);
		if (m != MAP_FAILED) {
			rec("mapping works after close", holds(m, bo.size, 0x5a5a5a5a));
			SYS("munmap", munmap(m, bo.size));
		}
		/* Through the proxy the context goes at mockgpu's next reaper
		 * pass (mapped.rs: it keeps the context, and its open-file
		 * charge, while the mapping lives): wait up to 1 s. */
		for (int i = 0; i < 100 && our_clients(NULL, 0) - before > 0; i++)
			usleep(10000);
		rec("clients after munmap", our_clients(NULL, 0) - before);
	}
}

static void t_clients(struct ctx *c)
{
	want("clients file readable", 1);
	want("clients after open", 1);
	want("client.tgid is ours", 1);
	want("client.dev", c->minor);
	want("client.master", c->render ? 'n' : 'y');
	want("client.authenticated", 'y');
	want("client.uid", 0);
	want("clients after second open", 2);
	want("clients after closing it", 1);
	want("clients after dup", 1);
	want("clients after closing the original", 1);
	want("clients after closing the dup", 0);
	want("bo", 0);
	want("mmap", 0);
	want("clients after close, mapping alive", 1);
	want("mapping works after close", 1);
	want("munmap", 0);
	want("clients after munmap", 0);
}

static void sc_flink(struct ctx *c, int w)
{
	struct drm_gem_flink fl = { 0 }, fl2 = { 0 }, bad = { .handle = 999 };
	struct drm_gem_open op = { 0 };
	struct bo bo;
	uint32_t name = 0;
	int fd, same, other, r;

	fd = xopen(c, w, 0, "open");
	same = xopen(c, w, 0, "open (same side)");
	other = xopen(c, !w, 0, "open (other side)");
	if (fd < 0 || same < 0 || other < 0)
		goto out;
	r = bo_get(c, fd, 32, 32, &bo);
	rec_err("bo", r ? -1 : 0, -r);
	if (r)
		goto out;
	fl.handle = bo.handle;
	SYS("flink", ioctl(fd, DRM_IOCTL_GEM_FLINK, &fl));
	rec("name nonzero", fl.name != 0);
	fl2.handle = bo.handle;
	SYS("flink(again)", ioctl(fd, DRM_IOCTL_GEM_FLINK, &fl2));
	rec("same name again", fl2.name == fl.name);
	SYS("flink(bad handle)", ioctl(fd, DRM_IOCTL_GEM_FLINK, &bad));
	name = fl.name;
	if (c->render) {
		/* Names come from a primary node then. */
		struct drm_mode_create_dumb cd = { .width = 8, .height = 8, .bpp = 32 };
		struct drm_gem_flink sf = { 0 };

		if (!drm_ioctl(c->src, DRM_IOCTL_MODE_CREATE_DUMB, &cd)) {
			sf.handle = cd.handle;
			if (!drm_ioctl(c->src, DRM_IOCTL_GEM_FLINK, &sf))
				name = sf.name;
			gem_close(c->src, cd.handle);	/* the name dies with it */
		}
	}
	op.name = name;
	SYS("gem_open(same side)", ioctl(same, DRM_IOCTL_GEM_OPEN, &op));
	rec("same side handle", op.handle);
	rec("same side size is the object's", op.size == bo.size);
	op = (struct drm_gem_open){ .name = name };
	SYS("gem_open(other side)", ioctl(other, DRM_IOCTL_GEM_OPEN, &op));
	rec("other side handle", op.handle);
	rec("other side size is the object's", op.size == bo.size);
	op = (struct drm_gem_open){ .name = 0x7ffffff0 };
	SYS("gem_open(bad name)", ioctl(same, DRM_IOCTL_GEM_OPEN, &op));
out:
	xclose(fd);
	xclose(same);
	xclose(other);
}

static void t_flink(struct ctx *c)
{
	want("bo", 0);
	if (c->render) {
		want("flink", -EACCES);
		want("gem_open(same side)", -EACCES);
		want("gem_open(other side)", -EACCES);
		want("gem_open(bad name)", -EACCES);
		return;
	}
	want("flink", 0);
	want("name nonzero", 1);
	want("flink(again)", 0);
	want("same name again", 1);
	want("flink(bad handle)", -ENOENT);
	want("gem_open(same side)", 0);
	want("same side handle", 1);
	want("same side size is the object's", 1);
	want("gem_open(other side)", 0);
	want("other side handle", 1);
	want("other side size is the object's", 1);
	want("gem_open(bad name)", -ENOENT);
}

/* ---- Driver ----------------------------------------------------------------- */

static const struct test {
	const char *name;
	void (*run)(struct ctx *c, int w);
	void (*check)(struct ctx *c);
} tests[] = {
	{ "DRM_IOCTL_VERSION and GET_UNIQUE", sc_version, t_version },
	{ "GET_CAP and SET_CLIENT_CAP", sc_getcap, t_getcap },
	{ "MODE_CREATE_DUMB", sc_create_dumb, t_create_dumb },
	{ "MODE_MAP_DUMB", sc_map_dumb, t_map_dumb },
	{ "mmap of a buffer, two mappings", sc_mmap, t_mmap },
	{ "MODE_DESTROY_DUMB and GEM_CLOSE", sc_destroy_close, t_destroy_close },
	{ "GEM_CLOSE of bad handles", sc_close_bad, t_close_bad },
	{ "PRIME export and import across direct and proxy", sc_prime, t_prime },
	{ "vgem fences on a shared buffer", sc_fence, t_fence },
	{ "poll, select, epoll with no events", sc_poll, t_poll },
	{ "read: O_NONBLOCK, F_SETFL, FIONBIO, blocking", sc_read, t_read },
	{ "write, lseek, pread and other file ops", sc_fops, t_fops },
	{ "unknown and refused ioctls", sc_bad_ioctl, t_bad_ioctl },
	{ "wrong-size ioctl arguments", sc_wrong_size, t_wrong_size },
	{ "NULL, unmapped, kernel and read-only pointers", sc_efault, t_efault },
	{ "huge and degenerate dumb sizes", sc_huge_dumb, t_huge_dumb },
	{ "fdinfo and SET_CLIENT_NAME", sc_fdinfo, t_fdinfo },
	{ "debugfs clients: one per open file, gone on last close or munmap", sc_clients, t_clients },
	{ "GEM_FLINK and GEM_OPEN", sc_flink, t_flink },
};

#define WATCHDOG_MS 60000

static void *watchdog(void *arg)
{
	for (;;) {
		long long since = step_since;

		sleep(1);
		if (!since || since != step_since || now_ms() - since < WATCHDOG_MS)
			continue;
		ktap_diag("watchdog: \"%s\" stuck for %d s in the %s run, at or after %s",
			  step_test ?: "?", WATCHDOG_MS / 1000, side[step_side], step);
		ktap_diag("plan was %d, ran %d: giving up", ktap_planned, ktap_n);
		fflush(stdout);
		_exit(1);
	}
	return NULL;
}

/* The primary node of the device of a render node, through sysfs. */
static int find_primary(struct ctx *c, struct stat *st)
{
	char dir[128];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/dev/char/%u:%u/device/drm",
		 major(st->st_rdev), minor(st->st_rdev));
	d = opendir(dir);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, "card", 4) && isdigit((unsigned char)de->d_name[4])) {
			snprintf(c->src_path, sizeof(c->src_path), "/dev/dri/%.40s", de->d_name);
			break;
		}
	}
	closedir(d);
	return c->src_path[0] ? 0 : -1;
}

static void run_pair(const char *direct, const char *proxy)
{
	struct ctx c = { .path = { direct, proxy }, .src = -1 };
	struct stat st;
	const char *base = strrchr(direct, '/');
	const char *why = NULL;

	snprintf(c.node, sizeof(c.node), "%s", base ? base + 1 : direct);
	if (stat(direct, &st) || !S_ISCHR(st.st_mode)) {
		why = "direct node is not a char device";
	} else {
		c.minor = minor(st.st_rdev);
		c.render = !strncmp(c.node, "renderD", 7);
		snprintf(clients_path, sizeof(clients_path),
			 "/sys/kernel/debug/dri/%u/clients", c.minor);
		if (c.render) {
			if (find_primary(&c, &st))
				why = "no primary node found for the render node";
			else if ((c.src = open(c.src_path, O_RDWR | O_CLOEXEC)) < 0)
				why = "cannot open the primary node";
		}
	}
	if (!why && access(proxy, R_OK | W_OK))
		why = "proxy node is missing";
	if (why)
		ktap_diag("%s: %s (%s)", c.node, why, strerror(errno));
	else
		ktap_diag("%s: direct %s, proxy %s%s%s", c.node, direct, proxy,
			  c.render ? ", buffers from " : "", c.render ? c.src_path : "");

	for (size_t i = 0; i < ARRAY_SIZE(tests); i++) {
		TEST_BEGIN();
		if (why) {
			ktap_result(0, "%s: %s", c.node, tests[i].name);
			continue;
		}
		for (int w = 0; w < 2; w++) {
			cur = &obs[w];
			cur->n = 0;
			cur->overflow = 0;
			step_test = tests[i].name;
			step_side = w;
			step_at("start");
			step_since = now_ms();
			tests[i].run(&c, w);
			step_since = 0;
		}
		compare();
		tests[i].check(&c);
		ktap_result(ktap_verdict(), "%s: %s", c.node, tests[i].name);
	}
	xclose(c.src);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */

	if (argc < 3 || (argc - 1) % 2) {
		fprintf(stderr, "usage: %s DIRECT PROXY [DIRECT PROXY]...\n", argv[0]);
		return 2;
	}
	pthread_t wd;

	sigaction(SIGALRM, &sa, NULL);
	/* Only the main thread takes the SIGALRMs that interrupt reads. */
	{
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGALRM);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
		pthread_create(&wd, NULL, watchdog, NULL);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	ktap_header((int)((argc - 1) / 2 * ARRAY_SIZE(tests)));
	for (int i = 1; i + 1 < argc; i += 2)
		run_pair(argv[i], argv[i + 1]);
	return ktap_finish();
}
