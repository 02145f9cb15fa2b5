/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tenants of the selftests: children in a new pid namespace each, started
 * paused and let go together, so that their namespaces exist (and can be
 * given limits) before they run.
 */
#ifndef MOCKGPU_TEST_TENANT_H
#define MOCKGPU_TEST_TENANT_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/nsfs.h>

#include "ktap.h"

struct tenant {
	pid_t pid;		/* as the parent sees it */
	uint64_t pidns;		/* the namespace's unique id (NS_GET_ID) */
	int nsfd;		/* the namespace, held open: the caller closes it */
	int go;			/* write end: start the body */
};

typedef int (*tenant_body)(void *arg);

/*
 * Starts @body(@arg) in a new pid namespace, paused until tenant_go(). The
 * child closes @close_fd (if >= 0: e.g. the real device's fd, so that the
 * tenant reaches the device through the proxy only). The caller goes back
 * to its own namespace @own_pidns for later children. 0, or -1.
 */
static inline int tenant_start_in(struct tenant *t, int own_pidns, int close_fd,
				  tenant_body body, void *arg)
{
	int go[2];
	char path[64];

	t->nsfd = -1;
	if (pipe(go) || unshare(CLONE_NEWPID))
		return -1;
	t->pid = fork();
	if (t->pid == 0) {
		char c;

		close(go[1]);
		if (close_fd >= 0)
			close(close_fd);
		if (read(go[0], &c, 1) != 1)
			_exit(99);
		_exit(body(arg));
	}
	if (setns(own_pidns, CLONE_NEWPID))
		ktap_diag("setns: %s", strerror(errno));
	close(go[0]);
	t->go = go[1];
	if (t->pid < 0)
		return -1;
	/* Tenants are keyed by the namespace's unique id, not its inode number. */
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", t->pid);
	t->nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (t->nsfd < 0 || ioctl(t->nsfd, NS_GET_ID, &t->pidns)) {
		if (t->nsfd >= 0)
			close(t->nsfd);
		t->nsfd = -1;
		return -1;
	}
	return 0;
}

/* Lets the tenant's body run. */
static inline void tenant_go(struct tenant *t)
{
	if (write(t->go, "g", 1) != 1)
		ktap_diag("tenant %d did not start", t->pid);
	close(t->go);
}

/* The tenant's exit status, or 128 + its signal. */
static inline int tenant_wait(struct tenant *t)
{
	int status = 0;

	waitpid(t->pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#endif /* MOCKGPU_TEST_TENANT_H */
