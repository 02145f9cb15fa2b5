// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_quota: a second DRM driver with its own allocation ioctl
 * (virtio-gpu's RESOURCE_CREATE, 2D: QEMU's virtio-gpu-pci needs no host GL)
 * decoded from its own table, charged exactly, and answering through the
 * proxy as it does directly (issue 11).
 *
 *   virtio_quota RENDER          e.g. /dev/dri/renderD129
 *
 * Truth is the kernel's: an object's size is its dma-buf's (PRIME export),
 * compared with mockgpu's charge and the limit.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <drm/drm.h>
#include <drm/virtgpu_drm.h>

#include "ctl.h"
#include "ktap.h"

#define KiB 1024ull
#define LIMIT (1024 * KiB)
#define CG "/sys/fs/cgroup/virtio_quota"

static const char *real_path;
static char name[MOCKGPU_NAME_MAX], proxy[128];
static uint64_t cg_id;

static uint64_t charged(void)
{
	return ctl_memory_used(name, MOCKGPU_TENANT_CGROUP, cg_id);
}

/* A 2D resource of @w x @h 4-byte pixels (size 0: virtio-gpu allocates a page). */
static struct drm_virtgpu_resource_create res(uint32_t w, uint32_t h, uint32_t size)
{
	return (struct drm_virtgpu_resource_create){
		.target = 2,	/* PIPE_TEXTURE_2D */
		.format = 1,	/* VIRGL_FORMAT_B8G8R8A8_UNORM */
		.bind = 2,	/* VIRGL_BIND_RENDER_TARGET */
		.width = w, .height = h, .depth = 1, .array_size = 1,
		.size = size, .stride = w * 4,
	};
}

static uint64_t obj_size(int fd, uint32_t h)
{
	struct drm_prime_handle p = { .handle = h, .flags = DRM_CLOEXEC };
	off_t n;

	if (ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p))
		return 0;
	n = lseek(p.fd, 0, SEEK_END);
	close(p.fd);
	return n < 0 ? 0 : (uint64_t)n;
}

static int gem_close(int fd, uint32_t h)
{
	struct drm_gem_close c = { .handle = h };

	return ioctl(fd, DRM_IOCTL_GEM_CLOSE, &c);
}

/* The same requests, valid and not, answer alike directly and through the proxy. */
static int test_transcript(void)
{
	struct drm_virtgpu_resource_create cases[] = {
		res(64, 64, 64 * 64 * 4),
		res(64, 64, 0),
		res(0, 0, 4096),
		res(64, 64, 64 * 64 * 4),
	};
	int d = open(real_path, O_RDWR | O_CLOEXEC), p = open(proxy, O_RDWR | O_CLOEXEC), ok = 1;

	if (d < 0 || p < 0)
		return 0;
	cases[3].target = 0;	/* not 2D: refused without 3D */
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct drm_virtgpu_resource_create a = cases[i], b = cases[i];
		int ra = ioctl(d, DRM_IOCTL_VIRTGPU_RESOURCE_CREATE, &a) ? errno : 0;
		int rb = ioctl(p, DRM_IOCTL_VIRTGPU_RESOURCE_CREATE, &b) ? errno : 0;

		if (ra != rb || (!ra && (a.bo_handle != b.bo_handle || !b.res_handle ||
					 obj_size(d, a.bo_handle) != obj_size(p, b.bo_handle)))) {
			ktap_diag("case %u: direct %s handle %u size %" PRIu64 ", proxy %s handle %u size %" PRIu64,
				  i, strerror(ra), a.bo_handle, ra ? 0 : obj_size(d, a.bo_handle),
				  strerror(rb), b.bo_handle, rb ? 0 : obj_size(p, b.bo_handle));
			ok = 0;
		}
		if (!ra)
			gem_close(d, a.bo_handle);
		if (!rb)
			gem_close(p, b.bo_handle);
	}
	close(d);
	close(p);
	return ok;
}

/* mockgpu's charge once it is back to 0 (objects die a moment after their
 * last handle), or after 2 s. */
static uint64_t charge_drained(void)
{
	for (int i = 0; i < 200 && charged(); i++)
		usleep(10000);
	return charged();
}

/*
 * Creates @a with @cmd (its object @obj bytes by its dma-buf, charged
 * @charge bytes), then @b, which must be refused with EDQUOT next to it
 * under the 1 MiB limit; closing @a returns the charge exactly.
 */
static int charge_then_refuse(unsigned long cmd, struct drm_virtgpu_resource_create *a,
			      struct drm_virtgpu_resource_create *b, uint64_t obj, uint64_t charge)
{
	int fd = open(proxy, O_RDWR | O_CLOEXEC), ok = 1;

	charge_drained();	/* the last test's objects */
	if (fd < 0 || ioctl(fd, cmd, a)) {
		ktap_diag("%u x %u resource: %s", a->width, a->height, strerror(errno));
		return 0;
	}
	uint64_t size = obj_size(fd, a->bo_handle), c = charged();

	ktap_diag("%u x %u, size %u: object %" PRIu64 " B, charged %" PRIu64 " B (want %" PRIu64
		  ", %" PRIu64 ")", a->width, a->height, a->size, size, c, obj, charge);
	ok &= size == obj && c == charge;
	errno = 0;
	if (!ioctl(fd, cmd, b) || errno != EDQUOT) {
		ktap_diag("%u x %u next to it under 1 MiB: %s (want EDQUOT)", b->width, b->height,
			  strerror(errno));
		ok = 0;
	}
	gem_close(fd, a->bo_handle);
	if (charge_drained()) {
		ktap_diag("after close: charged %" PRIu64 " B", charged());
		ok = 0;
	}
	close(fd);
	return ok;
}

/* Charged the object's own size; over the limit refused before the driver
 * runs; returned exactly at close. Also through another encoding of the number. */
static int test_charge(unsigned long cmd)
{
	struct drm_virtgpu_resource_create a[2] = { res(256, 512, 512 * KiB) };
	struct drm_virtgpu_resource_create b[2] = { res(256, 768, 768 * KiB) };

	return charge_then_refuse(cmd, a, b, 512 * KiB, 512 * KiB);
}

/*
 * A 2D resource's memory is mostly the host's: QEMU keeps a copy of width x
 * height x 4 bytes (counted against its max_hostmem), whatever the guest
 * backing's size. Charged the larger of the two: a 256 x 256 resource with
 * a one-page backing is charged 256 KiB (its object, the dma-buf, is 4 KiB);
 * 1024 x 1024 (4 MiB on the host) is refused under the 1 MiB limit.
 */
static int test_host_copy(void)
{
	struct drm_virtgpu_resource_create a[2] = { res(256, 256, 0) };
	struct drm_virtgpu_resource_create b[2] = { res(1024, 1024, 0) };

	return charge_then_refuse(DRM_IOCTL_VIRTGPU_RESOURCE_CREATE, a, b, 4 * KiB, 256 * KiB);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: virtio_quota RENDER\n");
		return 2;
	}
	real_path = argv[1];
	ktap_header(4);
	if (ctl_tenant_setup(real_path, name, CG, &cg_id, LIMIT))
		return 1;
	snprintf(proxy, sizeof(proxy), "/dev/mockgpu/%s", name);
	ktap_result(test_transcript(), "RESOURCE_CREATE answers alike directly and through the proxy");
	ktap_result(test_charge(DRM_IOCTL_VIRTGPU_RESOURCE_CREATE),
		    "RESOURCE_CREATE charged the object's size, refused over the limit, returned at close");
	ktap_result(test_charge(_IOC(_IOC_READ | _IOC_WRITE, 'd', 0x44, 112)),
		    "RESOURCE_CREATE encoded with another size: charged and refused alike");
	ktap_result(test_host_copy(), "RESOURCE_CREATE charged the host's copy when it is the larger");
	return ktap_finish();
}
