/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest tests' one call into mockgpu's control node: one ioctl on a
 * fresh fd of /dev/mockgpu-control, errno kept.
 */
#ifndef MOCKGPU_TEST_CTL_H
#define MOCKGPU_TEST_CTL_H

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

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

#endif /* MOCKGPU_TEST_CTL_H */
