/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers of mockgpu: thin wrappers over static inline kernel functions and
 * C-only macros. No policy lives here; mockgpu's logic is in the Rust files.
 */
#ifndef MOCKGPU_HELPERS_H
#define MOCKGPU_HELPERS_H

#include <linux/fs.h>
#include <linux/path.h>
#include <linux/types.h>

struct kiocb;
struct iov_iter;

const char *mockgpu_targets_param(void);
int mockgpu_capture_path(const char *name, struct path *out);
void mockgpu_path_put(struct path *path);
int mockgpu_path_info(const struct path *path, dev_t *rdev, umode_t *mode, u32 *uid, u32 *gid);
struct cred;
const struct cred *mockgpu_cred_get_current(void);
void mockgpu_cred_put(const struct cred *cred);
struct file *mockgpu_open_probe(const struct path *real);
const char *mockgpu_fops_module_name(const struct file_operations *fops);
struct file *mockgpu_open_real(struct file *user, const struct path *real, const struct cred *cred);
void mockgpu_sync_flags(struct file *proxy, struct file *real, unsigned int mask);
int mockgpu_get_user_u32(u32 *out, const void __user *p);
int mockgpu_get_user_u64(u64 *out, const void __user *p);
int mockgpu_mmap_real(struct file *real, struct vm_area_struct *vma);
ssize_t mockgpu_read_iter_real(struct file *real, struct kiocb *iocb, struct iov_iter *to);
ssize_t mockgpu_write_iter_real(struct file *real, struct kiocb *iocb, struct iov_iter *from);
int mockgpu_fasync_real(int fd, struct file *proxy, struct file *real, int on);
void mockgpu_mirror_fmode(struct file *proxy, const struct file *real);

/* Proxy nodes: char devices of mockgpu's own majors, at the real minors. */
#define MOCKGPU_MINORS (MINORMASK + 1)
struct mockgpu_node;
struct device;
int mockgpu_nodes_init(void);
void mockgpu_nodes_exit(void);
int mockgpu_major_alloc(unsigned int *major);
void mockgpu_major_free(unsigned int major);
struct device *mockgpu_drm_parent(struct file *drm);
void mockgpu_device_put(struct device *dev);
struct mockgpu_node *mockgpu_node_add(unsigned int major, unsigned int minor, const char *name,
				      umode_t mode, u32 uid, u32 gid,
				      const struct file_operations *fops, const void *target,
				      const char *real_path, struct device *parent,
				      const char *devname);
void mockgpu_node_del(struct mockgpu_node *node);
const void *mockgpu_node_target(const struct inode *inode);
/* Implemented in Rust (target.rs): drops the node's reference on its target. */
void mockgpu_target_put(const void *target);

/* Tenants and time. */
int mockgpu_tenant_chain(u32 kind, u64 *ids, unsigned int max);
void *mockgpu_tenant_ref_get(u32 kind, unsigned int level);
bool mockgpu_tenant_ref_alive(u32 kind, void *ref);
void mockgpu_tenant_ref_put(u32 kind, void *ref);
ssize_t mockgpu_real_fdinfo(struct file *real, char *buf, size_t size);
u64 mockgpu_now_us(void);
int mockgpu_sleep_until_us(u64 deadline_us);
bool mockgpu_nonblock(const struct file *file);
long mockgpu_file_count(struct file *file);

/* DRM targets (drm_helpers.c). */
bool mockgpu_drm_file(const struct file *real);
void *mockgpu_drm_dev_get(struct file *real);
void mockgpu_drm_dev_put(void *dev);
const void *mockgpu_drm_dev_of(struct file *real);
const char *mockgpu_drm_driver_name(struct file *real);
int mockgpu_drm_sizes(struct file *real, unsigned int cmd, u32 *in, u32 *out, u32 *ksize);
int mockgpu_drm_call(struct file *real, unsigned int cmd, void *kdata);
void *mockgpu_gem_lookup(struct file *real, u32 handle, u64 *size);
void mockgpu_gem_get(void *obj);
void mockgpu_gem_put(void *obj);
unsigned int mockgpu_gem_refs(void *obj);
int mockgpu_gem_handle_delete(struct file *real, u32 handle);
struct mockgpu_reaper;
struct mockgpu_reaper *mockgpu_reaper_new(void (*fn)(const void *data), const void *data);
void mockgpu_reaper_kick(struct mockgpu_reaper *r, unsigned int ms);
void mockgpu_reaper_free(struct mockgpu_reaper *r);
void *mockgpu_dmem_register(const char *name, u64 size);
void mockgpu_dmem_unregister(void *region);
int mockgpu_dmem_try_charge(void *region, u64 size, void **pool);
void mockgpu_dmem_uncharge(void *pool, u64 size);

void *mockgpu_realgpu_alive_get(void);
void mockgpu_realgpu_alive_put(void);
bool mockgpu_realgpu_alive(void *alive, u64 id);
bool mockgpu_realgpu_handles_get(void **newest, void **del);
void mockgpu_realgpu_handles_put(void);
int mockgpu_realgpu_newest(void *newest, struct file *real, u32 *handle, u64 *id, u64 *size);
int mockgpu_realgpu_delete(void *del, struct file *real, u32 handle);

unsigned long mockgpu_scratch_map(void);
void mockgpu_scratch_unmap(unsigned long addr);

/* The debugfs status file; its content is written by Rust (mockgpu_main.rs). */
struct seq_file;
void mockgpu_debugfs_init(void);
void mockgpu_debugfs_exit(void);
void mockgpu_status_rs(struct seq_file *m);

#endif /* MOCKGPU_HELPERS_H */
