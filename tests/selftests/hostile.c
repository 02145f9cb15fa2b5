// SPDX-License-Identifier: GPL-2.0
/*
 * hostile: mockgpu tried as a hostile tenant would (issue 10).
 *
 *   hostile [--churn N] [--jobs J] [--peer N] [--defaults MB:FILES] [--render NODE] [--only GROUPS]
 *           [REAL PROXY]
 *
 * REAL and PROXY default to /dev/realgpu and /dev/mockgpu/realgpu (target
 * "realgpu", tenants by pid namespace). --churn is the number of namespaces
 * of B (default 1000; the figure is 100000), --peer the number of
 * ATTACH_PEER ioctls of C (default 100000), --defaults the limits mockgpu
 * was loaded with for unconfigured tenants (unconfigured=2
 * default_memory_mb=MB default_files=FILES; without it that case of A is
 * skipped), --render a render node to proxy for E (vgem's), --only a subset
 * of the groups "BCFAED" (for development). tests/guest/hostile.sh loads the
 * modules and passes these.
 *
 *   A  a limited tenant's nested pid namespace, user namespace and child
 *      cgroup stay inside its limits; unconfigured, every nesting level shares
 *      the top-level namespace's defaults; tenants are keyed by namespace id,
 *      so a new namespace never inherits a dead one's limits
 *   B  tenants of dead namespaces are freed: 100,000 namespaces that each open
 *      the proxy leave the number of tenants and the kernel's memory as they were
 *   C  no real-device fd ever reaches user space: ATTACH_PEER with a proxy fd is
 *      EOPNOTSUPP, other fds are forwarded, a thread hunting real-device fds
 *      finds none
 *   D  removing a target revokes every inode of its node, also a bind mount
 *      made before; files open keep working; no charge outlives the target
 *   E  access is checked on the proxy (real node's owner, group and mode, device
 *      cgroup on the proxy's number); the real node is opened as the operator
 *   F  a mapping of the proxy names the proxy (maps, map_files)
 *
 * Every limit is checked against the device's own count (realgpu GET_INFO
 * vram_used, read through the real node by this process, which is in the
 * initial namespaces), never against mockgpu's counters.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/nsfs.h>

#include "ctl.h"
#include "ktap.h"
#include "mockgpu.h"
#include "realgpu.h"

#ifndef NS_GET_ID
#define NS_GET_ID _IOR(0xb7, 13, __u64)
#endif

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define WORK "/tmp/hostile"
#define CGROOT "/sys/fs/cgroup"
#define USER_UID 1000
#define GPU_GID 4321		/* the real node's group in E */

static const char *real_path = "/dev/realgpu";
static const char *proxy_path = "/dev/mockgpu/realgpu";
static char target[MOCKGPU_NAME_MAX] = "realgpu";
static const char *render_path;
static long churn_n = 1000, peer_n = 100000, churn_jobs = 1;
static long default_mb = -1, default_files = -1;	/* unconfigured=2 limits (--defaults) */
static dev_t real_rdev, proxy_rdev;

/* --- control node, device, namespaces ------------------------------------ */

/* Adds the char device at @path as a target; its name goes to @name. */
static int target_add(const char *path, uint32_t kind, char *name)
{
	struct mockgpu_target_add a = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(a) } };

	snprintf(a.path, sizeof(a.path), "%s", path);
	a.tenant_kind = kind;
	if (ctl(MOCKGPU_IOCTL_TARGET_ADD, &a))
		return -1;
	if (name)
		snprintf(name, MOCKGPU_NAME_MAX, "%s", a.name);
	return 0;
}

static int target_remove(const char *name)
{
	struct mockgpu_target_remove rm = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(rm) } };

	snprintf(rm.name, sizeof(rm.name), "%s", name);
	return ctl(MOCKGPU_IOCTL_TARGET_REMOVE, &rm);
}

static int limit_set(const char *tgt, uint32_t kind, uint64_t id, uint64_t mem, uint64_t files)
{
	struct mockgpu_limit l = ctl_limit_req(tgt, kind, id, mem, files);

	return ctl(MOCKGPU_IOCTL_LIMIT_SET, &l);
}

static void limit_clear(const char *tgt, uint32_t kind, uint64_t id)
{
	struct mockgpu_limit l = ctl_limit_req(tgt, kind, id, 0, 0);

	ctl(MOCKGPU_IOCTL_LIMIT_CLEAR, &l);
}

static struct mockgpu_usage *usage_buf;
static uint32_t usage_cap;

/* Reads every usage record into usage_buf; returns the number of tenants, -1 on error. */
static long usage_list(void)
{
	for (;;) {
		struct mockgpu_usage_list req = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(req) } };

		if (!usage_buf) {
			usage_cap = 1024;
			usage_buf = calloc(usage_cap, sizeof(*usage_buf));
			if (!usage_buf)
				return -1;
		}
		req.capacity = usage_cap;
		req.entries = (uintptr_t)usage_buf;
		if (ctl(MOCKGPU_IOCTL_USAGE_LIST, &req))
			return -1;
		if (req.count <= usage_cap)
			return req.count;
		free(usage_buf);
		usage_cap = req.count + 1024;
		usage_buf = calloc(usage_cap, sizeof(*usage_buf));
		if (!usage_buf)
			return -1;
	}
}

/* The usage record of a tenant on a target (any target if @tgt is NULL), or NULL. */
static const struct mockgpu_usage *usage_find(const char *tgt, uint32_t kind, uint64_t id)
{
	long n = usage_list();

	for (long i = 0; i < n && i < usage_cap; i++)
		if (usage_buf[i].tenant.kind == kind && usage_buf[i].tenant.id == id &&
		    (!tgt || !strcmp(usage_buf[i].target, tgt)))
			return &usage_buf[i];
	return NULL;
}

/* The device's own count of allocated VRAM, read through the real node. */
static uint64_t vram_used(void)
{
	struct realgpu_info info = { 0 };
	int fd = open(real_path, O_RDWR | O_CLOEXEC);

	if (fd < 0 || ioctl(fd, REALGPU_IOCTL_GET_INFO, &info))
		info.vram_used = ~0ull;
	if (fd >= 0)
		close(fd);
	return info.vram_used;
}

/* Waits up to 2 s for the device's usage to drop to @want; returns the last value. */
static uint64_t vram_settles_to(uint64_t want)
{
	uint64_t v = vram_used();

	for (int i = 0; i < 200 && v != want; i++) {
		usleep(10000);
		v = vram_used();
	}
	return v;
}

static int gpu_alloc(int fd, uint64_t size, struct realgpu_alloc *a)
{
	memset(a, 0, sizeof(*a));
	a->size = size;
	return ioctl(fd, REALGPU_IOCTL_ALLOC, a);
}

/* The unique 64-bit id of namespace @ns ("pid", "user") of @pid (0: self). */
static int ns_id(pid_t pid, const char *ns, uint64_t *id)
{
	char path[64];
	int fd, r, e;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", pid, ns);
	else
		snprintf(path, sizeof(path), "/proc/self/ns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = ioctl(fd, NS_GET_ID, id);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

/*
 * fork(), with @flags (CLONE_NEWPID, CLONE_NEWUSER) for the child. A raw
 * clone: the child runs plain syscalls and _exit()s, nothing that relies on
 * glibc's idea of the thread (raise, pthread_*).
 */
static pid_t spawn(unsigned long flags)
{
	fflush(stdout);
	fflush(stderr);
	return syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

static int wait_status(pid_t pid)
{
	int status = 0;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), e;
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Maps uid and gid 0 of the caller's new user namespace to its own (0). */
static int map_self_root(void)
{
	return write_file("/proc/self/setgroups", "deny") ||
	       write_file("/proc/self/uid_map", "0 0 1") ||
	       write_file("/proc/self/gid_map", "0 0 1");
}

/* A cgroup v2 directory; its id is its inode number. */
static int cgroup_make(const char *path, uint64_t *id)
{
	struct stat st;

	if (mkdir(path, 0755) && errno != EEXIST)
		return -1;
	if (stat(path, &st))
		return -1;
	if (id)
		*id = st.st_ino;
	return 0;
}

static void cgroup_remove(const char *path)
{
	for (int i = 0; i < 100 && rmdir(path) && errno == EBUSY; i++)
		usleep(10000);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- A: nested namespaces and cgroups stay inside the outer tenant -------- */

#define A_MEM (1 * MiB)
#define A_FILES 3
#define A_OUTER (512 * KiB)
#define A_CHUNK (64 * KiB)

enum nest { NEST_PIDNS, NEST_USER_PIDNS, NEST_USERNS, NEST_CGROUP };

struct a_case {
	const char *name;
	const char *proxy, *target;
	uint32_t kind;		/* the target's tenant kind */
	enum nest nest;		/* what the tenant creates inside itself */
	int configured;		/* limits set on the outer tenant; else unconfigured= defaults */
};

struct report {
	int32_t who;		/* 0 the outer tenant, 1 the nested process */
	int32_t ok;		/* its setup worked */
	int32_t files_ok;	/* proxy files it opened */
	int32_t files_errno;	/* the open that was refused */
	int32_t mem_errno;	/* the allocation that was refused */
	int32_t err;		/* errno of the failed setup step */
	uint64_t bytes_ok;	/* bytes it allocated */
	char what[48];		/* the failed setup step */
};

static void send_report(int fd, struct report *r)
{
	if (write(fd, r, sizeof(*r)) != sizeof(*r))
		_exit(120);
}

static void child_fail(int rep, struct report *r, const char *what)
{
	r->err = errno;
	snprintf(r->what, sizeof(r->what), "%s", what);
	send_report(rep, r);
	_exit(1);
}

/* The nested process: opens files, then allocates, until refused; holds them. */
static void nested_body(const struct a_case *c, int rep, int rel)
{
	struct report r = { .who = 1, .ok = 1 };
	int fds[16], n;
	char ch;

	if (c->nest == NEST_CGROUP && write_file(CGROOT "/hostile-a/inner/cgroup.procs", "0"))
		child_fail(rep, &r, "join the child cgroup");
	for (n = 0; n < 16; n++) {
		fds[n] = open(c->proxy, O_RDWR);
		if (fds[n] < 0) {
			r.files_errno = errno;
			break;
		}
	}
	r.files_ok = n;
	for (int i = 0; n > 0 && i < 48; i++) {
		struct realgpu_alloc a;

		if (gpu_alloc(fds[0], A_CHUNK, &a)) {
			r.mem_errno = errno;
			break;
		}
		r.bytes_ok += a.size;
	}
	send_report(rep, &r);
	if (read(rel, &ch, 1) < 0)	/* EOF: the parent has measured */
		_exit(2);
	_exit(0);
}

/* The outer tenant: one file, 512 KiB, then a nested namespace or cgroup. */
static void outer_body(const struct a_case *c, int go, int rep, int rel)
{
	struct report r = { .who = 0 };
	struct realgpu_alloc a;
	char ch;
	int fd;
	pid_t pid;

	if (read(go, &ch, 1) != 1)
		_exit(3);
	fd = open(c->proxy, O_RDWR);
	if (fd < 0)
		child_fail(rep, &r, "open the proxy");
	r.files_ok = 1;
	if (gpu_alloc(fd, A_OUTER, &a))
		child_fail(rep, &r, "allocate 512 KiB");
	r.bytes_ok = a.size;
	switch (c->nest) {
	case NEST_PIDNS:
		if (unshare(CLONE_NEWPID))
			child_fail(rep, &r, "unshare(CLONE_NEWPID)");
		break;
	case NEST_USER_PIDNS:
		if (unshare(CLONE_NEWUSER | CLONE_NEWPID) || map_self_root())
			child_fail(rep, &r, "unshare(CLONE_NEWUSER|CLONE_NEWPID)");
		break;
	case NEST_USERNS:
		if (unshare(CLONE_NEWUSER) || map_self_root())
			child_fail(rep, &r, "unshare(CLONE_NEWUSER)");
		break;
	case NEST_CGROUP:
		if (cgroup_make(CGROOT "/hostile-a/inner", NULL))
			child_fail(rep, &r, "mkdir a child cgroup");
		break;
	}
	pid = fork();
	if (pid < 0)
		child_fail(rep, &r, "fork");
	if (pid == 0)
		nested_body(c, rep, rel);
	r.ok = 1;
	send_report(rep, &r);
	_exit(wait_status(pid) == 0 ? 0 : 4);
}

/* Reads the reports of the outer tenant and the nested process (60 s at most). */
static int read_reports(int rep, struct report *outer, struct report *nested)
{
	int have = 0;

	memset(outer, 0, sizeof(*outer));
	memset(nested, 0, sizeof(*nested));
	while ((have & 3) != 3) {
		struct pollfd pfd = { .fd = rep, .events = POLLIN };
		struct report r;

		if (poll(&pfd, 1, 60000) != 1 || read(rep, &r, sizeof(r)) != sizeof(r))
			return -1;
		*(r.who ? nested : outer) = r;
		have |= 1 << !!r.who;
		if (!r.who && !r.ok)
			return -1;
	}
	return 0;
}

static void report_diag(const char *who, const struct report *r)
{
	if (!r->ok && r->what[0])
		ktap_diag("%s: %s failed: %s", who, r->what, strerror(r->err));
}

static int run_a_case(const struct a_case *c)
{
	uint64_t mem_limit = A_MEM, files_limit = A_FILES, id = 0, base, used;
	int go[2], rep[2], rel[2], rc;
	struct report outer, nested;
	unsigned long flags = 0;
	pid_t pid;

	TEST_BEGIN();
	if (!c->configured) {
		mem_limit = default_mb * MiB;
		files_limit = default_files;
	}
	base = vram_used();
	if (pipe2(go, O_CLOEXEC) || pipe2(rep, O_CLOEXEC) || pipe2(rel, O_CLOEXEC))
		return 0;
	if (c->kind == MOCKGPU_TENANT_PIDNS)
		flags = CLONE_NEWPID;
	else if (c->kind == MOCKGPU_TENANT_USERNS)
		flags = CLONE_NEWUSER;
	pid = spawn(flags);
	if (pid == 0) {
		close(go[1]);
		close(rep[0]);
		close(rel[1]);
		outer_body(c, go[0], rep[1], rel[0]);
	}
	close(go[0]);
	close(rep[1]);
	close(rel[0]);
	EXPECT(pid > 0);
	switch (c->kind) {
	case MOCKGPU_TENANT_PIDNS:
		EXPECT_OK(ns_id(pid, "pid", &id));
		break;
	case MOCKGPU_TENANT_USERNS: {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
		EXPECT_OK(write_file(path, "0 0 1"));
		snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
		EXPECT_OK(write_file(path, "0 0 1"));
		EXPECT_OK(ns_id(pid, "user", &id));
		break;
	}
	case MOCKGPU_TENANT_CGROUP: {
		char s[32];

		snprintf(s, sizeof(s), "%d", pid);
		EXPECT_OK(cgroup_make(CGROOT "/hostile-a", &id));
		EXPECT_OK(write_file(CGROOT "/hostile-a/cgroup.procs", s));
		break;
	}
	}
	if (c->configured)
		EXPECT_OK(limit_set(c->target, c->kind, id, mem_limit, files_limit));
	if (write(go[1], "g", 1) != 1)
		ktap_diag("the tenant did not start");
	close(go[1]);
	if (read_reports(rep[0], &outer, &nested)) {
		report_diag("outer tenant", &outer);
		report_diag("nested", &nested);
		ktap_diag("no report from the tenant (outer ok %d, nested ok %d)", outer.ok, nested.ok);
		ktap_cur_ok = 0;
	}
	report_diag("nested", &nested);
	used = vram_used() - base;
	ktap_diag("%s: outer holds %llu KiB in 1 file; nested opened %d more (then %s), "
		  "allocated %llu KiB (then %s)", c->name,
		  (unsigned long long)outer.bytes_ok / KiB, nested.files_ok,
		  nested.files_errno ? strerror(nested.files_errno) : "no refusal",
		  (unsigned long long)nested.bytes_ok / KiB,
		  nested.mem_errno ? strerror(nested.mem_errno) : "no refusal");
	ktap_diag("%s: device vram_used %llu KiB, the tenant's limit %llu KiB and %llu files",
		  c->name, (unsigned long long)used / KiB, (unsigned long long)mem_limit / KiB,
		  (unsigned long long)files_limit);
	EXPECT(outer.ok && nested.ok);
	EXPECT(used <= mem_limit);
	EXPECT(outer.bytes_ok + nested.bytes_ok <= mem_limit);
	EXPECT_EQ(nested.mem_errno, EDQUOT);
	EXPECT(1 + (uint64_t)nested.files_ok <= files_limit);
	EXPECT_EQ(nested.files_errno, EMFILE);
	if (c->configured) {
		/* The tenant is listed under its namespace id (or cgroup id). */
		const struct mockgpu_usage *u = usage_find(c->target, c->kind, id);

		EXPECT(u != NULL);
		if (u)
			EXPECT_EQ(u->files_used, 1 + nested.files_ok);
	}
	close(rel[1]);
	close(rep[0]);
	rc = wait_status(pid);
	EXPECT_EQ(rc, 0);
	EXPECT_EQ(vram_settles_to(base), base);
	if (c->configured)
		limit_clear(c->target, c->kind, id);
	if (c->nest == NEST_CGROUP) {
		cgroup_remove(CGROOT "/hostile-a/inner");
		cgroup_remove(CGROOT "/hostile-a");
	}
	return ktap_verdict();
}

/*
 * A new namespace is a new tenant even where it gets a dead one's inode
 * number (the kernel reuses those at once): the dead tenant's limits (4 KiB,
 * 1 file) must not apply to it. The dead namespace is configured under its
 * id and, as an operator of the old ABI would have, under its inode number
 * (which mockgpu may refuse: no namespace has that id).
 */
static int test_no_inherit(void)
{
	uint64_t id0 = 0, id;
	struct stat st0, st;
	int go[2], reused = 0, refused = 0;
	char path[64];
	pid_t pid;

	TEST_BEGIN();
	if (pipe2(go, O_CLOEXEC))
		return 0;
	pid = spawn(CLONE_NEWPID);
	if (pid == 0) {
		char ch;

		close(go[1]);
		_exit(read(go[0], &ch, 1) < 0);
	}
	close(go[0]);
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", pid);
	EXPECT_OK(stat(path, &st0));
	EXPECT_OK(ns_id(pid, "pid", &id0));
	EXPECT_OK(limit_set(target, MOCKGPU_TENANT_PIDNS, id0, 4096, 1));
	limit_set(target, MOCKGPU_TENANT_PIDNS, st0.st_ino, 4096, 1);
	close(go[1]);
	EXPECT_EQ(wait_status(pid), 0);
	for (int i = 0; i < 20; i++) {
		int rc;

		if (pipe2(go, O_CLOEXEC))
			break;
		pid = spawn(CLONE_NEWPID);
		if (pid == 0) {
			struct realgpu_alloc a;
			char ch;
			int fd;

			close(go[1]);
			if (read(go[0], &ch, 1) < 0)
				_exit(100);
			fd = open(proxy_path, O_RDWR);
			if (fd < 0)
				_exit(errno);
			_exit(gpu_alloc(fd, 64 * KiB, &a) ? errno : 0);
		}
		close(go[0]);
		snprintf(path, sizeof(path), "/proc/%d/ns/pid", pid);
		if (!stat(path, &st) && st.st_ino == st0.st_ino)
			reused++;
		EXPECT(ns_id(pid, "pid", &id) == 0 && id != id0);
		close(go[1]);
		rc = wait_status(pid);
		if (rc) {
			refused++;
			ktap_diag("new namespace %d (inode %llu, the dead one's %llu): %s", i,
				  (unsigned long long)st.st_ino, (unsigned long long)st0.st_ino,
				  strerror(rc));
		}
	}
	ktap_diag("%d of 20 new namespaces got the dead tenant's inode number, %d were refused",
		  reused, refused);
	EXPECT_EQ(refused, 0);
	limit_clear(target, MOCKGPU_TENANT_PIDNS, id0);
	limit_clear(target, MOCKGPU_TENANT_PIDNS, st0.st_ino);
	return ktap_verdict();
}

static dev_t rdev_of(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : st.st_rdev;
}

/* A node of the real device at @path, for a target of another tenant kind. */
static int real_node(const char *path, mode_t mode)
{
	unlink(path);
	return mknod(path, S_IFCHR | mode, real_rdev);
}

static void group_a(void)
{
	static const struct a_case cases[] = {
		{ "nested pidns", NULL, NULL, MOCKGPU_TENANT_PIDNS, NEST_PIDNS, 1 },
		{ "nested userns+pidns", NULL, NULL, MOCKGPU_TENANT_PIDNS, NEST_USER_PIDNS, 1 },
		{ "child cgroup", "/dev/mockgpu/rg-cgroup", "rg-cgroup", MOCKGPU_TENANT_CGROUP, NEST_CGROUP, 1 },
		{ "nested userns", "/dev/mockgpu/rg-userns", "rg-userns", MOCKGPU_TENANT_USERNS, NEST_USERNS, 1 },
		{ "unconfigured nested pidns", NULL, NULL, MOCKGPU_TENANT_PIDNS, NEST_PIDNS, 0 },
	};
	static const char *title[] = {
		"a nested pid namespace is held to the limits of the tenant that made it",
		"a nested user+pid namespace is held to the limits of the tenant that made it",
		"a child cgroup is held to the limits of its parent cgroup (cgroup tenants)",
		"a nested user namespace is held to the limits of its parent (userns tenants)",
		"unconfigured: a nested pid namespace shares its top-level namespace's defaults",
	};
	int have_cg = !real_node(WORK "/rg-cgroup", 0666) &&
		      !target_add(WORK "/rg-cgroup", MOCKGPU_TENANT_CGROUP, NULL);
	int have_us = !real_node(WORK "/rg-userns", 0666) &&
		      !target_add(WORK "/rg-userns", MOCKGPU_TENANT_USERNS, NULL);

	for (int i = 0; i < 5; i++) {
		struct a_case c = cases[i];

		if (!c.proxy) {
			c.proxy = proxy_path;
			c.target = target;
		}
		if ((c.kind == MOCKGPU_TENANT_CGROUP && !have_cg) ||
		    (c.kind == MOCKGPU_TENANT_USERNS && !have_us)) {
			ktap_diag("adding the %s target failed: %s", c.target, strerror(errno));
			ktap_result(0, "%s", title[i]);
			continue;
		}
		if (!c.configured && default_mb < 0) {
			ktap_skip(title[i], "the unconfigured=2 limits were not given (--defaults)");
			continue;
		}
		ktap_result(run_a_case(&c), "%s", title[i]);
	}
	ktap_result(test_no_inherit(), "a new namespace with a dead one's inode number does not get "
		    "its limits");
	if (have_cg)
		target_remove("rg-cgroup");
	if (have_us)
		target_remove("rg-userns");
}

/* --- B: tenants of dead namespaces are freed ------------------------------ */

/* Slab: and Percpu: of /proc/meminfo, kB. */
static void meminfo(long *slab, long *percpu)
{
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	*slab = *percpu = -1;
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "Slab: %ld kB", slab);
		sscanf(line, "Percpu: %ld kB", percpu);
	}
	if (f)
		fclose(f);
}

/*
 * KASAN keeps freed objects in a quarantine of 1/32 of RAM, counted in Slab,
 * and releases them in 1 MiB batches. Filling it with unrelated objects
 * before each measurement puts it in the same state both times, so that what
 * remains is what the run kept, give or take the batches in flight. The
 * objects: poll(2) of 2^20 fds copies them into 4 KiB kmalloc chunks, 8 MiB
 * per call. Reclaimable caches are dropped too.
 */
static void settle_slab(void)
{
	const long nfds = 1 << 20;
	struct rlimit old, big = { nfds, nfds };
	struct pollfd *pfd = malloc(nfds * sizeof(*pfd));
	long total_kb = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "MemTotal: %ld kB", &total_kb);
	if (f)
		fclose(f);
	if (pfd && !getrlimit(RLIMIT_NOFILE, &old) && !setrlimit(RLIMIT_NOFILE, &big)) {
		for (long i = 0; i < nfds; i++)
			pfd[i] = (struct pollfd){ .fd = -1 };
		/* 1.5 times the quarantine: 1/32 of RAM. */
		for (long i = 0; i < total_kb * 1024 / 32 * 3 / 2 / (nfds * 8); i++)
			if (poll(pfd, nfds, 0) < 0)
				break;
		setrlimit(RLIMIT_NOFILE, &old);
	}
	free(pfd);
	sync();
	write_file("/proc/sys/vm/drop_caches", "3");
	usleep(200000);
}

static int churn_child(void *unused)
{
	struct realgpu_alloc a = { .size = 4096 };
	int fd = open(proxy_path, O_RDWR);

	(void)unused;
	if (fd < 0)
		return 1;
	return ioctl(fd, REALGPU_IOCTL_ALLOC, &a) ? 2 : 0;
}

/*
 * @n namespaces, each a process that opens the proxy, allocates and exits
 * (closing the file). vfork-style (the child borrows this process's memory
 * until it exits), so that an iteration costs a namespace, not a copy of an
 * address space.
 */
static long churn(long n)
{
	static char stack[64 * 1024] __attribute__((aligned(16)));
	long failed = 0;

	for (long i = 0; i < n; i++) {
		pid_t pid = clone(churn_child, stack + sizeof(stack),
				  CLONE_VM | CLONE_VFORK | CLONE_NEWPID | SIGCHLD, NULL);

		if (pid < 0 || wait_status(pid) != 0)
			failed++;
	}
	return failed;
}

/*
 * churn() in @jobs forked workers at once (their waits for RCU grace periods
 * at close overlap); the number of iterations that failed.
 */
static long churn_parallel(long n, long jobs)
{
	long failed = 0;
	pid_t pids[64];

	if (jobs <= 1)
		return churn(n);
	if (jobs > 64)
		jobs = 64;
	for (long j = 0; j < jobs; j++) {
		long share = n / jobs + (j < n % jobs);

		pids[j] = fork();
		if (pids[j] == 0)
			_exit(churn(share) ? 1 : 0);
		if (pids[j] < 0)
			failed += share;
	}
	for (long j = 0; j < jobs; j++)
		if (pids[j] > 0 && wait_status(pids[j]) != 0)
			failed++;
	return failed;
}

#define B_SLAB_TOLERANCE_KB 4096	/* KASAN quarantine batches in flight (above) */
#define B_PERCPU_TOLERANCE_KB 256

static void group_b(void)
{
	long tenants0, tenants1, slab0, slab1, pcpu0, pcpu1, failed;
	long warm = churn_n < 50 ? churn_n : 50;
	uint64_t vram0 = vram_used();
	double t0, t1;
	int ok;

	tenants0 = usage_list();
	failed = churn(warm);
	settle_slab();
	meminfo(&slab0, &pcpu0);
	t0 = now_s();
	failed += churn_parallel(churn_n, churn_jobs);
	t1 = now_s();
	tenants1 = usage_list();
	for (int i = 0; i < 100 && tenants1 != tenants0; i++) {
		usleep(100000);
		tenants1 = usage_list();
	}
	settle_slab();
	meminfo(&slab1, &pcpu1);
	ktap_diag("churn: %ld namespaces in %.1f s (%.2f ms each), %ld failed", churn_n,
		  t1 - t0, (t1 - t0) * 1000 / (churn_n ? churn_n : 1), failed);
	ktap_diag("tenants in USAGE_LIST: %ld before, %ld after %ld+%ld namespaces", tenants0,
		  tenants1, warm, churn_n);
	ktap_diag("Slab: %ld kB -> %ld kB (%+ld kB, tolerance %d kB); Percpu: %ld kB -> %ld kB "
		  "(%+ld kB, tolerance %d kB)", slab0, slab1, slab1 - slab0, B_SLAB_TOLERANCE_KB,
		  pcpu0, pcpu1, pcpu1 - pcpu0, B_PERCPU_TOLERANCE_KB);
	ok = failed == 0 && tenants0 >= 0 && tenants1 == tenants0 && vram_used() == vram0;
	ktap_result(ok, "%ld namespaces that each opened the proxy leave the number of tenants as it was",
		    churn_n);
	ok = slab0 >= 0 && pcpu0 >= 0 && slab1 - slab0 <= B_SLAB_TOLERANCE_KB &&
	     pcpu1 - pcpu0 <= B_PERCPU_TOLERANCE_KB;
	ktap_result(ok, "%ld namespaces leave Slab and Percpu where they were", churn_n);
}

/* --- C: no real-device fd reaches user space ------------------------------ */

/* Marks the fds of this process in @set (up to @max); returns how many. */
static int fd_set_of(char *set, int max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0, self = d ? dirfd(d) : -1;

	memset(set, 0, max);
	while (d && (e = readdir(d))) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] == '.' || fd == self || fd >= max)
			continue;
		set[fd] = 1;
		n++;
	}
	if (d)
		closedir(d);
	return n;
}

static int lowest_free_fd(void)
{
	int fd = fcntl(0, F_DUPFD, 0);

	if (fd >= 0)
		close(fd);
	return fd;
}

static int test_attach_proxy_fd(void)
{
	struct realgpu_attach_peer ap = { 0 };
	char before[1024], after[1024];
	int p = open(proxy_path, O_RDWR), q = open(proxy_path, O_RDWR), low0, low1, n0, n1;
	long r;
	int e;

	TEST_BEGIN();
	EXPECT(p >= 0 && q >= 0);
	n0 = fd_set_of(before, sizeof(before));
	low0 = lowest_free_fd();
	ap.fd = q;
	errno = 0;
	r = ioctl(p, REALGPU_IOCTL_ATTACH_PEER, &ap);
	e = errno;
	n1 = fd_set_of(after, sizeof(after));
	low1 = lowest_free_fd();
	if (r != -1 || e != EOPNOTSUPP)
		ktap_diag("ATTACH_PEER(proxy fd) through the proxy: %ld, %s; peer_ctx_id %llu",
			  r, strerror(e), (unsigned long long)ap.peer_ctx_id);
	EXPECT(r == -1 && e == EOPNOTSUPP);
	EXPECT_EQ(ap.fd, q);
	EXPECT_EQ(ap.peer_ctx_id, 0);
	EXPECT_EQ(n1, n0);
	EXPECT(memcmp(before, after, sizeof(before)) == 0);
	EXPECT_EQ(low1, low0);
	/* The proxy file itself as its own peer. */
	ap.fd = p;
	EXPECT_ERRNO(ioctl(p, REALGPU_IOCTL_ATTACH_PEER, &ap), EOPNOTSUPP);
	close(p);
	close(q);
	return ktap_verdict();
}

/* ATTACH_PEER of @fd through @dev; returns 0 or -errno. */
static long attach(int dev, int fd)
{
	struct realgpu_attach_peer ap = { .fd = fd };

	return ioctl(dev, REALGPU_IOCTL_ATTACH_PEER, &ap) ? -errno : 0;
}

static int test_attach_forwarded(void)
{
	int d = open(real_path, O_RDWR), p = open(proxy_path, O_RDWR);
	int null_fd = open("/dev/null", O_RDWR), zero_fd = open("/dev/zero", O_RDONLY);
	int closed = open("/dev/null", O_RDONLY);
	struct { const char *what; int fd; } cases[] = {
		{ "/dev/null", null_fd }, { "/dev/zero", zero_fd },
		{ "a closed fd", closed }, { "fd -1", -1 },
	};

	TEST_BEGIN();
	EXPECT(d >= 0 && p >= 0);
	close(closed);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long rd = attach(d, cases[i].fd), rp = attach(p, cases[i].fd);

		if (rd != rp || rd == 0)
			ktap_diag("ATTACH_PEER(%s): direct %ld, proxy %ld", cases[i].what, rd, rp);
		EXPECT(rd != 0);
		EXPECT_EQ(rp, rd);
	}
	{
		long rd = ioctl(d, REALGPU_IOCTL_ATTACH_PEER, NULL) ? -errno : 0;
		long rp = ioctl(p, REALGPU_IOCTL_ATTACH_PEER, NULL) ? -errno : 0;

		EXPECT_EQ(rp, rd);
	}
	close(d);
	close(p);
	close(null_fd);
	close(zero_fd);
	return ktap_verdict();
}

static volatile int hunt_stop;
static volatile struct realgpu_attach_peer hunt_arg;	/* the ioctl's argument */
static long sightings, hunt_rounds;
static int captured[4], ncaptured;
static char sighting_how[128];

static void sighted(int fd, const char *how)
{
	if (__atomic_fetch_add(&sightings, 1, __ATOMIC_RELAXED) == 0)
		snprintf(sighting_how, sizeof(sighting_how), "fd %d: %s", fd, how);
	if (ncaptured < 4) {
		int c = fcntl(fd, F_DUPFD_CLOEXEC, 900);

		if (c >= 0)
			captured[ncaptured++] = c;
	}
}

static void hunt_fd(int fd)
{
	struct stat st;

	if (!fstat(fd, &st) && S_ISCHR(st.st_mode) && st.st_rdev == real_rdev)
		sighted(fd, "fstat gives the real device's number");
}

/* Hunts real-device fds: the argument's fd field, low fds, and /proc/self/fd. */
static void *hunter(void *unused)
{
	char path[64], link[256];

	(void)unused;
	while (!hunt_stop) {
		int fd = hunt_arg.fd;

		if (fd >= 0)
			hunt_fd(fd);
		for (fd = 0; fd < 32; fd++)
			hunt_fd(fd);
		if (++hunt_rounds % 16 == 0) {
			DIR *d = opendir("/proc/self/fd");
			struct dirent *e;

			while (d && (e = readdir(d))) {
				int nr = atoi(e->d_name);
				ssize_t n;

				if (e->d_name[0] == '.' || nr >= 900)
					continue;
				snprintf(path, sizeof(path), "/proc/self/fd/%d", nr);
				n = readlink(path, link, sizeof(link) - 1);
				if (n <= 0)
					continue;
				link[n] = 0;
				if (!strcmp(link, real_path))
					sighted(nr, "/proc/self/fd names the real node");
				hunt_fd(nr);
			}
			if (d)
				closedir(d);
		}
	}
	return NULL;
}

static int test_hunter(void)
{
	int p = open(proxy_path, O_RDWR), q = open(proxy_path, O_RDWR);
	long ok = 0, eopnotsupp = 0, other = 0;
	pthread_t th;
	double t0;

	TEST_BEGIN();
	EXPECT(p >= 0 && q >= 0);
	hunt_arg.fd = -1;
	pthread_create(&th, NULL, hunter, NULL);
	t0 = now_s();
	for (long i = 0; i < peer_n; i++) {
		hunt_arg.fd = q;
		hunt_arg.peer_ctx_id = 0;
		if (!ioctl(p, REALGPU_IOCTL_ATTACH_PEER, (void *)&hunt_arg))
			ok++;
		else if (errno == EOPNOTSUPP)
			eopnotsupp++;
		else
			other++;
	}
	hunt_stop = 1;
	pthread_join(th, NULL);
	ktap_diag("%ld ATTACH_PEER ioctls in %.1f s: %ld succeeded, %ld EOPNOTSUPP, %ld other; "
		  "the hunter made %ld rounds and saw %ld real-device fds%s%s", peer_n,
		  now_s() - t0, ok, eopnotsupp, other, hunt_rounds, sightings,
		  sightings ? ", first " : "", sighting_how);
	for (int i = 0; i < ncaptured; i++) {
		struct realgpu_info info = { 0 };
		long r = ioctl(captured[i], REALGPU_IOCTL_GET_INFO, &info);

		ktap_diag("captured fd %d: GET_INFO on it %s (ctx %llu): the real driver, "
			  "outside every limit", captured[i], r ? strerror(errno) : "works",
			  (unsigned long long)info.ctx_id);
		close(captured[i]);
	}
	EXPECT_EQ(sightings, 0);
	close(p);
	close(q);
	return ktap_verdict();
}

static void group_c(void)
{
	ktap_result(test_attach_proxy_fd(),
		    "ATTACH_PEER with a proxy fd: EOPNOTSUPP, nothing installed in the fd table");
	ktap_result(test_attach_forwarded(),
		    "ATTACH_PEER with other fds is forwarded: the driver's own errno");
	ktap_result(test_hunter(), "a thread hunting real-device fds during %ld ATTACH_PEER ioctls finds none",
		    peer_n);
}

/* --- D: removal revokes ---------------------------------------------------- */

#define D_BIND WORK "/bind-realgpu"
#define D_FRESH WORK "/fresh-realgpu"

struct d_report {
	long info, alloc;	/* 0 or -errno, on the file opened before the removal */
	int e_bind, e_fresh, e_path, e_procfd;	/* errno of each open, 0 if it opened */
};

static int open_errno(const char *path)
{
	int fd = open(path, O_RDWR);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static void d_tenant(int go, int rep)
{
	struct d_report r = { 0 };
	struct realgpu_info info;
	struct realgpu_alloc a;
	char ch, path[64];
	int fd;

	if (read(go, &ch, 1) != 1)
		_exit(3);
	fd = open(proxy_path, O_RDWR);		/* through the inode the bind mount will share */
	if (fd < 0 || gpu_alloc(fd, 64 * KiB, &a))
		_exit(4);
	if (write(rep, "r", 1) != 1 || read(go, &ch, 1) != 1)	/* the target is removed */
		_exit(5);
	r.info = ioctl(fd, REALGPU_IOCTL_GET_INFO, &info) ? -errno : 0;
	r.alloc = gpu_alloc(fd, 64 * KiB, &a) ? -errno : 0;
	r.e_bind = open_errno(D_BIND);
	r.e_fresh = open_errno(D_FRESH);
	r.e_path = open_errno(proxy_path);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r.e_procfd = open_errno(path);
	if (write(rep, &r, sizeof(r)) != sizeof(r) || read(go, &ch, 1) != 1)
		_exit(6);
	close(fd);
	_exit(0);
}

static void group_d(void)
{
	struct d_report r = { 0 };
	int go[2], rep[2], fd, mounted = 0, e_after;
	uint64_t id = 0, base = vram_used(), held;
	const struct mockgpu_usage *u;
	char ch;
	pid_t pid;
	int ok_bind, ok_fresh, ok_open, ok_charge;

	if (pipe2(go, O_CLOEXEC) || pipe2(rep, O_CLOEXEC))
		return;
	pid = spawn(CLONE_NEWPID);
	if (pid == 0) {
		close(go[1]);
		close(rep[0]);
		d_tenant(go[0], rep[1]);
	}
	close(go[0]);
	close(rep[1]);
	TEST_BEGIN();
	EXPECT_OK(ns_id(pid, "pid", &id));
	EXPECT_OK(limit_set(target, MOCKGPU_TENANT_PIDNS, id, 1 * MiB, 4));
	EXPECT_EQ(write(go[1], "g", 1), 1);
	EXPECT_EQ(read(rep[0], &ch, 1), 1);		/* the tenant has a file open */
	/* A container's view of the proxy, made before the removal. */
	fd = open(D_BIND, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	mounted = !mount(proxy_path, D_BIND, NULL, MS_BIND, NULL);
	if (!mounted)
		ktap_diag("mount --bind %s %s: %s", proxy_path, D_BIND, strerror(errno));
	EXPECT(mounted);
	EXPECT_EQ(open_errno(D_BIND), 0);		/* it works before the removal */
	unlink(D_FRESH);
	EXPECT_OK(mknod(D_FRESH, S_IFCHR | 0666, proxy_rdev));
	EXPECT_OK(target_remove(target));
	EXPECT_EQ(write(go[1], "x", 1), 1);
	EXPECT_EQ(read(rep[0], &r, sizeof(r)), (long)sizeof(r));
	held = vram_used() - base;
	ok_open = ktap_cur_ok && r.info == 0 && r.alloc == 0 && held == 128 * KiB;
	ktap_diag("after the removal: the open file's GET_INFO %ld, ALLOC %ld, device holds %llu KiB; "
		  "opens: bind mount %s, new node %s, old path %s, /proc/self/fd %s", r.info, r.alloc,
		  (unsigned long long)held / KiB, strerror(r.e_bind), strerror(r.e_fresh),
		  strerror(r.e_path), strerror(r.e_procfd));
	ok_bind = r.e_bind == ENODEV && r.e_procfd == ENODEV;
	/* The chrdev layer answers ENXIO for a number no cdev holds any more. */
	ok_fresh = (r.e_fresh == ENODEV || r.e_fresh == ENXIO) && r.e_path == ENOENT;
	EXPECT_EQ(write(go[1], "c", 1), 1);		/* close */
	EXPECT_EQ(wait_status(pid), 0);
	close(go[1]);
	close(rep[0]);
	EXPECT_EQ(vram_settles_to(base), base);
	u = usage_find(NULL, MOCKGPU_TENANT_PIDNS, id);
	if (u)
		ktap_diag("after close: tenant record on '%s': %llu bytes, %llu files", u->target,
			  (unsigned long long)u->memory_used, (unsigned long long)u->files_used);
	EXPECT(!u || (u->memory_used == 0 && u->files_used == 0));
	e_after = open_errno(D_BIND);
	if (e_after != ENODEV && e_after != ENXIO)
		ktap_diag("open through the bind mount after every file closed: %s", strerror(e_after));
	EXPECT(e_after == ENODEV || e_after == ENXIO);
	ok_charge = ktap_cur_ok;
	if (mounted)
		umount2(D_BIND, MNT_DETACH);
	unlink(D_BIND);
	unlink(D_FRESH);
	/* The target comes back for later tests. */
	TEST_BEGIN();
	EXPECT_OK(target_add(real_path, MOCKGPU_TENANT_PIDNS, NULL));
	EXPECT_EQ(open_errno(proxy_path), 0);
	if (!ktap_verdict())
		ktap_diag("re-adding the target failed");
	ktap_result(ok_bind, "after removal, an open through a bind mount made before it (and through "
		    "/proc/self/fd) is ENODEV");
	ktap_result(ok_fresh, "after removal, a new node of the proxy's number and the old path are refused");
	ktap_result(ok_open, "a file open at removal keeps working until closed");
	ktap_result(ok_charge && ktap_verdict(), "once closed, no charge of the removed target remains "
		    "(and the target can be added again)");
}

/* --- E: access on the proxy, the real node opened as the operator --------- */

/*
 * Opens @path as uid USER_UID (gid USER_UID, supplementary groups @groups),
 * optionally after joining the cgroup @cg; 0 if it opened and GET_INFO worked
 * (or @info is 0), else the errno.
 */
static int open_as(const char *path, int as_user, const gid_t *groups, int ngroups,
		   const char *cg, int info)
{
	pid_t pid = spawn(0);

	if (pid == 0) {
		struct realgpu_info ri;
		int fd;

		if (cg && write_file(cg, "0"))
			_exit(201);
		if (as_user && (setgroups(ngroups, groups) || setresgid(USER_UID, USER_UID, USER_UID) ||
				setresuid(USER_UID, USER_UID, USER_UID)))
			_exit(200);
		fd = open(path, O_RDWR);
		if (fd < 0)
			_exit(errno);
		if (info && ioctl(fd, REALGPU_IOCTL_GET_INFO, &ri))
			_exit(202);
		_exit(0);
	}
	return pid < 0 ? 203 : wait_status(pid);
}

static const char *open_result(int r)
{
	switch (r) {
	case 0: return "opened";
	case 200: return "setresuid failed";
	case 201: return "joining the cgroup failed";
	case 202: return "opened, but GET_INFO failed";
	case 203: return "fork failed";
	}
	return strerror(r);
}

static int same_owner_mode(const char *real, const char *proxy)
{
	struct stat r, p;

	if (stat(real, &r) || stat(proxy, &p))
		return 0;
	if (r.st_uid != p.st_uid || r.st_gid != p.st_gid || (r.st_mode & 07777) != (p.st_mode & 07777)) {
		ktap_diag("%s is %u:%u %o, %s is %u:%u %o", real, r.st_uid, r.st_gid,
			  r.st_mode & 07777, proxy, p.st_uid, p.st_gid, p.st_mode & 07777);
		return 0;
	}
	return 1;
}

/* A cgroup v2 device program that denies char device @maj:@min and allows the rest. */
static int bpf_deny_dev(unsigned maj, unsigned min)
{
	struct bpf_insn prog[] = {
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = 2, .src_reg = 1, .off = 4 },
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = 3, .src_reg = 1, .off = 8 },
		{ .code = BPF_JMP | BPF_JNE | BPF_K, .dst_reg = 2, .off = 3, .imm = (int)maj },
		{ .code = BPF_JMP | BPF_JNE | BPF_K, .dst_reg = 3, .off = 2, .imm = (int)min },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uintptr_t)prog;
	attr.insn_cnt = sizeof(prog) / sizeof(prog[0]);
	attr.license = (uintptr_t)"GPL";
	return syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
}

/* A cgroup whose device filter denies @dev; 0 on success. */
static int devcg_make(const char *path, dev_t dev)
{
	union bpf_attr attr;
	int prog, cg, r;

	prog = bpf_deny_dev(major(dev), minor(dev));
	if (prog < 0)
		return -1;
	if (cgroup_make(path, NULL) || (cg = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		close(prog);
		return -1;
	}
	memset(&attr, 0, sizeof(attr));
	attr.target_fd = cg;
	attr.attach_bpf_fd = prog;
	attr.attach_type = BPF_CGROUP_DEVICE;
	r = syscall(__NR_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr));
	close(cg);
	close(prog);
	return r;
}

static void test_devcg(void)
{
	const char *title = "device cgroup: the proxy's number is checked, the real one is not needed";
	int r_real, r_proxy, r_proxy_denied;

	if (devcg_make(CGROOT "/hostile-deny-real", real_rdev) ||
	    devcg_make(CGROOT "/hostile-deny-proxy", proxy_rdev)) {
		char why[128];

		snprintf(why, sizeof(why), "cannot attach a BPF device filter: %s", strerror(errno));
		cgroup_remove(CGROOT "/hostile-deny-real");
		cgroup_remove(CGROOT "/hostile-deny-proxy");
		ktap_skip(title, why);
		return;
	}
	TEST_BEGIN();
	r_real = open_as(real_path, 0, NULL, 0, CGROOT "/hostile-deny-real/cgroup.procs", 1);
	r_proxy = open_as(proxy_path, 0, NULL, 0, CGROOT "/hostile-deny-real/cgroup.procs", 1);
	r_proxy_denied = open_as(proxy_path, 0, NULL, 0, CGROOT "/hostile-deny-proxy/cgroup.procs", 1);
	ktap_diag("real node denied: real node %s, proxy %s; proxy denied: proxy %s",
		  open_result(r_real), open_result(r_proxy), open_result(r_proxy_denied));
	EXPECT_EQ(r_real, EPERM);	/* the filter works */
	EXPECT_EQ(r_proxy, 0);
	EXPECT_EQ(r_proxy_denied, EPERM);
	cgroup_remove(CGROOT "/hostile-deny-real");
	cgroup_remove(CGROOT "/hostile-deny-proxy");
	ktap_result(ktap_verdict(), "%s", title);
}

static void test_render(void)
{
	const char *title = "a render-group user opens the proxy of a render node; others get EACCES";
	gid_t in[] = { GPU_GID }, out[] = { GPU_GID + 1 };
	char name[MOCKGPU_NAME_MAX], proxy[128];
	struct stat st0;
	int r_in, r_out;

	if (!render_path || stat(render_path, &st0)) {
		ktap_skip(title, "no render node given (--render)");
		return;
	}
	TEST_BEGIN();
	EXPECT_OK(chown(render_path, 0, GPU_GID));
	EXPECT_OK(chmod(render_path, 0660));
	EXPECT_OK(target_add(render_path, MOCKGPU_TENANT_PIDNS, name));
	snprintf(proxy, sizeof(proxy), "/dev/mockgpu/%s", name);
	EXPECT(same_owner_mode(render_path, proxy));
	r_in = open_as(proxy, 1, in, 1, NULL, 0);
	r_out = open_as(proxy, 1, out, 1, NULL, 0);
	ktap_diag("%s root:%d 0660: a user in the group: %s; a user outside: %s", proxy, GPU_GID,
		  open_result(r_in), open_result(r_out));
	EXPECT_EQ(r_in, 0);
	EXPECT_EQ(r_out, EACCES);
	target_remove(name);
	chown(render_path, st0.st_uid, st0.st_gid);
	chmod(render_path, st0.st_mode & 07777);
	ktap_result(ktap_verdict(), "%s", title);
}

static void group_e(void)
{
	const char *real = WORK "/gpu-e", *proxy = "/dev/mockgpu/gpu-e";
	gid_t in[] = { GPU_GID }, out[] = { GPU_GID + 1 };
	int added, r_in, r_out, r_op;

	TEST_BEGIN();
	EXPECT_OK(real_node(real, 0600));
	EXPECT_OK(chown(real, 0, GPU_GID));
	EXPECT_OK(chmod(real, 0660));		/* before the target is added */
	added = !target_add(real, MOCKGPU_TENANT_PIDNS, NULL);
	if (!added)
		ktap_diag("adding %s: %s", real, strerror(errno));
	EXPECT(added);
	EXPECT(same_owner_mode(real, proxy));
	ktap_result(ktap_verdict(), "the proxy node has the real node's owner, group and mode");

	TEST_BEGIN();
	r_in = open_as(proxy, 1, in, 1, NULL, 1);
	if (r_in)
		ktap_diag("uid %d in group %d, %s root:%d 0660: %s", USER_UID, GPU_GID, proxy, GPU_GID,
			  open_result(r_in));
	EXPECT_EQ(r_in, 0);
	ktap_result(ktap_verdict(), "a user in the real node's group opens the proxy");

	TEST_BEGIN();
	r_out = open_as(proxy, 1, out, 1, NULL, 1);
	if (r_out != EACCES)
		ktap_diag("uid %d outside group %d: %s", USER_UID, GPU_GID, open_result(r_out));
	EXPECT_EQ(r_out, EACCES);
	ktap_result(ktap_verdict(), "a user outside the real node's group gets EACCES on the proxy");

	/* The real node is opened with the credentials of whoever added the target. */
	TEST_BEGIN();
	EXPECT_OK(chown(real, 0, 0));
	EXPECT_OK(chmod(real, 0600));
	r_op = open_as(proxy, 1, in, 1, NULL, 1);
	if (r_op)
		ktap_diag("real node now root:root 0600, a group user on the proxy: %s", open_result(r_op));
	EXPECT_EQ(r_op, 0);
	ktap_result(ktap_verdict(), "the real node is opened as the operator: a real node made "
		    "root-only after the add does not refuse the proxy's users");
	if (added)
		target_remove("gpu-e");
	unlink(real);

	test_devcg();
	test_render();
}

/* --- F: a mapping names the proxy ------------------------------------------ */

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

static void group_f(void)
{
	int fd = open(proxy_path, O_RDWR), mf;
	char name[256], path[128], link[256] = "";
	struct realgpu_alloc a;
	struct stat st;
	void *p = MAP_FAILED;
	ssize_t n;

	TEST_BEGIN();
	EXPECT(fd >= 0);
	EXPECT_OK(gpu_alloc(fd, 8192, &a));
	if (ktap_cur_ok)
		p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, a.mmap_offset);
	EXPECT(p != MAP_FAILED);
	maps_name(p, name, sizeof(name));
	if (strcmp(name, proxy_path))
		ktap_diag("/proc/self/maps names the mapping '%s'", name);
	EXPECT(strcmp(name, proxy_path) == 0);
	ktap_result(ktap_verdict(), "/proc/self/maps names the proxy for a proxy mapping");

	TEST_BEGIN();
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)p,
		 (unsigned long)p + 8192);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0)
		link[n] = 0;
	EXPECT(strcmp(link, real_path) != 0);
	if (!stat(path, &st)) {
		if (st.st_rdev != proxy_rdev)
			ktap_diag("stat %s (-> %s): %u:%u, the proxy is %u:%u, the real node %u:%u", path,
				  link, major(st.st_rdev), minor(st.st_rdev), major(proxy_rdev),
				  minor(proxy_rdev), major(real_rdev), minor(real_rdev));
		EXPECT(st.st_rdev == proxy_rdev);
	}
	mf = open(path, O_RDWR);
	if (mf >= 0) {
		EXPECT_OK(fstat(mf, &st));
		if (st.st_rdev == real_rdev) {
			struct realgpu_info info = { 0 };

			ktap_diag("map_files opened the real device (-> %s); GET_INFO on it: %s", link,
				  ioctl(mf, REALGPU_IOCTL_GET_INFO, &info) ? strerror(errno) : "works");
		}
		EXPECT(st.st_rdev == proxy_rdev);
		close(mf);
	} else {
		ktap_diag("open %s: %s", path, strerror(errno));
	}
	ktap_result(ktap_verdict(), "map_files of a proxy mapping never opens the real device");
	if (p != MAP_FAILED)
		munmap(p, 8192);
	if (fd >= 0)
		close(fd);
}

/* --- main -------------------------------------------------------------------- */

static const struct test_group {
	char id;
	int tests;
	void (*run)(void);
} groups[] = {
	{ 'B', 2, group_b },	/* first: before other tests leave tenants behind */
	{ 'C', 3, group_c },
	{ 'F', 2, group_f },
	{ 'A', 6, group_a },
	{ 'E', 6, group_e },
	{ 'D', 4, group_d },	/* last: removes and re-adds the target */
};

static void usage(void)
{
	fprintf(stderr, "usage: hostile [--churn N] [--jobs J] [--peer N] [--defaults MB:FILES] [--render NODE] "
		"[--only GROUPS] [REAL PROXY]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *only = "ABCDEF";
	int plan = 0, pos = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--churn") && i + 1 < argc)
			churn_n = atol(argv[++i]);
		else if (!strcmp(argv[i], "--jobs") && i + 1 < argc)
			churn_jobs = atol(argv[++i]);
		else if (!strcmp(argv[i], "--peer") && i + 1 < argc)
			peer_n = atol(argv[++i]);
		else if (!strcmp(argv[i], "--defaults") && i + 1 < argc)
			sscanf(argv[++i], "%ld:%ld", &default_mb, &default_files);
		else if (!strcmp(argv[i], "--render") && i + 1 < argc)
			render_path = argv[++i];
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else if (argv[i][0] == '-')
			usage();
		else if (pos++ == 0)
			real_path = argv[i];
		else
			proxy_path = argv[i];
	}
	snprintf(target, sizeof(target), "%s", strrchr(proxy_path, '/') + 1);
	signal(SIGPIPE, SIG_IGN);	/* a tenant that died is reported, not fatal */
	mkdir(WORK, 0755);
	real_rdev = rdev_of(real_path);
	proxy_rdev = rdev_of(proxy_path);
	for (unsigned i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (strchr(only, groups[i].id))
			plan += groups[i].tests;
	ktap_header(plan);
	if (!real_rdev || !proxy_rdev) {
		printf("Bail out! %s or %s is missing\n", real_path, proxy_path);
		return 1;
	}
	ktap_diag("real node %s %u:%u, proxy %s %u:%u", real_path, major(real_rdev),
		  minor(real_rdev), proxy_path, major(proxy_rdev), minor(proxy_rdev));
	for (unsigned i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (strchr(only, groups[i].id)) {
			ktap_diag("group %c", groups[i].id);
			groups[i].run();
		}
	return ktap_finish();
}
