// SPDX-License-Identifier: GPL-2.0
/*
 * libgpu_preload.so: the LD_PRELOAD alternative to mockgpu, for the
 * benchmark. Interposes open() and ioctl() of the process and does the same
 * accounting as mockgpu in user space: open files of /dev/realgpu and device
 * memory (ALLOC reserves, FREE releases), against GPU_PRELOAD_MEMORY and
 * GPU_PRELOAD_FILES. (What a program bypasses by not loading it, by static
 * linking, or by raw syscalls: the reason mockgpu lives in the kernel.)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "realgpu.h"

static int (*real_ioctl)(int, unsigned long, ...);
static int (*real_open)(const char *, int, ...);
static uint64_t mem_limit = UINT64_MAX, files_limit = UINT64_MAX;
static uint64_t mem_used, files_used;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* handle -> size, per process (handles are per file; good enough here). */
#define SLOTS 4096
static struct { int fd; uint32_t handle; uint64_t size; } slots[SLOTS];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

static void init(void)
{
	const char *m = getenv("GPU_PRELOAD_MEMORY"), *f = getenv("GPU_PRELOAD_FILES");

	real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	real_open = dlsym(RTLD_NEXT, "open");
	if (m)
		mem_limit = strtoull(m, NULL, 0);
	if (f)
		files_limit = strtoull(f, NULL, 0);
}

static int charge(uint64_t *used, uint64_t n, uint64_t limit)
{
	uint64_t cur = __atomic_load_n(used, __ATOMIC_RELAXED);

	do {
		if (cur + n < cur || cur + n > limit)
			return -1;
	} while (!__atomic_compare_exchange_n(used, &cur, cur + n, 1, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	return 0;
}

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd;

	pthread_once(&once, init);
	if (flags & O_CREAT) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (strcmp(path, "/dev/realgpu"))
		return real_open(path, flags, mode);
	if (charge(&files_used, 1, files_limit)) {
		errno = EMFILE;
		return -1;
	}
	fd = real_open(path, flags, mode);
	if (fd < 0)
		__atomic_sub_fetch(&files_used, 1, __ATOMIC_RELAXED);
	return fd;
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	int r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	pthread_once(&once, init);
	if (req == REALGPU_IOCTL_ALLOC && arg) {
		struct realgpu_alloc *a = arg;
		uint64_t size = (a->size + 4095) & ~4095ull;

		if (charge(&mem_used, size, mem_limit)) {
			errno = EDQUOT;
			return -1;
		}
		r = real_ioctl(fd, req, arg);
		if (r) {
			__atomic_sub_fetch(&mem_used, size, __ATOMIC_RELAXED);
			return r;
		}
		pthread_mutex_lock(&slots_lock);
		for (int i = 0; i < SLOTS; i++)
			if (!slots[i].size) {
				slots[i].fd = fd;
				slots[i].handle = a->handle;
				slots[i].size = size;
				break;
			}
		pthread_mutex_unlock(&slots_lock);
		return r;
	}
	r = real_ioctl(fd, req, arg);
	if (req == REALGPU_IOCTL_FREE && arg && r == 0) {
		struct realgpu_free *f = arg;

		pthread_mutex_lock(&slots_lock);
		for (int i = 0; i < SLOTS; i++)
			if (slots[i].size && slots[i].fd == fd && slots[i].handle == f->handle) {
				__atomic_sub_fetch(&mem_used, slots[i].size, __ATOMIC_RELAXED);
				slots[i].size = 0;
				break;
			}
		pthread_mutex_unlock(&slots_lock);
	}
	return r;
}
