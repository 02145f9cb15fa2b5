// SPDX-License-Identifier: GPL-2.0
/*
 * DRM helpers of mockgpu: run a decoded DRM ioctl on mockgpu's kernel copy of
 * its argument (drm_ioctl_kernel), and hold GEM objects by reference. The
 * policy (what is charged to whom) is in gem.rs; this file only reaches into
 * DRM where Rust cannot (static inlines, function tables, C structs).
 *
 * Every function takes the real file of a DRM target: a file whose f_op is
 * DRM's (mockgpu_drm_file() said so), open for the whole call, so its
 * private_data is its drm_file and ->minor->dev its device.
 */
#include <drm/drm_device.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_ioctl.h>
#include <drm/drm_prime.h>
#include <linux/cgroup_dmem.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "helpers.h"

/* Whether @real is a file of a DRM device (its ioctls go through drm_ioctl). */
bool mockgpu_drm_file(const struct file *real)
{
	return real->f_op->unlocked_ioctl == drm_ioctl;
}

static struct drm_file *fpriv(struct file *real)
{
	return real->private_data;
}

/*
 * The DRM device behind @real, referenced together with its driver's module,
 * so that GEM objects mockgpu holds can be freed after every file is closed.
 */
void *mockgpu_drm_dev_get(struct file *real)
{
	struct drm_device *dev = fpriv(real)->minor->dev;

	if (!try_module_get(dev->driver->fops->owner))
		return NULL;
	drm_dev_get(dev);
	return dev;
}

void mockgpu_drm_dev_put(void *dev)
{
	struct drm_device *d = dev;
	struct module *owner = d->driver->fops->owner;

	drm_dev_put(d);
	module_put(owner);
}

/* The device of @real, unreferenced: an identity shared by its card and render nodes. */
const void *mockgpu_drm_dev_of(struct file *real)
{
	return fpriv(real)->minor->dev;
}

/* The driver's name ("vgem", "virtio_gpu", ...). */
const char *mockgpu_drm_driver_name(struct file *real)
{
	return fpriv(real)->minor->dev->driver->name;
}

/*
 * The core ioctls mockgpu runs itself, each what DRM's handler does (those
 * are not exported) over exported pieces.
 */
static int create_dumb_checked(struct drm_device *dev, struct drm_mode_create_dumb *args,
			       struct drm_file *fp)
{
	u32 cpp, stride;

	/* drm_mode_create_dumb(), drm_dumb_buffers.c */
	if (!dev->driver->dumb_create)
		return -ENOSYS;
	if (!args->width || !args->height || !args->bpp)
		return -EINVAL;
	if (args->bpp > U32_MAX - 8)
		return -EINVAL;
	cpp = DIV_ROUND_UP(args->bpp, 8);
	if (cpp > U32_MAX / args->width)
		return -EINVAL;
	stride = cpp * args->width;
	if (args->height > U32_MAX / stride)
		return -EINVAL;
	if (PAGE_ALIGN(args->height * stride) == 0)
		return -EINVAL;
	args->handle = 0;
	args->pitch = 0;
	args->size = 0;
	return dev->driver->dumb_create(fp, dev, args);
}

/* drm_mode_create_dumb_ioctl(): the outputs are zeroed on any error. */
static int create_dumb(struct drm_device *dev, void *data, struct drm_file *fp)
{
	struct drm_mode_create_dumb *args = data;
	int ret = create_dumb_checked(dev, args, fp);

	if (ret) {
		args->handle = 0;
		args->pitch = 0;
		args->size = 0;
	}
	return ret;
}

static int destroy_dumb(struct drm_device *dev, void *data, struct drm_file *fp)
{
	struct drm_mode_destroy_dumb *args = data;

	if (!dev->driver->dumb_create)
		return -ENOSYS;
	return drm_gem_handle_delete(fp, args->handle);
}

static int gem_close(struct drm_device *dev, void *data, struct drm_file *fp)
{
	struct drm_gem_close *args = data;

	if (!drm_core_check_feature(dev, DRIVER_GEM))
		return -EOPNOTSUPP;
	return drm_gem_handle_delete(fp, args->handle);
}

static int gem_open(struct drm_device *dev, void *data, struct drm_file *fp)
{
	struct drm_gem_open *args = data;
	struct drm_gem_object *obj;
	u32 handle;
	int ret;

	if (!drm_core_check_feature(dev, DRIVER_GEM))
		return -EOPNOTSUPP;
	mutex_lock(&dev->object_name_lock);
	obj = idr_find(&dev->object_name_idr, (int)args->name);
	if (obj)
		drm_gem_object_get(obj);
	mutex_unlock(&dev->object_name_lock);
	if (!obj)
		return -ENOENT;
	/* As drm_gem_open_ioctl, with the name lock retaken by the export. */
	ret = drm_gem_handle_create(fp, obj, &handle);
	if (!ret) {
		args->handle = handle;
		args->size = obj->size;
	}
	drm_gem_object_put(obj);
	return ret;
}

static int prime_fd_to_handle(struct drm_device *dev, void *data, struct drm_file *fp)
{
	struct drm_prime_handle *args = data;

	if (dev->driver->prime_fd_to_handle)
		return dev->driver->prime_fd_to_handle(dev, fp, args->fd, &args->handle);
	return drm_gem_prime_fd_to_handle(dev, fp, args->fd, &args->handle);
}

static const struct {
	unsigned int cmd;
	drm_ioctl_t *func;
} core_ioctls[] = {
	{ DRM_IOCTL_GEM_CLOSE, gem_close },
	{ DRM_IOCTL_GEM_OPEN, gem_open },
	{ DRM_IOCTL_PRIME_FD_TO_HANDLE, prime_fd_to_handle },
	{ DRM_IOCTL_MODE_CREATE_DUMB, create_dumb },
	{ DRM_IOCTL_MODE_DESTROY_DUMB, destroy_dumb },
};

/*
 * What drm_ioctl would run for @cmd on @real: its canonical number, handler
 * and flags. -ENOTTY if mockgpu does not run it itself (then it is
 * forwarded unchanged), -EINVAL where drm_ioctl answers -EINVAL.
 */
static int lookup(struct file *real, unsigned int cmd, unsigned int *canon,
		  drm_ioctl_t **func, u32 *flags)
{
	struct drm_device *dev = fpriv(real)->minor->dev;
	unsigned int nr = DRM_IOCTL_NR(cmd);
	unsigned int i;

	if (_IOC_TYPE(cmd) != DRM_IOCTL_BASE)
		return -ENOTTY;
	if (nr >= DRM_COMMAND_BASE && nr < DRM_COMMAND_END) {
		const struct drm_ioctl_desc *d;
		unsigned int index = nr - DRM_COMMAND_BASE;

		if (index >= dev->driver->num_ioctls)
			return -EINVAL;
		index = array_index_nospec(index, dev->driver->num_ioctls);
		d = &dev->driver->ioctls[index];
		if (!d->func)
			return -EINVAL;
		*canon = d->cmd;
		*func = d->func;
		*flags = d->flags;
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(core_ioctls); i++) {
		if (DRM_IOCTL_NR(core_ioctls[i].cmd) != nr)
			continue;
		if (!drm_ioctl_flags(nr, flags))
			return -EINVAL;
		*canon = core_ioctls[i].cmd;
		*func = core_ioctls[i].func;
		return 0;
	}
	return -ENOTTY;
}

/*
 * drm_ioctl's sizing of @cmd (drm_ioctl.c): the bytes copied in and out,
 * and the size of the kernel copy. 0, or as lookup().
 */
int mockgpu_drm_sizes(struct file *real, unsigned int cmd, u32 *in, u32 *out, u32 *ksize)
{
	unsigned int canon;
	drm_ioctl_t *func;
	u32 flags;
	int ret = lookup(real, cmd, &canon, &func, &flags);

	if (ret)
		return ret;
	*in = *out = _IOC_SIZE(cmd);
	if ((cmd & canon & IOC_IN) == 0)
		*in = 0;
	if ((cmd & canon & IOC_OUT) == 0)
		*out = 0;
	*ksize = max3(*in, *out, (u32)_IOC_SIZE(canon));
	return 0;
}

/* Runs @cmd on @real with @kdata (sized by mockgpu_drm_sizes()), as drm_ioctl would. */
int mockgpu_drm_call(struct file *real, unsigned int cmd, void *kdata)
{
	unsigned int canon;
	drm_ioctl_t *func;
	u32 flags;
	int ret = lookup(real, cmd, &canon, &func, &flags);

	if (ret)
		return ret;
	return drm_ioctl_kernel(real, func, kdata, flags);
}

/* The object behind @handle in @real, referenced, and its size; NULL if none. */
void *mockgpu_gem_lookup(struct file *real, u32 handle, u64 *size)
{
	struct drm_gem_object *obj = drm_gem_object_lookup(fpriv(real), handle);

	if (obj)
		*size = obj->size;
	return obj;
}

void mockgpu_gem_get(void *obj)
{
	drm_gem_object_get(obj);
}

void mockgpu_gem_put(void *obj)
{
	drm_gem_object_put(obj);
}

/* References on @obj: handles (one for all), mmaps, dma-bufs, mockgpu's. */
unsigned int mockgpu_gem_refs(void *obj)
{
	return kref_read(&((struct drm_gem_object *)obj)->refcount);
}

/* Deletes @handle of @real, as GEM_CLOSE does. */
int mockgpu_gem_handle_delete(struct file *real, u32 handle)
{
	return drm_gem_handle_delete(fpriv(real), handle);
}

/*
 * The reaper of a GEM table (gem.rs): a delayed work calling @fn(@data).
 * mockgpu_reaper_free() cancels it and waits for a running call, so @data
 * may be freed after it returns.
 */
struct mockgpu_reaper {
	struct delayed_work work;
	void (*fn)(const void *data);
	const void *data;
};

static void reaper_run(struct work_struct *w)
{
	struct mockgpu_reaper *r = container_of(to_delayed_work(w), struct mockgpu_reaper, work);

	r->fn(r->data);
}

struct mockgpu_reaper *mockgpu_reaper_new(void (*fn)(const void *data), const void *data)
{
	struct mockgpu_reaper *r = kzalloc(sizeof(*r), GFP_KERNEL);

	if (!r)
		return NULL;
	INIT_DELAYED_WORK(&r->work, reaper_run);
	r->fn = fn;
	r->data = data;
	return r;
}

/* Runs the reaper in @ms, sooner if it was due later. */
void mockgpu_reaper_kick(struct mockgpu_reaper *r, unsigned int ms)
{
	unsigned long delay = msecs_to_jiffies(ms);

	if (!delayed_work_pending(&r->work) || time_before(jiffies + delay, r->work.timer.expires))
		mod_delayed_work(system_wq, &r->work, delay);
}

void mockgpu_reaper_free(struct mockgpu_reaper *r)
{
	cancel_delayed_work_sync(&r->work);
	kfree(r);
}

/*
 * dmem cgroup regions (kernel/cgroup/dmem.c): one per target, "mockgpu/<name>",
 * so that a cgroup's dmem.max limits what mockgpu charges. Without
 * CONFIG_CGROUP_DMEM the kernel's stubs register nothing (NULL).
 */
void *mockgpu_dmem_register(const char *name, u64 size)
{
	struct dmem_cgroup_init init = {
		.size = size ? size : (u64)totalram_pages() << PAGE_SHIFT,
	};

	return dmem_cgroup_register_region(&init, "mockgpu/%s", name);
}

void mockgpu_dmem_unregister(void *region)
{
	dmem_cgroup_unregister_region(region);
}

/*
 * Charges @size to the current task's cgroup in @region: 0 and the pool to
 * uncharge later, -EAGAIN over a dmem.max, or another negative errno.
 */
int mockgpu_dmem_try_charge(void *region, u64 size, void **pool)
{
	struct dmem_cgroup_pool_state *p = NULL;
	int ret = dmem_cgroup_try_charge(region, size, &p, NULL);

	*pool = p;
	return ret;
}

void mockgpu_dmem_uncharge(void *pool, u64 size)
{
	dmem_cgroup_uncharge(pool, size);
}
