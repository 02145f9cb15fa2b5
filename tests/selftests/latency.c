// SPDX-License-Identifier: GPL-2.0
/*
 * latency: latency isolation of compute shares (issue 12), on the simulated
 * GPU through mockgpu.
 *
 *   latency [PROXY [SLICE_US]]   default /dev/mockgpu/realgpu, 10000 (the
 *                                slice_us realgpu was loaded with)
 *
 * Two tenants, each a child in its own pid namespace with a compute share
 * set through /dev/mockgpu-control (as in quota.c):
 *
 *   A, 70%: one-second jobs back to back (two in flight: one on the engine,
 *           the next queued behind it), so the engine always has a second of
 *           A's work;
 *   B, 30%: 10 ms jobs, one at a time, each submitted as soon as the last
 *           one completed. Beside A that is a demand of about half the
 *           device (its job, then A's slice), so B's share, not its demand,
 *           decides what it gets.
 *
 * Measured over a window of WINDOW s after WARMUP s, both tenants running:
 *
 *   - B's share of the device's busy time, from the device's own
 *     per-context engine time (realgpu's fdinfo, drm-engine-gfx, of both
 *     tenants' files, read by the parent from /proc/PID/fdinfo);
 *   - B's job start latency, from just before SUBMIT to the job's start on
 *     the device's clock. realgpu counts a slice in fdinfo as it runs, so
 *     B polls its own fdinfo every POLL_US while the job is queued: the
 *     first growth it sees, minus the engine time the job had already
 *     used, is the start (or the completion minus 10 ms, if earlier: both
 *     are bounds from above). Split into admission (inside SUBMIT: mockgpu
 *     makes B wait while its measured time is over its share) and engine
 *     queue (from SUBMIT's return; negative when the job started before
 *     SUBMIT got back to user space).
 *
 * The bounds, from the two schedulers:
 *
 *   - engine queue: realgpu gives runnable contexts turns in round-robin
 *     order, each at most one slice of engine time; B's job is queued while
 *     A has the engine, so it waits at most A's slice. A slice of cost is
 *     one fsleep, which may overrun by a quarter (usleep_range(s, 1.25 s)),
 *     and the guest adds wakeup and polling delays: the bound is
 *     1.25 x slice + SLACK_MS. Without time slicing it would be A's job,
 *     up to 1 s.
 *   - admission: mockgpu admits a submission while the tenant's measured
 *     time is within its share of the current 100 ms period; a job's time
 *     is charged at the next submission, so B's debt is at most one job
 *     (10 ms), less than one period's budget (30 ms), and is repaid at the
 *     next period boundary: at most one period.
 *   - start latency: at most one period + the engine-queue bound.
 *
 * Under TCG the host sometimes does not run the guest's CPUs (see the stall
 * monitor below): latencies are judged net of such stalls and reported both
 * ways. Against a device that does not time-slice (realgpu slice_us=1000000,
 * judged against 10 ms) all three checks fail: B's share 11.7%, its worst
 * start 1085 ms (measured under QEMU -icount).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ktap.h"
#include "mockgpu.h"
#include "realgpu.h"
#include "tenant.h"

#ifndef NS_GET_ID
#define NS_GET_ID _IOR(0xb7, 13, __u64)
#endif

#define A_PCT 70
#define B_PCT 30
#define A_JOB_US 1000000	/* A's jobs: one second each */
#define B_JOB_US 10000		/* B's jobs */
#define PERIOD_MS 100.0		/* mockgpu's compute period (mockgpu/tenant.rs PERIOD_US) */
#define SLACK_MS 10.0		/* guest wakeups and polling */
#define WARMUP 2.0		/* s before the window opens */
#define WINDOW 10.0		/* s measured */
#define POLL_US 500
#define MAX_SAMPLES 4096

static const char *proxy = "/dev/mockgpu/realgpu";
static const char *target = "realgpu";
static double slice_ms = 10.0;
static int own_pidns = -1;

/* Shared between the parent and the tenants. */
struct shared {
	volatile int stop;
	volatile int fd_a, fd_b;	/* the tenants' proxy fds, once open */
	volatile int a_jobs;		/* A's jobs completed */
	volatile int failed;		/* a tenant's ioctl failed: errno */
	int n;				/* B's samples */
	struct sample {
		double sub;		/* before SUBMIT */
		double ret;		/* SUBMIT returned */
		double done;		/* WAIT returned */
		double seen;		/* B first saw the job on the engine */
		double ran;		/* s of engine time it had then used */
	} s[MAX_SAMPLES];
};

static struct shared *sh;

static double mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* The summed drm-engine-* time (ns) in an fdinfo file; -1 if unreadable. */
static int64_t engine_ns(const char *path)
{
	char line[256];
	int64_t ns = -1;
	uint64_t v;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char eng[64];

		if (sscanf(line, "drm-engine-%63[^:]: %" SCNu64 " ns", eng, &v) == 2 &&
		    strncmp(eng, "capacity-", 9))
			ns = (ns < 0 ? 0 : ns) + v;
	}
	fclose(f);
	return ns;
}

/* The engine time of another process's file, ns; -1 if unreadable. */
static int64_t engine_ns_of(pid_t pid, int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	return engine_ns(path);
}

/* --- tenants: children in a new pid namespace (as in quota.c) -------------- */

static int set_limits(uint64_t pidns, uint32_t pct, int clear)
{
	struct mockgpu_limit l = { .hdr = { MOCKGPU_ABI_VERSION, sizeof(l) } };

	strcpy(l.target, target);
	l.tenant.kind = MOCKGPU_TENANT_PIDNS;
	l.tenant.id = pidns;
	l.limits.memory = MOCKGPU_UNLIMITED;
	l.limits.files = MOCKGPU_UNLIMITED;
	l.limits.compute_pct = pct;
	return ctl(clear ? MOCKGPU_IOCTL_LIMIT_CLEAR : MOCKGPU_IOCTL_LIMIT_SET, &l);
}

/* A: one-second jobs back to back, two in flight, until killed. */
static int body_a(void *unused)
{
	(void)unused;
	int fd = open(proxy, O_RDWR);
	uint64_t fences[2] = { 0 };

	if (fd < 0)
		return 1;
	sh->fd_a = fd;
	for (unsigned n = 0; !sh->stop; n++) {
		struct realgpu_submit s = { .op = REALGPU_OP_NOP, .cost_us = A_JOB_US };

		if (fences[n % 2]) {
			struct realgpu_wait w = { .fence = fences[n % 2], .timeout_ns = -1 };

			if (ioctl(fd, REALGPU_IOCTL_WAIT, &w))
				break;
			sh->a_jobs++;
		}
		if (ioctl(fd, REALGPU_IOCTL_SUBMIT, &s)) {
			sh->failed = errno;
			return 1;
		}
		fences[n % 2] = s.fence;
	}
	return 0;
}

/* The engine time (ns) in an fdinfo file held open (seq_file: pread at 0 re-reads it). */
static int64_t engine_ns_fd(int info)
{
	char buf[1024], *p;
	int64_t ns = -1;
	ssize_t len = pread(info, buf, sizeof(buf) - 1, 0);

	if (len <= 0)
		return -1;
	buf[len] = 0;
	for (p = buf; (p = strstr(p, "drm-engine-")); p++) {
		uint64_t v;
		char eng[64];

		if (sscanf(p, "drm-engine-%63[^:]: %" SCNu64 " ns", eng, &v) == 2 &&
		    strncmp(eng, "capacity-", 9))
			ns = (ns < 0 ? 0 : ns) + v;
	}
	return ns;
}

/*
 * B: 10 ms jobs one at a time, each timed, until told to stop. While a job
 * is queued, B polls its file's engine time: realgpu counts a slice as it
 * runs, so the first growth B sees, and how much it had grown, place the
 * job's start on the device's own clock.
 */
static int body_b(void *unused)
{
	(void)unused;
	int fd = open(proxy, O_RDWR), info;
	char path[64];

	if (fd < 0)
		return 1;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	info = open(path, O_RDONLY | O_CLOEXEC);
	if (info < 0)
		return 1;
	sh->fd_b = fd;
	while (!sh->stop && sh->n < MAX_SAMPLES) {
		struct realgpu_submit s = { .op = REALGPU_OP_NOP, .cost_us = B_JOB_US };
		struct realgpu_wait w = { .timeout_ns = -1 };
		struct sample *x = &sh->s[sh->n];
		int64_t before = engine_ns_fd(info), now;

		x->sub = mono();
		if (ioctl(fd, REALGPU_IOCTL_SUBMIT, &s)) {
			sh->failed = errno;
			return 1;
		}
		x->ret = mono();
		while ((now = engine_ns_fd(info)) >= 0 && now <= before)
			usleep(POLL_US);
		if (before < 0 || now < 0) {
			sh->failed = EBADMSG;	/* no engine time in fdinfo */
			return 1;
		}
		x->seen = mono();
		x->ran = (now - before) / 1e9;
		w.fence = s.fence;
		if (ioctl(fd, REALGPU_IOCTL_WAIT, &w)) {
			sh->failed = errno;
			return 1;
		}
		x->done = mono();
		sh->n++;
	}
	return 0;
}

/* --- the guest's own timer noise ------------------------------------------ */

/*
 * Under TCG the host may not run the guest's CPUs for a while (other guests,
 * other work): every timer in the guest then fires late, the device's
 * included, and B's latency grows by time in which nothing in the guest ran.
 * One thread per CPU sleeps MON_US at a time and records each wakeup later
 * than STALL_MS as a stall of that CPU, from when it should have woken to
 * when it did. B's latencies are judged net of the stalls they overlap (the
 * union over CPUs), and reported both ways. A device that made B wait for
 * A's one-second jobs would still be caught unless the guest stood still
 * for most of that second; if it stood still for more than a third of
 * the window, nothing is judged (see main()).
 */
#define MON_US 2000
#define STALL_MS 5.0
#define MAX_CPUS 8
#define MAX_STALLS 2048

static struct stalls {
	int n;
	double worst;			/* ms late */
	double sum;			/* ms late, all wakeups */
	long wakeups;
	double from[MAX_STALLS], to[MAX_STALLS];
} stalls[MAX_CPUS];
static volatile int monitoring = 1;

static void *monitor(void *arg)
{
	int cpu = (int)(intptr_t)arg;
	struct stalls *st = &stalls[cpu];
	cpu_set_t set;
	double t, u, late;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		return NULL;
	for (t = mono(); monitoring; t = u) {
		usleep(MON_US);
		u = mono();
		late = (u - t) * 1e3 - MON_US / 1e3;
		st->sum += late;
		st->wakeups++;
		if (late > st->worst)
			st->worst = late;
		if (late > STALL_MS && st->n < MAX_STALLS) {
			st->from[st->n] = t + MON_US / 1e6;
			st->to[st->n] = u;
			st->n++;
		}
	}
	return NULL;
}

/* The stalls of all CPUs, merged into disjoint intervals in time order. */
static struct span {
	double from, to;
} merged[MAX_CPUS * MAX_STALLS];
static int nmerged;

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->from < y->from ? -1 : x->from > y->from;
}

static void merge_stalls(int ncpu)
{
	int n = 0;

	for (int c = 0; c < ncpu; c++)
		for (int i = 0; i < stalls[c].n; i++)
			merged[n++] = (struct span){ stalls[c].from[i], stalls[c].to[i] };
	qsort(merged, n, sizeof(*merged), cmp_span);
	nmerged = 0;
	for (int i = 0; i < n; i++) {
		if (nmerged && merged[i].from <= merged[nmerged - 1].to) {
			if (merged[i].to > merged[nmerged - 1].to)
				merged[nmerged - 1].to = merged[i].to;
		} else {
			merged[nmerged++] = merged[i];
		}
	}
}

/* Seconds of [from, to] during which some CPU of the guest stood still. */
static double stalled(double from, double to)
{
	double sum = 0;

	for (int i = 0; i < nmerged && merged[i].from < to; i++) {
		double f = merged[i].from > from ? merged[i].from : from;
		double t = merged[i].to < to ? merged[i].to : to;

		if (t > f)
			sum += t - f;
	}
	return sum;
}

/* --- the test --------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stats {
	double median, p90, worst;
};

static struct stats stats_of(const double *in, int n)
{
	static double v[MAX_SAMPLES];
	struct stats st = { 0 };

	if (n <= 0)
		return st;
	memcpy(v, in, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_double);
	st.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	st.p90 = v[(int)(0.9 * (n - 1))];
	st.worst = v[n - 1];
	return st;
}

/* B's samples in the window, in ms. */
static double lat[MAX_SAMPLES], adm[MAX_SAMPLES], eng[MAX_SAMPLES], cpl[MAX_SAMPLES];
static double net_lat[MAX_SAMPLES], net_eng[MAX_SAMPLES];	/* net of the guest's stalls */

int main(int argc, char **argv)
{
	struct tenant a, b;
	pthread_t mon[MAX_CPUS];
	int64_t a0, b0, a1, b1;
	double t0, t1, share = 0, a_wall = 0, b_wall = 0, busy = 0, engine_bound, start_bound;
	double late_worst = 0, late_sum = 0;
	double window_stalled;
	struct stats st_lat, st_adm, st_eng, st_cpl, ns_lat, ns_eng;
	int n = 0, worst = -1, ra, rb, ncpu, nstalls = 0;
	long wakeups = 0;

	if (argc > 1)
		proxy = argv[1];
	if (argc > 2)
		slice_ms = atof(argv[2]) / 1000.0;
	target = strrchr(proxy, '/') + 1;
	engine_bound = 1.25 * slice_ms + SLACK_MS;
	start_bound = PERIOD_MS + engine_bound;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	ncpu = ncpu < 1 ? 1 : ncpu > MAX_CPUS ? MAX_CPUS : ncpu;
	own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ktap_header(3);
	if (sh == MAP_FAILED) {
		printf("Bail out! mmap: %s\n", strerror(errno));
		return 1;
	}
	sh->fd_a = sh->fd_b = -1;
	ktap_diag("A: %d%%, %d ms jobs, two in flight; B: %d%%, %d ms jobs, one at a time; "
		  "slice %.1f ms, period %.0f ms", A_PCT, A_JOB_US / 1000, B_PCT, B_JOB_US / 1000,
		  slice_ms, PERIOD_MS);
	if (tenant_start_in(&a, own_pidns, -1, body_a, NULL) ||
	    tenant_start_in(&b, own_pidns, -1, body_b, NULL) ||
	    set_limits(a.pidns, A_PCT, 0) || set_limits(b.pidns, B_PCT, 0)) {
		printf("Bail out! cannot set up the tenants: %s\n", strerror(errno));
		return 1;
	}
	tenant_go(&a);
	tenant_go(&b);
	/* Threads only after the tenants are forked. */
	for (int c = 0; c < ncpu; c++)
		pthread_create(&mon[c], NULL, monitor, (void *)(intptr_t)c);
	for (int i = 0; i < 500 && (sh->fd_a < 0 || sh->fd_b < 0); i++)
		usleep(10000);
	usleep(WARMUP * 1e6);
	/* The window: both tenants' engine time as the device counts it. */
	a0 = engine_ns_of(a.pid, sh->fd_a);
	b0 = engine_ns_of(b.pid, sh->fd_b);
	t0 = mono();
	usleep(WINDOW * 1e6);
	a1 = engine_ns_of(a.pid, sh->fd_a);
	b1 = engine_ns_of(b.pid, sh->fd_b);
	t1 = mono();
	sh->stop = 1;
	monitoring = 0;
	for (int c = 0; c < ncpu; c++)
		pthread_join(mon[c], NULL);
	merge_stalls(ncpu);
	window_stalled = stalled(t0, t1) / (t1 - t0);
	rb = tenant_wait(&b);
	kill(a.pid, SIGKILL);		/* its queued jobs are skipped on close */
	ra = tenant_wait(&a);
	set_limits(a.pidns, 100, 1);
	set_limits(b.pidns, 100, 1);
	close(a.nsfd);
	close(b.nsfd);

	for (int i = 0; i < sh->n; i++) {
		struct sample *x = &sh->s[i];
		/*
		 * The start on the device's clock: both are bounds from above
		 * (the job had run `ran` when B looked; it had run its 10 ms
		 * when WAIT returned); the tighter one counts.
		 */
		double start = x->seen - x->ran, by_done = x->done - B_JOB_US / 1e6;

		if (x->sub < t0 || x->sub > t1)
			continue;
		start = by_done < start ? by_done : start;
		lat[n] = (start - x->sub) * 1e3;
		adm[n] = (x->ret - x->sub) * 1e3;
		eng[n] = (start - x->ret) * 1e3;
		cpl[n] = (by_done - x->sub) * 1e3;
		net_lat[n] = lat[n] - stalled(x->sub, start) * 1e3;
		net_eng[n] = eng[n] - stalled(x->ret, start) * 1e3;
		if (worst < 0 || lat[n] > lat[worst])
			worst = n;
		n++;
	}
	for (int c = 0; c < ncpu; c++) {
		late_worst = stalls[c].worst > late_worst ? stalls[c].worst : late_worst;
		late_sum += stalls[c].sum;
		wakeups += stalls[c].wakeups;
		nstalls += stalls[c].n;
	}
	st_lat = stats_of(lat, n);
	st_adm = stats_of(adm, n);
	st_eng = stats_of(eng, n);
	st_cpl = stats_of(cpl, n);
	ns_lat = stats_of(net_lat, n);
	ns_eng = stats_of(net_eng, n);
	if (a0 < 0 || a1 < 0 || b0 < 0 || b1 < 0 || a1 + b1 - a0 - b0 <= 0) {
		ktap_diag("no engine time in the tenants' fdinfo (A %lld..%lld, B %lld..%lld)",
			  (long long)a0, (long long)a1, (long long)b0, (long long)b1);
	} else {
		share = 100.0 * (b1 - b0) / (double)(a1 - a0 + b1 - b0);
		a_wall = 100.0 * (a1 - a0) / 1e9 / (t1 - t0);
		b_wall = 100.0 * (b1 - b0) / 1e9 / (t1 - t0);
		busy = a_wall + b_wall;
	}
	ktap_diag("window %.1f s: device busy time (fdinfo) A %.3f s, B %.3f s: busy %.1f%% of "
		  "the window (A %.1f%%, B %.1f%%); A completed %d jobs of 1 s", t1 - t0,
		  (a1 - a0) / 1e9, (b1 - b0) / 1e9, busy, a_wall, b_wall, sh->a_jobs);
	ktap_diag("B, %d jobs: start latency median %.1f ms, p90 %.1f, worst %.1f; of which "
		  "admission (inside SUBMIT) median %.1f, worst %.1f, engine queue median %.1f, "
		  "worst %.1f; completion - 10 ms median %.1f, worst %.1f", n, st_lat.median,
		  st_lat.p90, st_lat.worst, st_adm.median, st_adm.worst, st_eng.median,
		  st_eng.worst, st_cpl.median, st_cpl.worst);
	if (worst >= 0)
		ktap_diag("B's slowest start: %.1f ms = admission %.1f + engine queue %.1f; "
			  "%.1f ms of it the guest stood still", lat[worst], adm[worst], eng[worst],
			  lat[worst] - net_lat[worst]);
	ktap_diag("the guest's own %d ms sleeps (%d CPUs): late by %.2f ms on average, %.1f ms at "
		  "worst; %d stalls over %.0f ms, %.1f%% of the window", MON_US / 1000, ncpu,
		  wakeups ? late_sum / wakeups : 0, late_worst, nstalls, STALL_MS,
		  100 * window_stalled);
	ktap_diag("B net of them: start latency median %.1f ms, worst %.1f; engine queue median "
		  "%.1f, worst %.1f", ns_lat.median, ns_lat.worst, ns_eng.median, ns_eng.worst);
	ktap_diag("latency: median %.1f ms, worst %.1f ms, share %.1f%%", st_lat.median,
		  st_lat.worst, share);
	if (sh->failed)
		ktap_diag("a tenant's ioctl failed: %s", strerror(sh->failed));
	if (ra != 128 + SIGKILL || rb != 0)
		ktap_diag("tenants exited %d (A, expected %d) and %d (B)", ra, 128 + SIGKILL, rb);

	/*
	 * A guest that stood still for long is no evidence either way: the
	 * device is simulated in it, and catches up on lost time in a burst
	 * for the work that was queued (A's) while B, stopped too, submitted
	 * nothing.
	 */
	if (window_stalled > 1.0 / 3) {
		const char *why = "the guest itself stood still for more than a third of the window";

		ktap_skip("a 30% tenant beside a 70% one running 1 s jobs gets 30% of the device", why);
		ktap_skip("its jobs wait at most one slice for the engine", why);
		ktap_skip("its job start latency is at most one period + one slice", why);
		return ktap_finish();
	}
	/*
	 * The share counts only under real contention: A must have kept the
	 * device busy (its 70% and what B leaves), and B must have run enough
	 * jobs to have a latency distribution.
	 */
	ktap_result(share > B_PCT - 3.0 && share < B_PCT + 3.0 && busy > 90.0 && n >= 100 &&
		    rb == 0 && !sh->failed,
		    "a %d%% tenant beside a %d%% one running 1 s jobs back to back gets %d%% of the "
		    "device's busy time (fdinfo: %.1f%%, within 3 points)", B_PCT, A_PCT, B_PCT, share);
	ktap_result(n > 0 && ns_eng.worst <= engine_bound,
		    "its jobs wait at most one slice for the engine (net worst %.1f ms <= %.1f ms)",
		    ns_eng.worst, engine_bound);
	ktap_result(n > 0 && ns_lat.worst <= start_bound,
		    "its job start latency is at most one period + one slice (net worst %.1f ms <= "
		    "%.1f ms)", ns_lat.worst, start_bound);
	return ktap_finish();
}
