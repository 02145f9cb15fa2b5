// SPDX-License-Identifier: GPL-2.0
/*
 * crun_gpu: what tests/guest/crun.sh runs inside (and around) its OCI
 * container. Every subcommand prints what it saw and exits 0 if it saw what it
 * expects, 1 otherwise, so that each is one test line that can fail. Usage is
 * judged by the device's own counter (realgpu's GET_INFO vram_used, all
 * contexts of the device), never by mockgpu's.
 *
 *   crun_gpu info NODE                 print GET_INFO
 *   crun_gpu use NODE                  GET_INFO, ALLOC 1 MiB and FREE work, and
 *                                      vram_used moves by exactly 1 MiB
 *   crun_gpu fill NODE BYTES           ALLOC 1 MiB buffers until one fails: it
 *                                      must fail with EDQUOT after exactly BYTES
 *                                      (by vram_used)
 *   crun_gpu hold NODE BYTES CMD...    ALLOC BYTES, keep them while CMD runs,
 *                                      exit with CMD's status
 *   crun_gpu real PATH MAJOR MINOR     the real device cannot be reached at PATH:
 *                                      mknod it (if PATH does not exist yet);
 *                                      whether or not that works, open must fail
 *                                      with EPERM (the device cgroup); a refused
 *                                      mknod (EPERM) passes too
 *   crun_gpu nsid PID                  print the id of PID's pid namespace
 *                                      (NS_GET_ID), the tenant key of pidns targets
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "realgpu.h"

#ifndef NS_GET_ID
#define NS_GET_ID _IOR(0xb7, 13, __u64)
#endif

#define MIB (1024ull * 1024)

static int open_node(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		printf("open %s: %s\n", path, strerror(errno));
	return fd;
}

static int get_info(int fd, struct realgpu_info *info)
{
	memset(info, 0, sizeof(*info));
	if (ioctl(fd, REALGPU_IOCTL_GET_INFO, info)) {
		printf("GET_INFO: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int alloc(int fd, uint64_t size, struct realgpu_alloc *a)
{
	memset(a, 0, sizeof(*a));
	a->size = size;
	return ioctl(fd, REALGPU_IOCTL_ALLOC, a);
}

static int cmd_info(const char *node)
{
	struct realgpu_info info;
	int fd = open_node(node);

	if (fd < 0 || get_info(fd, &info))
		return 1;
	printf("abi_version %u vram_total %llu vram_used %llu ctx_id %llu\n", info.abi_version,
	       (unsigned long long)info.vram_total, (unsigned long long)info.vram_used,
	       (unsigned long long)info.ctx_id);
	return 0;
}

static int cmd_use(const char *node)
{
	struct realgpu_info before, after;
	struct realgpu_alloc a;
	struct realgpu_free f = { 0 };
	int fd = open_node(node);

	if (fd < 0 || get_info(fd, &before))
		return 1;
	if (before.abi_version != REALGPU_ABI_VERSION || !before.vram_total || !before.ctx_id) {
		printf("GET_INFO: abi_version %u vram_total %llu ctx_id %llu\n", before.abi_version,
		       (unsigned long long)before.vram_total, (unsigned long long)before.ctx_id);
		return 1;
	}
	if (alloc(fd, MIB, &a)) {
		printf("ALLOC 1 MiB: %s\n", strerror(errno));
		return 1;
	}
	if (get_info(fd, &after))
		return 1;
	printf("GET_INFO ok (vram_total %llu); ALLOC 1 MiB -> handle %u; vram_used %llu -> %llu\n",
	       (unsigned long long)before.vram_total, a.handle,
	       (unsigned long long)before.vram_used, (unsigned long long)after.vram_used);
	if (after.vram_used - before.vram_used != MIB) {
		printf("the device counted %llu bytes for a 1 MiB buffer\n",
		       (unsigned long long)(after.vram_used - before.vram_used));
		return 1;
	}
	f.handle = a.handle;
	if (ioctl(fd, REALGPU_IOCTL_FREE, &f)) {
		printf("FREE: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}

static int cmd_fill(const char *node, uint64_t expect)
{
	struct realgpu_info before, after;
	struct realgpu_alloc a;
	uint64_t n = 0;
	int fd = open_node(node), err;

	if (fd < 0 || get_info(fd, &before))
		return 1;
	/* Stop at 256 MiB whatever happens: more than any pool of the tests. */
	while (n < 256 && !alloc(fd, MIB, &a))
		n++;
	err = n < 256 ? errno : 0;
	if (get_info(fd, &after))
		return 1;
	printf("allocated %llu buffers of 1 MiB, then: %s; the device's vram_used grew by %llu bytes "
	       "(limit %llu)\n", (unsigned long long)n, err ? strerror(err) : "no failure",
	       (unsigned long long)(after.vram_used - before.vram_used), (unsigned long long)expect);
	close(fd);
	return !(err == EDQUOT && after.vram_used - before.vram_used == expect);
}

static int cmd_hold(const char *node, uint64_t bytes, char **argv)
{
	struct realgpu_alloc a;
	int fd = open_node(node), status;
	pid_t pid;

	if (fd < 0)
		return 1;
	if (alloc(fd, bytes, &a)) {
		printf("ALLOC %llu: %s\n", (unsigned long long)bytes, strerror(errno));
		return 1;
	}
	printf("holding %llu bytes\n", (unsigned long long)a.size);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 1;
	if (!pid) {
		execvp(argv[0], argv);
		printf("exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return 1;
	close(fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int cmd_real(const char *path, unsigned int major, unsigned int minor)
{
	struct stat st;
	int fd;

	if (stat(path, &st) == 0) {
		printf("%s exists (%u:%u)\n", path, major(st.st_rdev), minor(st.st_rdev));
	} else if (mknod(path, S_IFCHR | 0666, makedev(major, minor))) {
		printf("mknod %s c %u %u: %s\n", path, major, minor, strerror(errno));
		return errno != EPERM;
	} else {
		printf("mknod %s c %u %u: made (the device cgroup allows every mknod)\n", path, major,
		       minor);
	}
	if (stat(path, &st) || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(major, minor)) {
		printf("%s is not the char device %u:%u\n", path, major, minor);
		return 1;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		printf("open %s: it opened: the real device is reachable\n", path);
		return 1;
	}
	printf("open %s: %s\n", path, strerror(errno));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		printf("open %s O_RDONLY: it opened: the real device is reachable\n", path);
		return 1;
	}
	return errno != EPERM;
}

static int cmd_nsid(const char *pid)
{
	char path[64];
	__u64 id = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/ns/pid", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, NS_GET_ID, &id)) {
		printf("NS_GET_ID on %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("%llu\n", (unsigned long long)id);
	return 0;
}

static uint64_t bytes_arg(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	if (*end == 'M')
		v *= MIB;
	else if (*end == 'K')
		v *= 1024;
	return v;
}

int main(int argc, char **argv)
{
	int rc = 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "info"))
		rc = cmd_info(argv[2]);
	else if (argc == 3 && !strcmp(argv[1], "use"))
		rc = cmd_use(argv[2]);
	else if (argc == 4 && !strcmp(argv[1], "fill"))
		rc = cmd_fill(argv[2], bytes_arg(argv[3]));
	else if (argc >= 5 && !strcmp(argv[1], "hold"))
		rc = cmd_hold(argv[2], bytes_arg(argv[3]), argv + 4);
	else if (argc == 5 && !strcmp(argv[1], "real"))
		rc = cmd_real(argv[2], strtoul(argv[3], NULL, 0), strtoul(argv[4], NULL, 0));
	else if (argc == 3 && !strcmp(argv[1], "nsid"))
		rc = cmd_nsid(argv[2]);
	else
		fprintf(stderr, "usage: crun_gpu info|use|fill|hold|real|nsid ... (see the source)\n");
	return rc;
}
