/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest tests' one call into mockgpu's control node: one ioctl on a
 * fresh fd of /dev/mockgpu-control, errno kept.
 */
#ifndef MOCKGPU_TEST_CTL_H
#define MOCKGPU_TEST_CTL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
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

/* The memory charged to a tenant on a target: 0 without a record,
 * UINT64_MAX if USAGE_LIST fails. */
static inline uint64_t ctl_memory_used(const char *target, uint32_t kind, uint64_t id)
{
	static struct mockgpu_usage u[64];
	struct mockgpu_usage_list req = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(req) },
					  .capacity = 64, .entries = (uintptr_t)u };

	if (ctl(MOCKGPU_IOCTL_USAGE_LIST, &req))
		return UINT64_MAX;
	for (unsigned int i = 0; i < req.count && i < 64; i++)
		if (u[i].tenant.kind == kind && u[i].tenant.id == id && !strcmp(u[i].target, target))
			return u[i].memory_used;
	return 0;
}

#endif /* MOCKGPU_TEST_CTL_H */
