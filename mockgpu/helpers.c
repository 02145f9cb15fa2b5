// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers of mockgpu: thin wrappers over static inline kernel functions and
 * C-only macros (see helpers.h). Each is a few lines; the callers in Rust
 * state the contracts.
 */
#include <linux/backing-file.h>
#include <linux/cdev.h>
#include <drm/drm_file.h>
#include <linux/cgroup.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/seq_file.h>
#include <linux/hrtimer.h>
#include <linux/pid_namespace.h>
#include <linux/sched/signal.h>
#include <linux/user_namespace.h>
#include <linux/device.h>
#include <linux/slab.h>
#include <linux/cred.h>
#include <linux/fcntl.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/namei.h>
#include <linux/pid.h>
#include <linux/uio.h>

#include "helpers.h"

/* Rust module parameters are integers only; the target list is a string. */
static char targets[1024];
module_param_string(targets, targets, sizeof(targets), 0444);
MODULE_PARM_DESC(targets, "Comma-separated char device nodes to proxy at load, e.g. /dev/realgpu,/dev/dri/renderD128");

const char *mockgpu_targets_param(void)
{
	return targets;
}

/* Resolves @name in the caller's namespace (done once, at target setup). */
int mockgpu_capture_path(const char *name, struct path *out)
{
	return kern_path(name, LOOKUP_FOLLOW, out);
}

void mockgpu_path_put(struct path *path)
{
	path_put(path);
}

/*
 * Returns 0 and the device number, mode and owner (global ids) if @path is a
 * char device, -ENOTTY otherwise.
 */
int mockgpu_path_info(const struct path *path, dev_t *rdev, umode_t *mode, u32 *uid, u32 *gid)
{
	struct inode *inode = d_inode(path->dentry);

	if (!inode || !S_ISCHR(inode->i_mode))
		return -ENOTTY;
	*rdev = inode->i_rdev;
	*mode = inode->i_mode;
	*uid = __kuid_val(inode->i_uid);
	*gid = __kgid_val(inode->i_gid);
	return 0;
}

/* The credentials of the current task (the operator adding a target), referenced. */
const struct cred *mockgpu_cred_get_current(void)
{
	return get_current_cred();
}

void mockgpu_cred_put(const struct cred *cred)
{
	put_cred(cred);
}

/* Opens the real node as the current task (the operator), to probe its driver. */
struct file *mockgpu_open_probe(const struct path *real)
{
	return dentry_open(real, O_RDWR, current_cred());
}

const char *mockgpu_fops_module_name(const struct file_operations *fops)
{
	return fops->owner ? module_name(fops->owner) : "";
}

/*
 * Opens the real node for the user's proxy file, with the user's flags and the
 * credentials of the operator who added the target (@cred), the way overlayfs
 * opens a backing file with the mounter's credentials. Access was checked on
 * the proxy node (permission bits, device cgroup, LSM) by open(2) itself;
 * the real node is not checked again as the user, so a container needs to be
 * given the proxy only.
 *
 * A backing file (FS_STACK), never installed in any fd table: its user path is
 * the proxy file's, so a mapping of it names the proxy node in
 * /proc/PID/maps and map_files, and a re-open through those lands on the
 * proxy again. Without FS_STACK a plain file, whose mappings name the real
 * node (README, known limits).
 */
struct file *mockgpu_open_real(struct file *user, const struct path *real, const struct cred *cred)
{
#if IS_ENABLED(CONFIG_FS_STACK)
	return backing_file_open(user, user->f_flags, real, cred);
#else
	return dentry_open(real, user->f_flags, cred);
#endif
}

/* fcntl(F_SETFL) changes the proxy's flags only: carry @mask of them to the real file. */
void mockgpu_sync_flags(struct file *proxy, struct file *real, unsigned int mask)
{
	unsigned int want = READ_ONCE(proxy->f_flags) & mask;

	spin_lock(&real->f_lock);
	real->f_flags = (real->f_flags & ~mask) | want;
	spin_unlock(&real->f_lock);
}

/* One field of an ioctl argument: a single user access, no copy loop. */
int mockgpu_get_user_u32(u32 *out, const void __user *p)
{
	return get_user(*out, (const u32 __user *)p);
}

int mockgpu_get_user_u64(u64 *out, const void __user *p)
{
	return get_user(*out, (const u64 __user *)p);
}

/*
 * Points the vma at the real file, then lets the real driver set it up: from
 * here on page faults go to the real driver's vm_ops, never through mockgpu.
 */
int mockgpu_mmap_real(struct file *real, struct vm_area_struct *vma)
{
	vma_set_file(vma, real);
	return vfs_mmap(real, vma);
}

static void mockgpu_kiocb_init(struct kiocb *k, struct file *real, const struct kiocb *iocb)
{
	init_sync_kiocb(k, real);
	k->ki_pos = iocb->ki_pos;
	k->ki_flags |= iocb->ki_flags & IOCB_NOWAIT;
}

ssize_t mockgpu_read_iter_real(struct file *real, struct kiocb *iocb, struct iov_iter *to)
{
	struct kiocb k;
	ssize_t ret;

	mockgpu_kiocb_init(&k, real, iocb);
	ret = real->f_op->read_iter(&k, to);
	iocb->ki_pos = k.ki_pos;
	return ret;
}

ssize_t mockgpu_write_iter_real(struct file *real, struct kiocb *iocb, struct iov_iter *from)
{
	struct kiocb k;
	ssize_t ret;

	mockgpu_kiocb_init(&k, real, iocb);
	ret = real->f_op->write_iter(&k, from);
	iocb->ki_pos = k.ki_pos;
	return ret;
}

/*
 * The real driver's kill_fasync() signals the owner of the real file, while
 * F_SETOWN landed on the proxy: carry the owner (and F_SETSIG) over, then
 * mirror FASYNC so that the real file's last fput cleans up after itself.
 */
int mockgpu_fasync_real(int fd, struct file *proxy, struct file *real, int on)
{
	struct fown_struct *owner = file_f_owner(proxy);
	int err;

	if (on && owner) {
		struct pid *pid;
		enum pid_type type;
		int signum;

		err = file_f_owner_allocate(real);
		if (err)
			return err;
		read_lock_irq(&owner->lock);
		pid = get_pid(owner->pid);
		type = owner->pid_type;
		signum = owner->signum;
		read_unlock_irq(&owner->lock);
		__f_setown(real, pid, type, 1);
		put_pid(pid);
		file_f_owner(real)->signum = signum;
	}
	err = real->f_op->fasync(fd, real, on);
	if (err >= 0) {
		spin_lock(&real->f_lock);
		if (on)
			real->f_flags |= FASYNC;
		else
			real->f_flags &= ~FASYNC;
		spin_unlock(&real->f_lock);
	}
	return err;
}

/*
 * A driver may make its file a stream (stream_open, nonseekable_open) or
 * support RWF_NOWAIT: the VFS reads these bits from the proxy file, so copy them.
 */
#define MOCKGPU_FMODE_MIRROR (FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE | FMODE_STREAM | \
			      FMODE_ATOMIC_POS | FMODE_NOWAIT | FMODE_CAN_ODIRECT)
void mockgpu_mirror_fmode(struct file *proxy, const struct file *real)
{
	proxy->f_mode = (proxy->f_mode & ~MOCKGPU_FMODE_MIRROR) | (real->f_mode & MOCKGPU_FMODE_MIRROR);
}

/*
 * Proxy nodes. Each target gets a char device of one of mockgpu's own majors,
 * at the real node's minor: a struct device (the node in /dev/mockgpu/) and a
 * cdev parented to it. chrdev_open() calls the proxy's open with no global
 * lock held (misc_open would hold misc_mtx, and a real node that is itself a
 * misc device would then deadlock), and keeps the cdev, hence the device,
 * hence the node and its target reference, alive while a file is open.
 *
 * Discovery by device number (libdrm's drmGetDevice2, IGT, Mesa's loader)
 * follows /sys/dev/char/<major>:<minor>: the node's device has the real
 * device's parent (its `device` link leads to the bus device, its `drm/`,
 * ids and uevent), and the real minor, from which DRM derives the node type
 * and debugfs its directory. The uevent's DEVNAME is the real node's name
 * (where the proxy is bind-mounted in a container); only devtmpfs, which
 * reads the name while the node is added or deleted, gets mockgpu/<name>.
 */
struct mockgpu_node {
	struct device dev;
	struct cdev cdev;
	const void *target;	/* one Arc<Target> reference, dropped on release */
	umode_t mode;		/* the real node's mode and owner */
	kuid_t uid;
	kgid_t gid;
	const char *real_path;	/* as the operator gave it, for tools (sysfs) */
	const char *devname;	/* the real node's name under /dev, or NULL */
	bool in_devtmpfs;	/* set while devtmpfs creates or deletes the node */
};

static ssize_t real_path_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", container_of(dev, struct mockgpu_node, dev)->real_path);
}
static DEVICE_ATTR_RO(real_path);

static struct attribute *mockgpu_node_attrs[] = {
	&dev_attr_real_path.attr,
	NULL,
};
ATTRIBUTE_GROUPS(mockgpu_node);

/* devtmpfs creates the proxy node with the real node's mode, owner and group. */
static char *mockgpu_devnode(const struct device *dev, umode_t *mode, kuid_t *uid, kgid_t *gid)
{
	const struct mockgpu_node *node = container_of(dev, struct mockgpu_node, dev);

	if (mode)
		*mode = node->mode;
	if (uid)
		*uid = node->uid;
	if (gid)
		*gid = node->gid;
	if (node->devname && !READ_ONCE(node->in_devtmpfs))
		return kstrdup(node->devname, GFP_KERNEL);
	return kasprintf(GFP_KERNEL, "mockgpu/%s", dev_name(dev));
}

static const struct device_type mockgpu_node_type = {
	.name = "mockgpu_node",
	.devnode = mockgpu_devnode,
};

static const struct class mockgpu_class = {
	.name = "mockgpu",
};

int mockgpu_nodes_init(void)
{
	return class_register(&mockgpu_class);
}

void mockgpu_nodes_exit(void)
{
	class_unregister(&mockgpu_class);
}

/* One more char major for proxy nodes, all its minors; 0 or a negative errno. */
int mockgpu_major_alloc(unsigned int *major)
{
	dev_t base;
	int err = alloc_chrdev_region(&base, 0, MOCKGPU_MINORS, "mockgpu");

	if (!err)
		*major = MAJOR(base);
	return err;
}

void mockgpu_major_free(unsigned int major)
{
	unregister_chrdev_region(MKDEV(major, 0), MOCKGPU_MINORS);
}

/*
 * The parent of the device behind a DRM file (the bus device of the GPU), or
 * NULL; referenced. A DRM file's private_data is its drm_file, whose minor
 * lives while the file is open.
 */
struct device *mockgpu_drm_parent(struct file *drm)
{
	struct drm_file *priv = drm->private_data;

	if (!priv || !priv->minor || !priv->minor->kdev)
		return NULL;
	return get_device(priv->minor->kdev->parent);
}

void mockgpu_device_put(struct device *dev)
{
	put_device(dev);
}

static void mockgpu_node_release(struct device *dev)
{
	struct mockgpu_node *node = container_of(dev, struct mockgpu_node, dev);

	if (node->target)
		mockgpu_target_put(node->target);
	kfree(node->devname);
	kfree(node->real_path);
	kfree(node);
}

struct mockgpu_node *mockgpu_node_add(unsigned int major, unsigned int minor, const char *name,
				      umode_t mode, u32 uid, u32 gid,
				      const struct file_operations *fops, const void *target,
				      const char *real_path, struct device *parent,
				      const char *devname)
{
	struct mockgpu_node *node = kzalloc(sizeof(*node), GFP_KERNEL);
	int err;

	if (!node)
		return ERR_PTR(-ENOMEM);
	node->real_path = kstrdup(real_path, GFP_KERNEL);
	node->devname = devname ? kstrdup(devname, GFP_KERNEL) : NULL;
	if (!node->real_path || (devname && !node->devname)) {
		kfree(node->devname);
		kfree(node->real_path);
		kfree(node);
		return ERR_PTR(-ENOMEM);
	}
	device_initialize(&node->dev);
	node->dev.groups = mockgpu_node_groups;
	node->dev.class = &mockgpu_class;
	node->dev.type = &mockgpu_node_type;
	node->dev.parent = parent;
	node->dev.devt = MKDEV(major, minor);
	node->dev.release = mockgpu_node_release;
	node->mode = mode;
	node->uid = KUIDT_INIT(uid);
	node->gid = KGIDT_INIT(gid);
	cdev_init(&node->cdev, fops);
	node->cdev.owner = fops->owner;
	/* Set before the node is visible: an open may follow at once. */
	node->target = target;
	WRITE_ONCE(node->in_devtmpfs, true);
	err = dev_set_name(&node->dev, "%s", name);
	if (!err)
		err = cdev_device_add(&node->cdev, &node->dev);
	WRITE_ONCE(node->in_devtmpfs, false);
	if (err) {
		node->target = NULL;	/* the caller keeps its reference */
		put_device(&node->dev);
		return ERR_PTR(err);
	}
	return node;
}

void mockgpu_node_del(struct mockgpu_node *node)
{
	WRITE_ONCE(node->in_devtmpfs, true);
	cdev_device_del(&node->cdev, &node->dev);
	put_device(&node->dev);
}

const void *mockgpu_node_target(const struct inode *inode)
{
	return container_of(inode->i_cdev, struct mockgpu_node, cdev)->target;
}

/*
 * The tenant chain of the current task for @kind (enum mockgpu_tenant_kind):
 * the unique 64-bit ids of its pid namespace, cgroup (v2) or user namespace
 * and of all their ancestors, nearest first, the initial one (or the root
 * cgroup) last. Namespace ids (ns_id) are never reused, unlike their inode
 * numbers. Returns how many ids (at least 1), -ELOOP if the chain is longer
 * than @max, -EINVAL for an unknown kind. The chain is stable: the task holds
 * its own namespace or cgroup, and each holds its parent.
 */
int mockgpu_tenant_chain(u32 kind, u64 *ids, unsigned int max)
{
	unsigned int n = 0;

	switch (kind) {
	case 0: {
		struct pid_namespace *ns;

		for (ns = task_active_pid_ns(current); ns; ns = ns->parent) {
			if (n == max)
				return -ELOOP;
			ids[n++] = ns->ns.ns_id;
		}
		return n;
	}
	case 1: {
		struct cgroup *cgrp;

		rcu_read_lock();
		for (cgrp = task_dfl_cgroup(current); cgrp; cgrp = cgroup_parent(cgrp)) {
			if (n == max) {
				rcu_read_unlock();
				return -ELOOP;
			}
			ids[n++] = cgroup_id(cgrp);
		}
		rcu_read_unlock();
		return n;
	}
	case 2: {
		struct user_namespace *ns;

		for (ns = current_user_ns(); ns; ns = ns->parent) {
			if (n == max)
				return -ELOOP;
			ids[n++] = ns->ns.ns_id;
		}
		return n;
	}
	}
	return -EINVAL;
}

/*
 * A reference on the namespace or cgroup @level steps up the current task's
 * chain (0: its own), as mockgpu_tenant_chain() lists it; NULL if there is
 * none. A plain reference: it keeps the object, not the namespace's tasks, so
 * mockgpu_tenant_ref_alive() can tell when the namespace is gone.
 */
void *mockgpu_tenant_ref_get(u32 kind, unsigned int level)
{
	switch (kind) {
	case 0: {
		struct pid_namespace *ns = task_active_pid_ns(current);

		for (; ns && level; level--)
			ns = ns->parent;
		return ns ? get_pid_ns(ns) : NULL;
	}
	case 1: {
		struct cgroup *cgrp;

		rcu_read_lock();
		cgrp = task_dfl_cgroup(current);
		for (; cgrp && level; level--)
			cgrp = cgroup_parent(cgrp);
		if (cgrp)
			cgroup_get(cgrp);
		rcu_read_unlock();
		return cgrp;
	}
	case 2: {
		struct user_namespace *ns = current_user_ns();

		for (; ns && level; level--)
			ns = ns->parent;
		return ns ? get_user_ns(ns) : NULL;
	}
	}
	return NULL;
}

/*
 * Whether the namespace behind a reference from mockgpu_tenant_ref_get() is
 * still in use: a namespace with no task, open fd or bind mount left is
 * inactive (include/linux/ns/ns_common_types.h), a removed cgroup is dead.
 */
bool mockgpu_tenant_ref_alive(u32 kind, void *ref)
{
	switch (kind) {
	case 0:
		return ns_ref_active_read((struct pid_namespace *)ref) > 0;
	case 1:
		return !cgroup_is_dead(ref);
	case 2:
		return ns_ref_active_read((struct user_namespace *)ref) > 0;
	}
	return false;
}

void mockgpu_tenant_ref_put(u32 kind, void *ref)
{
	switch (kind) {
	case 0:
		put_pid_ns(ref);
		break;
	case 1:
		cgroup_put(ref);
		break;
	case 2:
		put_user_ns(ref);
		break;
	}
}

/*
 * The real driver's fdinfo of @real (its show_fdinfo, as /proc/PID/fdinfo
 * would print it after the VFS's own lines), written into @buf: the length,
 * -ENOENT if the driver has no show_fdinfo, -EOVERFLOW if it did not fit.
 * Read in the kernel, so no thread of the caller can touch it.
 */
ssize_t mockgpu_real_fdinfo(struct file *real, char *buf, size_t size)
{
	struct seq_file m = { .buf = buf, .size = size };

	if (!real->f_op->show_fdinfo)
		return -ENOENT;
	real->f_op->show_fdinfo(&m, real);
	if (seq_has_overflowed(&m))
		return -EOVERFLOW;
	return m.count;
}

/* Monotonic time in microseconds. */
u64 mockgpu_now_us(void)
{
	return div_u64(ktime_get_ns(), NSEC_PER_USEC);
}

/* Sleeps interruptibly until @deadline_us; -ERESTARTSYS if a signal came. */
int mockgpu_sleep_until_us(u64 deadline_us)
{
	ktime_t deadline = ns_to_ktime(deadline_us * NSEC_PER_USEC);

	set_current_state(TASK_INTERRUPTIBLE);
	schedule_hrtimeout(&deadline, HRTIMER_MODE_ABS);
	return signal_pending(current) ? -ERESTARTSYS : 0;
}

/* How many references the file has (a mapping holds one per vma). */
long mockgpu_file_count(struct file *file)
{
	return file_count(file);
}

/* Whether the proxy file was opened or set O_NONBLOCK. */
bool mockgpu_nonblock(const struct file *file)
{
	return READ_ONCE(file->f_flags) & O_NONBLOCK;
}

/*
 * A page of the caller's address space for requests mockgpu itself makes to
 * the real driver (which copies arguments from user memory): undoing an
 * allocation a late charge refused. Returns a user address or a negative errno.
 */
unsigned long mockgpu_scratch_map(void)
{
	return vm_mmap(NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 0);
}

void mockgpu_scratch_unmap(unsigned long addr)
{
	vm_munmap(addr, PAGE_SIZE);
}

/* /sys/kernel/debug/mockgpu/status: targets and per-tenant usage, for humans. */
static struct dentry *mockgpu_debugfs;

static int mockgpu_status_show(struct seq_file *m, void *v)
{
	mockgpu_status_rs(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mockgpu_status);

void mockgpu_debugfs_init(void)
{
	mockgpu_debugfs = debugfs_create_dir("mockgpu", NULL);
	debugfs_create_file("status", 0444, mockgpu_debugfs, NULL, &mockgpu_status_fops);
}

/* Waits for readers in progress, so nothing of the module runs afterwards. */
void mockgpu_debugfs_exit(void)
{
	debugfs_remove(mockgpu_debugfs);
}

/*
 * realgpu's registry of live buffers (tests/realgpu), the simulated GPU's
 * counterpart of a GEM object's reference count: taken with a reference on
 * realgpu's module, so that mockgpu does not depend on it being loaded.
 */
extern bool realgpu_buffer_alive(u64 id);

void *mockgpu_realgpu_alive_get(void)
{
	return symbol_get(realgpu_buffer_alive);
}

void mockgpu_realgpu_alive_put(void)
{
	symbol_put(realgpu_buffer_alive);
}

bool mockgpu_realgpu_alive(void *alive, u64 id)
{
	return ((bool (*)(u64))alive)(id);
}

/*
 * realgpu's handle functions (tests/realgpu/fops.rs), its counterpart of
 * drm_gem_object_lookup() and drm_gem_handle_delete(): what the handle an
 * ALLOC or IMPORT made is, from the driver, and a handle closed in the
 * kernel. Both with a module reference, or neither.
 */
extern int realgpu_newest_handle(struct file *file, u32 *handle, u64 *id, u64 *size);
extern int realgpu_delete_handle(struct file *file, u32 handle);

bool mockgpu_realgpu_handles_get(void **newest, void **del)
{
	*newest = symbol_get(realgpu_newest_handle);
	*del = symbol_get(realgpu_delete_handle);
	if (*newest && *del)
		return true;
	if (*newest)
		symbol_put(realgpu_newest_handle);
	if (*del)
		symbol_put(realgpu_delete_handle);
	*newest = NULL;
	*del = NULL;
	return false;
}

void mockgpu_realgpu_handles_put(void)
{
	symbol_put(realgpu_newest_handle);
	symbol_put(realgpu_delete_handle);
}

int mockgpu_realgpu_newest(void *newest, struct file *real, u32 *handle, u64 *id, u64 *size)
{
	return ((int (*)(struct file *, u32 *, u64 *, u64 *))newest)(real, handle, id, size);
}

int mockgpu_realgpu_delete(void *del, struct file *real, u32 handle)
{
	return ((int (*)(struct file *, u32))del)(real, handle);
}
