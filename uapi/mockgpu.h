/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * mockgpu control ABI: ioctls on /dev/mockgpu/control.
 *
 * Every request starts with struct mockgpu_hdr: the caller's ABI version and
 * the size of the whole request struct. A request with another version is
 * refused with EPROTO; one whose size differs from the struct's is EINVAL.
 * Reserved fields and padding must be zero (EINVAL). Changing anything
 * (TARGET_*, LIMIT_SET, LIMIT_CLEAR) requires CAP_SYS_ADMIN in the initial
 * user namespace (EPERM otherwise, also for root in a container); reading
 * (LIMIT_GET, USAGE_LIST) needs only access to the node (0600, root).
 * Unknown target or tenant: ENOENT. Absurd values (compute_pct 0 or > 100,
 * unknown tenant kind): EINVAL.
 */
#ifndef _UAPI_MOCKGPU_H
#define _UAPI_MOCKGPU_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define MOCKGPU_ABI_VERSION 1
#define MOCKGPU_IOC_MAGIC 0xB8
#define MOCKGPU_PATH_MAX 256
#define MOCKGPU_NAME_MAX 64

struct mockgpu_hdr {
	__u32 version;		/* MOCKGPU_ABI_VERSION */
	__u32 size;		/* sizeof the whole request */
};

/* What a tenant is: the namespace (or cgroup) of the process that opens. */
enum mockgpu_tenant_kind {
	MOCKGPU_TENANT_PIDNS = 0,	/* pid namespace inode (the default) */
	MOCKGPU_TENANT_CGROUP = 1,	/* cgroup v2 id (inode of its directory) */
	MOCKGPU_TENANT_USERNS = 2,	/* user namespace inode */
};

/* "No limit" for memory and files; compute_pct 100 is no limit. */
#define MOCKGPU_UNLIMITED (~0ULL)

/*
 * ADD_TARGET: proxy the char device at @path (resolved in the caller's mount
 * namespace, once, now). The proxy node is /dev/mockgpu/<name>, where <name>
 * is the path's last component (e.g. renderD128), returned in @name. Files
 * of the proxy are charged to tenants of @tenant_kind.
 * See README "Targets" for every errno.
 */
struct mockgpu_target_add {
	struct mockgpu_hdr hdr;
	char path[MOCKGPU_PATH_MAX];	/* in, NUL-terminated */
	char name[MOCKGPU_NAME_MAX];	/* out */
	__u32 tenant_kind;		/* in: enum mockgpu_tenant_kind */
	__u32 pad;
};

/* REMOVE_TARGET: remove the proxy named @name; open files keep working. */
struct mockgpu_target_remove {
	struct mockgpu_hdr hdr;
	char name[MOCKGPU_NAME_MAX];	/* in, NUL-terminated */
};

struct mockgpu_tenant {
	__u32 kind;			/* enum mockgpu_tenant_kind */
	__u32 pad;
	__u64 id;			/* namespace inode or cgroup id */
};

struct mockgpu_limits {
	__u64 memory;			/* bytes of device memory, or MOCKGPU_UNLIMITED */
	__u64 files;			/* open proxy files, or MOCKGPU_UNLIMITED */
	__u32 compute_pct;		/* share of each compute period, 1..100 (100: none) */
	__u32 pad;
};

/*
 * LIMIT_SET / LIMIT_GET / LIMIT_CLEAR: the limits of @tenant on @target.
 * SET applies at once to open files; a limit below the usage refuses new
 * charges. GET returns the limits in force (configured or default) and
 * ENOENT for a tenant the target has never seen and no one configured.
 * CLEAR returns the tenant to the defaults.
 */
struct mockgpu_limit {
	struct mockgpu_hdr hdr;
	char target[MOCKGPU_NAME_MAX];	/* in: target name */
	struct mockgpu_tenant tenant;	/* in */
	struct mockgpu_limits limits;	/* in (SET) / out (GET) */
};

/* One tenant's usage on one target. */
struct mockgpu_usage {
	char target[MOCKGPU_NAME_MAX];
	struct mockgpu_tenant tenant;
	struct mockgpu_limits limits;
	__u64 memory_used;		/* bytes */
	__u64 files_used;
	__u64 compute_used_us;		/* declared cost admitted so far */
	__u64 refused_memory;		/* charges refused, by kind */
	__u64 refused_files;
	__u64 refused_compute;		/* jobs that had to wait or got EAGAIN */
	__u64 refused_ioctls;		/* ioctls the target's policy refused */
	__u32 configured;		/* 1 if limits were set for this tenant */
	__u32 pad;
};

/*
 * USAGE_LIST: copies up to @capacity records to @entries (a user pointer to
 * struct mockgpu_usage[capacity]) and sets @count to the number of tenants
 * (which may exceed @capacity: call again with more room).
 */
struct mockgpu_usage_list {
	struct mockgpu_hdr hdr;
	__u32 capacity;			/* in */
	__u32 count;			/* out */
	__u64 entries;			/* in: user pointer */
};

/*
 * POLICY_SET: which ioctls a target lets through. ALLOW_ALL (the default)
 * forwards every ioctl; ALLOWLIST forwards only the @count numbers in @cmds,
 * and refuses any other with EPERM, counted as a refusal of the caller's
 * tenant. Applies at once to open files.
 */
#define MOCKGPU_POLICY_ALLOW_ALL	0
#define MOCKGPU_POLICY_ALLOWLIST	1
#define MOCKGPU_POLICY_MAX		64
struct mockgpu_policy {
	struct mockgpu_hdr hdr;
	char target[MOCKGPU_NAME_MAX];	/* in */
	__u32 mode;			/* MOCKGPU_POLICY_* */
	__u32 count;			/* <= MOCKGPU_POLICY_MAX */
	__u32 cmds[MOCKGPU_POLICY_MAX];	/* ioctl numbers */
};

#define MOCKGPU_IOCTL_TARGET_ADD	_IOWR(MOCKGPU_IOC_MAGIC, 0x00, struct mockgpu_target_add)
#define MOCKGPU_IOCTL_TARGET_REMOVE	_IOW(MOCKGPU_IOC_MAGIC, 0x01, struct mockgpu_target_remove)
#define MOCKGPU_IOCTL_LIMIT_SET		_IOW(MOCKGPU_IOC_MAGIC, 0x02, struct mockgpu_limit)
#define MOCKGPU_IOCTL_LIMIT_GET		_IOWR(MOCKGPU_IOC_MAGIC, 0x03, struct mockgpu_limit)
#define MOCKGPU_IOCTL_LIMIT_CLEAR	_IOW(MOCKGPU_IOC_MAGIC, 0x04, struct mockgpu_limit)
#define MOCKGPU_IOCTL_USAGE_LIST	_IOWR(MOCKGPU_IOC_MAGIC, 0x05, struct mockgpu_usage_list)
#define MOCKGPU_IOCTL_POLICY_SET	_IOW(MOCKGPU_IOC_MAGIC, 0x06, struct mockgpu_policy)

#endif /* _UAPI_MOCKGPU_H */
