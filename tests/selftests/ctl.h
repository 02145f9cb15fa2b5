/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest tests' one call into mockgpu's control node: one ioctl on a
 * fresh fd of /dev/mockgpu-control, errno kept.
 */
#ifndef MOCKGPU_TEST_CTL_H
#define MOCKGPU_TEST_CTL_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "mockgpu.h"

static inline int ctl(unsigned long cmd, void *req)
{
	int fd = open("/dev/mockgpu-control", O_RDWR | O_CLOEXEC);
	int r, e;

	if (fd < 0)
		return -1;
	r = ioctl(fd, cmd, req);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

/* A tenant's usage record on a target into @out (zeroed without a record).
 * 0, or -1 if USAGE_LIST fails. */
static inline int ctl_usage_of(const char *target, uint32_t kind, uint64_t id,
			       struct mockgpu_usage *out)
{
	static struct mockgpu_usage u[64];
	struct mockgpu_usage_list req = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(req) },
					  .capacity = 64, .entries = (uintptr_t)u };

	memset(out, 0, sizeof(*out));
	if (ctl(MOCKGPU_IOCTL_USAGE_LIST, &req))
		return -1;
	for (unsigned int i = 0; i < req.count && i < 64; i++)
		if (u[i].tenant.kind == kind && u[i].tenant.id == id && !strcmp(u[i].target, target))
			*out = u[i];
	return 0;
}

/* The memory charged to a tenant on a target: 0 without a record,
 * UINT64_MAX if USAGE_LIST fails. */
static inline uint64_t ctl_memory_used(const char *target, uint32_t kind, uint64_t id)
{
	struct mockgpu_usage u;

	return ctl_usage_of(target, kind, id, &u) ? UINT64_MAX : u.memory_used;
}

/* The open files charged to a tenant on a target; UINT64_MAX on failure. */
static inline uint64_t ctl_files_used(const char *target, uint32_t kind, uint64_t id)
{
	struct mockgpu_usage u;

	return ctl_usage_of(target, kind, id, &u) ? UINT64_MAX : u.files_used;
}

/* A LIMIT_* request for a tenant on a target. */
static inline struct mockgpu_limit ctl_limit_req(const char *target, uint32_t kind, uint64_t id,
						 uint64_t memory, uint64_t files)
{
	struct mockgpu_limit l = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(l) } };

	snprintf(l.target, sizeof(l.target), "%s", target);
	l.tenant.kind = kind;
	l.tenant.id = id;
	l.limits.memory = memory;
	l.limits.files = files;
	l.limits.compute_pct = 100;
	return l;
}

/* Sets a tenant's limits. 0, or -1 with errno. */
static inline int ctl_limit_set(const char *target, uint32_t kind, uint64_t id,
				uint64_t memory, uint64_t files)
{
	struct mockgpu_limit l = ctl_limit_req(target, kind, id, memory, files);

	return ctl(MOCKGPU_IOCTL_LIMIT_SET, &l);
}

/* Writes @s to the file at @path (a cgroup file). 0, or -1 with errno. */
static inline int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -1;
}

/* The cgroup @cg's dmem.current in the region of @target ("mockgpu/<target>");
 * -1 if absent. */
static inline int64_t dmem_current_of(const char *cg, const char *target)
{
	char path[256], line[256], want[128];
	int64_t v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/dmem.current", cg);
	snprintf(want, sizeof(want), "mockgpu/%s %%" SCNd64, target);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, want, &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/*
 * Adds the node at @path as a target whose tenants are cgroups (its name
 * into @name, MOCKGPU_NAME_MAX bytes), moves the caller into the cgroup
 * @cg (created if need be; its id into @cg_id) and limits that tenant to
 * @memory bytes: the setup of the tests that are their own tenant.
 * 0, or -1 with a "Bail out!" line printed.
 */
static inline int ctl_tenant_setup(const char *path, char *name, const char *cg,
				   uint64_t *cg_id, uint64_t memory)
{
	struct mockgpu_target_add add = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(add) } };
	struct mockgpu_limit l = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(l) } };
	char procs[256], pid[32];
	struct stat st;
	int fd, ok;

	snprintf(add.path, sizeof(add.path), "%s", path);
	add.tenant_kind = MOCKGPU_TENANT_CGROUP;
	if (ctl(MOCKGPU_IOCTL_TARGET_ADD, &add)) {
		printf("Bail out! TARGET_ADD %s: %s\n", path, strerror(errno));
		return -1;
	}
	snprintf(name, MOCKGPU_NAME_MAX, "%s", add.name);
	if ((mkdir(cg, 0755) && errno != EEXIST) || stat(cg, &st)) {
		printf("Bail out! %s: %s\n", cg, strerror(errno));
		return -1;
	}
	*cg_id = st.st_ino;
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d", getpid());
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	ok = fd >= 0 && write(fd, pid, strlen(pid)) == (ssize_t)strlen(pid);
	if (fd >= 0)
		close(fd);
	if (!ok) {
		printf("Bail out! joining %s: %s\n", cg, strerror(errno));
		return -1;
	}
	snprintf(l.target, sizeof(l.target), "%s", name);
	l.tenant.kind = MOCKGPU_TENANT_CGROUP;
	l.tenant.id = *cg_id;
	l.limits.memory = memory;
	l.limits.files = 1000;
	l.limits.compute_pct = 100;
	if (ctl(MOCKGPU_IOCTL_LIMIT_SET, &l)) {
		printf("Bail out! LIMIT_SET: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

#endif /* MOCKGPU_TEST_CTL_H */
