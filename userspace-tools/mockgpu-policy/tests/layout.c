// SPDX-License-Identifier: GPL-2.0
/* Sizes, offsets and ioctl numbers of uapi/ as C sees them; see layout.rs. */
#include <stddef.h>
#include <linux/types.h>
#include "realgpu.h"
#include "mockgpu.h"

/* The two DRM structs mockgpu decodes, as include/uapi/drm/drm_mode.h and drm.h define them. */
struct drm_mode_create_dumb { __u32 height, width, bpp, flags, handle, pitch; __u64 size; };
struct drm_gem_close { __u32 handle, pad; };

#define F(type, field) offsetof(struct type, field)
#define S(type) sizeof(struct type)

const unsigned long mockgpu_layout_realgpu[] = {
	S(realgpu_alloc), F(realgpu_alloc, size), F(realgpu_alloc, handle),
	F(realgpu_alloc, mmap_offset), F(realgpu_alloc, buf_id),
	S(realgpu_free), F(realgpu_free, handle),
	S(realgpu_submit), F(realgpu_submit, op), F(realgpu_submit, value),
	F(realgpu_submit, cost_us), F(realgpu_submit, fence),
	S(realgpu_attach_peer), F(realgpu_attach_peer, fd), F(realgpu_attach_peer, peer_ctx_id),
	REALGPU_IOCTL_ALLOC, REALGPU_IOCTL_FREE, REALGPU_IOCTL_SUBMIT, REALGPU_IOCTL_ATTACH_PEER,
};

const unsigned long mockgpu_layout_control[] = {
	S(mockgpu_hdr), S(mockgpu_target_add), F(mockgpu_target_add, path),
	F(mockgpu_target_add, name), S(mockgpu_target_remove), F(mockgpu_target_remove, name),
	MOCKGPU_IOCTL_TARGET_ADD, MOCKGPU_IOCTL_TARGET_REMOVE, MOCKGPU_ABI_VERSION,
	MOCKGPU_PATH_MAX, MOCKGPU_NAME_MAX,
	F(mockgpu_target_add, tenant_kind), S(mockgpu_tenant), S(mockgpu_limits),
	F(mockgpu_limits, compute_pct), S(mockgpu_limit), F(mockgpu_limit, tenant),
	F(mockgpu_limit, limits), S(mockgpu_usage), F(mockgpu_usage, limits),
	F(mockgpu_usage, memory_used), F(mockgpu_usage, configured), S(mockgpu_usage_list),
	F(mockgpu_usage_list, entries), MOCKGPU_IOCTL_LIMIT_SET, MOCKGPU_IOCTL_LIMIT_GET,
	MOCKGPU_IOCTL_LIMIT_CLEAR, MOCKGPU_IOCTL_USAGE_LIST,
	F(mockgpu_usage, refused_ioctls), S(mockgpu_policy), F(mockgpu_policy, mode),
	F(mockgpu_policy, cmds), MOCKGPU_POLICY_MAX, MOCKGPU_IOCTL_POLICY_SET,
};

const unsigned long mockgpu_layout_drm[] = {
	S(drm_mode_create_dumb), F(drm_mode_create_dumb, handle), F(drm_mode_create_dumb, size),
	S(drm_gem_close),
	0xC02064B2, /* DRM_IOCTL_MODE_CREATE_DUMB, as the kernel headers expand it */
	0xC00464B4, /* DRM_IOCTL_MODE_DESTROY_DUMB */
	0x40086409, /* DRM_IOCTL_GEM_CLOSE */
};
