// SPDX-License-Identifier: GPL-2.0
/*
 * cuse_realgpu: the user-space alternative to mockgpu, for the benchmark. A
 * CUSE device /dev/cuse-realgpu whose opens open /dev/realgpu and whose
 * ioctls (restricted: the kernel copies _IOC_SIZE bytes in and out) are
 * forwarded to it. CUSE has no mmap.
 *
 *   cuse_realgpu -f &        (foreground; the device appears in /dev)
 */
#define FUSE_USE_VERSION 31
#include <cuse_lowlevel.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void cg_open(fuse_req_t req, struct fuse_file_info *fi)
{
	int fd = open("/dev/realgpu", O_RDWR);

	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = fd;
	fi->nonseekable = 1;
	fuse_reply_open(req, fi);
}

static void cg_release(fuse_req_t req, struct fuse_file_info *fi)
{
	close(fi->fh);
	fuse_reply_err(req, 0);
}

static void cg_ioctl(fuse_req_t req, int cmd, void *arg, struct fuse_file_info *fi,
		     unsigned int flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz)
{
	unsigned int ucmd = (unsigned int)cmd;
	size_t size = _IOC_SIZE(ucmd);
	char buf[4096];
	int r;

	(void)arg;
	(void)flags;
	if (size > sizeof(buf)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	memset(buf, 0, size);
	memcpy(buf, in_buf, in_bufsz < size ? in_bufsz : size);
	r = ioctl(fi->fh, ucmd, buf);
	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_ioctl(req, r, buf, out_bufsz < size ? out_bufsz : size);
}

int main(int argc, char **argv)
{
	const char *dev_info_argv[] = { "DEVNAME=cuse-realgpu" };
	struct cuse_info ci = { .dev_info_argc = 1, .dev_info_argv = dev_info_argv };
	static const struct cuse_lowlevel_ops ops = {
		.open = cg_open,
		.release = cg_release,
		.ioctl = cg_ioctl,
	};

	return cuse_lowlevel_main(argc, argv, &ci, &ops, NULL);
}
