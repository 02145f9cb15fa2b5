// SPDX-License-Identifier: GPL-2.0
/* Sizes, offsets and ioctl numbers of uapi/ as C sees them; see layout.rs. */
#include <stddef.h>
#include "realgpu.h"
#include "mockgpu.h"

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
};
