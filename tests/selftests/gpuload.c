// SPDX-License-Identifier: GPL-2.0
/*
 * gpuload: a small GPU workload for the simulated GPU, used by `make demo`
 * and the run-isolation suite. It allocates until refused, maps and checks a
 * buffer, then keeps the GPU busy, and says what happened.
 *
 *   gpuload [-d DEVICE] [-n NAME] [-c CHUNK_MB] [-s SECONDS] [-j JOB_US]
 *
 * Exit status 0 if everything it did behaved as the limits say it should
 * (allocations refused with EDQUOT or ENOMEM only, data correct).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "realgpu.h"

/*
 * The engine time the device itself counted for this file, in s: the sum of
 * its fdinfo's drm-engine-<engine> lines (DRM usage stats); -1 if none.
 */
static double device_engine_s(int fd)
{
	char path[64], line[256], eng[64];
	double s = -1;
	uint64_t ns;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "drm-engine-%63[^:]: %" SCNu64 " ns", eng, &ns) == 2 &&
		    strncmp(eng, "capacity-", 9))
			s = (s < 0 ? 0 : s) + ns / 1e9;
	fclose(f);
	return s;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *dev = "/dev/realgpu", *name = "gpuload";
	uint64_t chunk = 16ull << 20, job_us = 5000;
	double secs = 3;
	struct realgpu_alloc a, first = { 0 };
	int opt, fd, n = 0, rc = 0;
	uint64_t total = 0;

	while ((opt = getopt(argc, argv, "d:n:c:s:j:")) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 'n': name = optarg; break;
		case 'c': chunk = strtoull(optarg, NULL, 0) << 20; break;
		case 's': secs = atof(optarg); break;
		case 'j': job_us = strtoull(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: gpuload [-d DEV] [-n NAME] [-c MB] [-s SECONDS] [-j JOB_US]\n");
			return 2;
		}
	}
	fd = open(dev, O_RDWR);
	if (fd < 0) {
		printf("[%s] cannot open %s: %s\n", name, dev, strerror(errno));
		return 1;
	}
	for (;;) {
		memset(&a, 0, sizeof(a));
		a.size = chunk;
		if (ioctl(fd, REALGPU_IOCTL_ALLOC, &a)) {
			printf("[%s] allocated %llu MiB in %d buffers of %llu MiB; the next one: %s\n",
			       name, (unsigned long long)(total >> 20), n,
			       (unsigned long long)(chunk >> 20), strerror(errno));
			if (errno != EDQUOT && errno != ENOMEM)
				rc = 1;
			break;
		}
		if (!n)
			first = a;
		n++;
		total += a.size;
	}
	if (n) {
		unsigned char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
					first.mmap_offset);
		struct realgpu_submit s = { .op = REALGPU_OP_CHECKSUM, .src = first.handle };
		struct realgpu_wait w = { .timeout_ns = -1 };
		uint64_t want = 0;

		if (p == MAP_FAILED) {
			printf("[%s] mmap: %s\n", name, strerror(errno));
			return 1;
		}
		for (int i = 0; i < (1 << 20); i++) {
			p[i] = (unsigned char)i;
			want += (unsigned char)i;
		}
		ioctl(fd, REALGPU_IOCTL_SUBMIT, &s);
		w.fence = s.fence;
		ioctl(fd, REALGPU_IOCTL_WAIT, &w);
		printf("[%s] wrote 1 MiB through mmap; the GPU's checksum %s\n", name,
		       w.result == want ? "matches" : "DOES NOT MATCH");
		if (w.result != want)
			rc = 1;
		munmap(p, 1 << 20);
	}
	{
		double t0 = now(), t = t0;
		uint64_t jobs = 0, fences[8] = { 0 };

		/* Keep 8 jobs in flight, so the GPU never idles for lack of work. */
		do {
			struct realgpu_submit s = { .op = REALGPU_OP_NOP, .cost_us = job_us };
			struct realgpu_wait w = { .timeout_ns = -1 };

			if (fences[jobs % 8]) {
				w.fence = fences[jobs % 8];
				ioctl(fd, REALGPU_IOCTL_WAIT, &w);
			}
			if (ioctl(fd, REALGPU_IOCTL_SUBMIT, &s)) {
				printf("[%s] submit: %s\n", name, strerror(errno));
				rc = 1;
				break;
			}
			fences[jobs++ % 8] = s.fence;
			t = now();
		} while (t - t0 < secs);
		printf("[%s] ran %llu jobs of %llu ms in %.1f s: %.0f%% of the GPU's time\n", name,
		       (unsigned long long)jobs, (unsigned long long)job_us / 1000, t - t0,
		       100.0 * jobs * job_us / 1e6 / (t - t0));
	}
	{
		double s = device_engine_s(fd);

		if (s >= 0)
			printf("[%s] device busy time: %.3f s (the device's own count, fdinfo)\n",
			       name, s);
	}
	fflush(stdout);
	return rc;
}
