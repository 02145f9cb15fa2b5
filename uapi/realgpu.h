/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * realgpu: the simulated GPU that mockgpu is tested against (tests/realgpu).
 *
 * One misc device, /dev/realgpu. Every open file is a GPU context with its own
 * buffer handles. Buffers come from a finite VRAM pool (module parameter
 * vram_mb); their pages are allocated lazily, on first fault or first job.
 * Jobs run on a kernel worker and complete fences; completions are also
 * delivered as struct realgpu_event records through poll(2) + read(2).
 *
 * Every struct is 8-byte aligned with explicit padding; padding and reserved
 * fields must be zero (EINVAL otherwise).
 */
#ifndef _UAPI_REALGPU_H
#define _UAPI_REALGPU_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define REALGPU_ABI_VERSION 1
#define REALGPU_IOC_MAGIC 0xB7

/* GET_INFO: out only. */
struct realgpu_info {
	__u32 abi_version;	/* REALGPU_ABI_VERSION */
	__u32 pad;
	__u64 vram_total;	/* bytes in the pool */
	__u64 vram_used;	/* bytes allocated, all contexts */
	__u64 ctx_id;		/* unique id of this open file (context) */
};

/* ALLOC: in size (bytes, > 0, rounded up to pages); out the rest. ENOMEM when the pool is full. */
struct realgpu_alloc {
	__u64 size;		/* in; out: the rounded size */
	__u32 handle;		/* out: per-context handle, never 0 */
	__u32 pad;
	__u64 mmap_offset;	/* out: pass to mmap(2) on this file */
	__u64 buf_id;		/* out: device-wide id of the buffer (same after IMPORT) */
};

/* FREE: drop this context's handle; the buffer dies with its last reference. EINVAL on a bad handle. */
struct realgpu_free {
	__u32 handle;
	__u32 pad;
};

enum realgpu_op {
	REALGPU_OP_NOP = 0,		/* nothing; only the cost */
	REALGPU_OP_FILL = 1,		/* dst[i] = value (u8) for every byte */
	REALGPU_OP_COPY = 2,		/* dst = src (sizes must match) */
	REALGPU_OP_CHECKSUM = 3,	/* result = sum of src bytes as u64 */
};

/* SUBMIT: queue a job; out a fence that WAIT and events name. A context holds at most
 * 64 unfinished jobs (its ring): beyond that SUBMIT waits, interruptibly, for room. */
struct realgpu_submit {
	__u32 op;		/* enum realgpu_op */
	__u32 src;		/* handle, or 0 when unused */
	__u32 dst;		/* handle, or 0 when unused */
	__u32 flags;		/* 0 */
	__u64 value;		/* FILL byte */
	__u64 cost_us;		/* declared cost: the worker busies itself this long (<= 1 s) */
	__u64 fence;		/* out */
};

/*
 * WAIT: sleep interruptibly until the fence signals or timeout_ns passes.
 * timeout_ns 0 polls (EAGAIN if not done); < 0 waits forever. ETIME on
 * timeout, EINTR/ERESTARTSYS on a signal, EINVAL on a fence never issued.
 */
struct realgpu_wait {
	__u64 fence;
	__s64 timeout_ns;
	__u64 result;		/* out: CHECKSUM result, else 0 */
};

/* read(2) returns whole events; EAGAIN with O_NONBLOCK when none is queued. */
struct realgpu_event {
	__u32 type;		/* REALGPU_EVENT_JOB_DONE */
	__u32 pad;
	__u64 fence;
	__u64 result;
};
#define REALGPU_EVENT_JOB_DONE 1

/* EXPORT: a new fd (O_CLOEXEC) that holds the buffer; IMPORT takes such an fd. */
struct realgpu_export {
	__u32 handle;
	__s32 fd;		/* out */
};

struct realgpu_import {
	__s32 fd;		/* in: an fd from EXPORT */
	__u32 handle;		/* out */
	__u64 size;		/* out */
	__u64 mmap_offset;	/* out */
	__u64 buf_id;		/* out */
};

/*
 * ATTACH_PEER: takes an fd of /dev/realgpu itself and refuses any other fd
 * (EINVAL), as NVIDIA's driver checks the major of passed fds. EBADF for a
 * closed fd. Out: the peer context's id.
 */
struct realgpu_attach_peer {
	__s32 fd;
	__u32 pad;
	__u64 peer_ctx_id;	/* out */
};

#define REALGPU_IOCTL_GET_INFO		_IOR(REALGPU_IOC_MAGIC, 0x00, struct realgpu_info)
#define REALGPU_IOCTL_ALLOC		_IOWR(REALGPU_IOC_MAGIC, 0x01, struct realgpu_alloc)
#define REALGPU_IOCTL_FREE		_IOW(REALGPU_IOC_MAGIC, 0x02, struct realgpu_free)
#define REALGPU_IOCTL_SUBMIT		_IOWR(REALGPU_IOC_MAGIC, 0x03, struct realgpu_submit)
#define REALGPU_IOCTL_WAIT		_IOWR(REALGPU_IOC_MAGIC, 0x04, struct realgpu_wait)
#define REALGPU_IOCTL_EXPORT		_IOWR(REALGPU_IOC_MAGIC, 0x05, struct realgpu_export)
#define REALGPU_IOCTL_IMPORT		_IOWR(REALGPU_IOC_MAGIC, 0x06, struct realgpu_import)
#define REALGPU_IOCTL_ATTACH_PEER	_IOWR(REALGPU_IOC_MAGIC, 0x07, struct realgpu_attach_peer)

#endif /* _UAPI_REALGPU_H */
