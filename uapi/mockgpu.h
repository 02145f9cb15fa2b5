/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * mockgpu control ABI: ioctls on /dev/mockgpu/control.
 *
 * Every request starts with struct mockgpu_hdr: the caller's ABI version and
 * the size of the whole request struct. A request with another version is
 * refused with EPROTO; one whose size differs from the struct's is EINVAL.
 * Reserved fields and padding must be zero (EINVAL). Changing anything
 * requires CAP_SYS_ADMIN in the initial user namespace (EPERM otherwise).
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

/*
 * ADD_TARGET: proxy the char device at @path (resolved in the caller's mount
 * namespace, once, now). The proxy node is /dev/mockgpu/<name>, where <name>
 * is the path's last component (e.g. renderD128), returned in @name.
 * ENOENT: no such path; ENOTBLK..: see README "Targets" for every errno.
 */
struct mockgpu_target_add {
	struct mockgpu_hdr hdr;
	char path[MOCKGPU_PATH_MAX];	/* in, NUL-terminated */
	char name[MOCKGPU_NAME_MAX];	/* out */
};

/* REMOVE_TARGET: remove the proxy named @name; open files keep working. */
struct mockgpu_target_remove {
	struct mockgpu_hdr hdr;
	char name[MOCKGPU_NAME_MAX];	/* in, NUL-terminated */
};

#define MOCKGPU_IOCTL_TARGET_ADD	_IOWR(MOCKGPU_IOC_MAGIC, 0x00, struct mockgpu_target_add)
#define MOCKGPU_IOCTL_TARGET_REMOVE	_IOW(MOCKGPU_IOC_MAGIC, 0x01, struct mockgpu_target_remove)

#endif /* _UAPI_MOCKGPU_H */
