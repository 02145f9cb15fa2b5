/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C wrappers for the static inline functions and macros that realgpu's Rust
 * code needs and that bindgen does not expose. The Rust side declares the
 * same prototypes in helpers.rs.
 */
#ifndef REALGPU_HELPERS_H
#define REALGPU_HELPERS_H

#include <linux/mm_types.h>
#include <linux/types.h>

struct file;
struct file_operations;
struct page;
struct vm_area_struct;
struct vm_fault;
struct workqueue_struct;

/* alloc_ordered_workqueue("realgpu", 0); NULL on failure. */
struct workqueue_struct *realgpu_alloc_ordered_wq(void);

/*
 * anon_inode_getfile("[realgpu-buffer]", fops, priv, O_RDWR): a new file
 * (refcount 1) whose private_data is @priv; ERR_PTR on failure.
 */
struct file *realgpu_anon_getfile(const struct file_operations *fops, void *priv);

/* Accessors for the anonymous const struct at the head of struct vm_fault. */
struct vm_area_struct *realgpu_vmf_vma(const struct vm_fault *vmf);
unsigned long realgpu_vmf_pgoff(const struct vm_fault *vmf);

/* vmf_insert_page(vmf->vma, vmf->address, page). */
vm_fault_t realgpu_vmf_insert_page(struct vm_fault *vmf, struct page *page);

/* vmf_error(err): a negative errno as a vm_fault_t. */
vm_fault_t realgpu_vmf_error(int err);

/* The registry of live buffer ids (realgpu_buffer_alive is exported to mockgpu). */
int realgpu_live_add(u64 id);
void realgpu_live_del(u64 id);
bool realgpu_buffer_alive(u64 id);

/* A file's newest handle and its buffer, and a handle closed in the kernel
 * (exported to mockgpu; the Rust side is fops.rs). */
int realgpu_rs_newest_handle(struct file *file, u32 *handle, u64 *id, u64 *size);
int realgpu_rs_delete_handle(struct file *file, u32 handle);
int realgpu_newest_handle(struct file *file, u32 *handle, u64 *id, u64 *size);
int realgpu_delete_handle(struct file *file, u32 handle);

#endif /* REALGPU_HELPERS_H */
