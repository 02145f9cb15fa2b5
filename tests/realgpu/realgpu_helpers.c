// SPDX-License-Identifier: GPL-2.0
/*
 * realgpu: C wrappers for static inline kernel functions and macros.
 *
 * Only thin wrappers live here; all driver logic is in Rust.
 */

#include <linux/anon_inodes.h>
#include <linux/fcntl.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "realgpu_helpers.h"

struct workqueue_struct *realgpu_alloc_ordered_wq(void)
{
	return alloc_ordered_workqueue("realgpu", 0);
}

struct file *realgpu_anon_getfile(const struct file_operations *fops, void *priv)
{
	return anon_inode_getfile("[realgpu-buffer]", fops, priv, O_RDWR);
}

struct vm_area_struct *realgpu_vmf_vma(const struct vm_fault *vmf)
{
	return vmf->vma;
}

unsigned long realgpu_vmf_pgoff(const struct vm_fault *vmf)
{
	return vmf->pgoff;
}

vm_fault_t realgpu_vmf_insert_page(struct vm_fault *vmf, struct page *page)
{
	return vmf_insert_page(vmf->vma, vmf->address, page);
}

vm_fault_t realgpu_vmf_error(int err)
{
	return vmf_error(err);
}

/*
 * The ids of the buffers alive, as real drivers know which of their objects
 * live: mockgpu asks (realgpu_buffer_alive) whether a buffer whose last
 * handle is gone is still kept by a mapping, an export or a job, and keeps
 * charging it until it is not. Ids are never reused.
 */
static DEFINE_XARRAY(realgpu_live);

int realgpu_live_add(u64 id)
{
	return xa_err(xa_store(&realgpu_live, id, xa_mk_value(1), GFP_KERNEL));
}

void realgpu_live_del(u64 id)
{
	xa_erase(&realgpu_live, id);
}

bool realgpu_buffer_alive(u64 id)
{
	return xa_load(&realgpu_live, id) != NULL;
}
EXPORT_SYMBOL_GPL(realgpu_buffer_alive);

/*
 * What a handle is, from the driver (fops.rs): mockgpu charges an
 * allocation by the driver's own answer, not by what user memory says
 * afterwards, and undoes one in the kernel.
 */
int realgpu_newest_handle(struct file *file, u32 *handle, u64 *id, u64 *size)
{
	return realgpu_rs_newest_handle(file, handle, id, size);
}
EXPORT_SYMBOL_GPL(realgpu_newest_handle);

int realgpu_delete_handle(struct file *file, u32 handle)
{
	return realgpu_rs_delete_handle(file, handle);
}
EXPORT_SYMBOL_GPL(realgpu_delete_handle);
