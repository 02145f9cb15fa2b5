// SPDX-License-Identifier: GPL-2.0
/*
 * drm_discover: what a program learns about the GPU behind a DRM node through
 * libdrm's discovery calls, the ones Mesa's loader and ROCm use to pick a
 * driver. Linked dynamically against the distribution's libdrm (not a copy of
 * its logic), so it follows the device number in sysfs the way they do.
 * tests/guest/discovery.sh runs it on a real node and on the proxy
 * bind-mounted at the real node's path, and diffs the two outputs.
 *
 *   drm_discover NODE
 *
 * Prints one "key value" line per fact; a call that fails prints its errno
 * instead of its result (so a failure shows up in the diff), and the program
 * exits 1 if any call failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xf86drm.h>

static int failed;

static const char *bus_name(int bustype)
{
	switch (bustype) {
	case DRM_BUS_PCI: return "pci";
	case DRM_BUS_USB: return "usb";
	case DRM_BUS_PLATFORM: return "platform";
	case DRM_BUS_HOST1X: return "host1x";
	default: return "unknown";
	}
}

static const char *node_type_name(int type)
{
	switch (type) {
	case DRM_NODE_PRIMARY: return "primary";
	case DRM_NODE_CONTROL: return "control";
	case DRM_NODE_RENDER: return "render";
	default: return "unknown";
	}
}

/* A name returned by libdrm (malloc'd, or NULL with errno set). */
static void print_name(const char *key, char *name)
{
	if (name) {
		printf("%s %s\n", key, name);
		free(name);
	} else {
		printf("%s FAILED errno %d (%s)\n", key, errno, strerror(errno));
		failed = 1;
	}
}

static void print_device(const char *key, int fd, uint32_t flags)
{
	drmDevicePtr dev;
	int ret = drmGetDevice2(fd, flags, &dev);

	if (ret) {
		printf("%s FAILED %d (%s)\n", key, ret, strerror(-ret));
		failed = 1;
		return;
	}
	printf("%s.bustype %d %s\n", key, dev->bustype, bus_name(dev->bustype));
	printf("%s.available_nodes %#x\n", key, dev->available_nodes);
	for (int t = 0; t < DRM_NODE_MAX; t++)
		if (dev->available_nodes & (1 << t))
			printf("%s.nodes.%s %s\n", key, node_type_name(t), dev->nodes[t]);
	if (dev->bustype == DRM_BUS_PCI) {
		drmPciBusInfoPtr b = dev->businfo.pci;
		drmPciDeviceInfoPtr d = dev->deviceinfo.pci;

		printf("%s.pci.bus %04x:%02x:%02x.%u\n", key, b->domain, b->bus, b->dev, b->func);
		printf("%s.pci.vendor_id %04x\n", key, d->vendor_id);
		printf("%s.pci.device_id %04x\n", key, d->device_id);
		printf("%s.pci.subvendor_id %04x\n", key, d->subvendor_id);
		printf("%s.pci.subdevice_id %04x\n", key, d->subdevice_id);
		if (flags & DRM_DEVICE_GET_PCI_REVISION)
			printf("%s.pci.revision_id %02x\n", key, d->revision_id);
	} else if (dev->bustype == DRM_BUS_PLATFORM) {
		printf("%s.platform.fullname %s\n", key, dev->businfo.platform->fullname);
	}
	drmFreeDevice(&dev);
}

int main(int argc, char **argv)
{
	drmVersionPtr ver;
	int fd, type;

	if (argc != 2) {
		fprintf(stderr, "usage: %s NODE\n", argv[0]);
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("open %s FAILED errno %d (%s)\n", argv[1], errno, strerror(errno));
		return 1;
	}
	printf("node %s\n", argv[1]);

	ver = drmGetVersion(fd);
	if (ver) {
		printf("driver %s %d.%d.%d\n", ver->name, ver->version_major,
		       ver->version_minor, ver->version_patchlevel);
		drmFreeVersion(ver);
	} else {
		printf("driver FAILED errno %d (%s)\n", errno, strerror(errno));
		failed = 1;
	}

	/* libdrm: the minor's range (minor >> 6) on a device whose sysfs has drm/. */
	type = drmGetNodeTypeFromFd(fd);
	if (type >= 0) {
		printf("node_type %d %s\n", type, node_type_name(type));
	} else {
		printf("node_type FAILED errno %d (%s)\n", errno, strerror(errno));
		failed = 1;
	}
	/* DEVNAME of /sys/dev/char/<major>:<minor>/uevent. */
	print_name("device_name", drmGetDeviceNameFromFd2(fd));
	/* The device's node of each type, from /sys/dev/char/<major>:<minor>/device/drm. */
	print_name("primary_name", drmGetPrimaryDeviceNameFromFd(fd));
	print_name("render_name", drmGetRenderDeviceNameFromFd(fd));

	print_device("device", fd, 0);
	print_device("device_rev", fd, DRM_DEVICE_GET_PCI_REVISION);

	close(fd);
	return failed;
}
