/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal KTAP output for mockgpu's guest tests (kselftest.h conventions).
 *
 *   ktap_header(n);                 "TAP version 13" and the plan "1..n"
 *   ktap_result(ok, "name %d", i);  "ok N name" / "not ok N name"
 *   ktap_skip("name", "why");       "ok N name # SKIP why" (counted apart, never as a pass)
 *   ktap_result_todo(ok, "why", "name");  a known, documented failure: "not ok N name # TODO why"
 *                                   (counted apart as known-failing, never as a pass; an "ok"
 *                                   when it holds)
 *   return ktap_finish();           exit status: 0 if every test passed, 1 otherwise
 *
 * EXPECT_* record a diagnostic ("# file:line ...") and clear the current
 * test's verdict; a test is a function returning ktap_verdict().
 */
#ifndef MOCKGPU_KTAP_H
#define MOCKGPU_KTAP_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ktap_n, ktap_failed, ktap_skipped, ktap_todo, ktap_planned;
static int ktap_cur_ok __attribute__((unused)) = 1;

static inline void ktap_header(int plan)
{
	ktap_planned = plan;
	printf("TAP version 13\n1..%d\n", plan);
	fflush(stdout);
}

static inline void ktap_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

static inline void ktap_result(int ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("%sok %d ", ok ? "" : "not ", ++ktap_n);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	if (!ok)
		ktap_failed++;
}

static inline void ktap_result_todo(int ok, const char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("%sok %d ", ok ? "" : "not ", ++ktap_n);
	vprintf(fmt, ap);
	if (!ok)
		printf(" # TODO %s", why);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	if (!ok)
		ktap_todo++;
}

static inline void ktap_skip(const char *name, const char *why)
{
	printf("ok %d %s # SKIP %s\n", ++ktap_n, name, why);
	fflush(stdout);
	ktap_skipped++;
}

static inline int ktap_finish(void)
{
	if (ktap_n != ktap_planned) {
		printf("# plan was %d, ran %d\n", ktap_planned, ktap_n);
		ktap_failed++;
	}
	printf("# totals: pass:%d fail:%d skip:%d todo:%d\n",
	       ktap_n - ktap_failed - ktap_skipped - ktap_todo, ktap_failed, ktap_skipped, ktap_todo);
	fflush(stdout);
	return ktap_failed ? 1 : 0;
}

/* Start a test case: reset the verdict. */
#define TEST_BEGIN() (ktap_cur_ok = 1)
/* The verdict of the current test case. */
#define ktap_verdict() (ktap_cur_ok)

#define EXPECT(cond)							\
	do {								\
		if (!(cond)) {						\
			ktap_diag("%s:%d: expected %s", __FILE__,	\
				  __LINE__, #cond);			\
			ktap_cur_ok = 0;				\
		}							\
	} while (0)

#define EXPECT_EQ(a, b)							\
	do {								\
		long long _a = (long long)(a), _b = (long long)(b);	\
		if (_a != _b) {						\
			ktap_diag("%s:%d: %s == %lld, expected %s == %lld",	\
				  __FILE__, __LINE__, #a, _a, #b, _b);	\
			ktap_cur_ok = 0;				\
		}							\
	} while (0)

/* Expect a syscall-style call to fail with errno e. */
#define EXPECT_ERRNO(call, e)						\
	do {								\
		errno = 0;						\
		long _r = (long)(call);					\
		int _e = errno;						\
		if (_r != -1 || _e != (e)) {				\
			ktap_diag("%s:%d: %s returned %ld errno %d (%s), expected errno %d (%s)", \
				  __FILE__, __LINE__, #call, _r, _e,	\
				  strerror(_e), (e), strerror(e));	\
			ktap_cur_ok = 0;				\
		}							\
	} while (0)

/* Expect a syscall-style call to succeed (not -1). */
#define EXPECT_OK(call)							\
	do {								\
		errno = 0;						\
		long _r = (long)(call);					\
		if (_r == -1) {						\
			ktap_diag("%s:%d: %s failed: %s", __FILE__,	\
				  __LINE__, #call, strerror(errno));	\
			ktap_cur_ok = 0;				\
		}							\
	} while (0)

#endif /* MOCKGPU_KTAP_H */
