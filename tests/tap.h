/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tap.h - a tiny header-only TAP harness for unit tests.
 *
 * Each test is a `static void test_x(void)` registered with TAP_TEST(test_x)
 * from main() (after tap_plan-less start).  Assertions print both sides and
 * mark the current test failed; the test keeps running only when that is
 * safe, so assertions return from the test function on failure.
 */
#ifndef STRATA_TAP_H
#define STRATA_TAP_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count;
static int tap_failed_total;
static bool tap_cur_failed;

#define TAP_FAIL_(fmt, ...)                                                    \
	do {                                                                   \
		printf("#   %s:%d: " fmt "\n", __FILE__, __LINE__,         \
		       ##__VA_ARGS__);                                         \
		tap_cur_failed = true;                                         \
		return;                                                        \
	} while (0)

#define TAP_ASSERT(cond)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			TAP_FAIL_("assertion failed: %s", #cond);              \
	} while (0)

#define TAP_ASSERT_INT(a, op, b)                                               \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (!(a_ op b_))                                               \
			TAP_FAIL_("%s %s %s: %lld vs %lld", #a, #op, #b, a_,   \
				  b_);                                         \
	} while (0)

#define TAP_ASSERT_STR(a, op, b)                                               \
	do {                                                                   \
		const char *a_ = (a), *b_ = (b);                               \
		if (!a_ || !b_ || !(strcmp(a_, b_) op 0))                      \
			TAP_FAIL_("%s %s %s: \"%s\" vs \"%s\"", #a, #op, #b,   \
				  a_ ? a_ : "(null)", b_ ? b_ : "(null)");     \
	} while (0)

#define TAP_ASSERT_OK(expr)                                                    \
	do {                                                                   \
		long long r_ = (long long)(expr);                              \
		if (r_ < 0)                                                    \
			TAP_FAIL_("%s failed: %s", #expr, strerror((int)-r_)); \
	} while (0)

#define TAP_ASSERT_ERR(expr, err)                                              \
	do {                                                                   \
		long long r_ = (long long)(expr);                              \
		if (r_ != -(err))                                              \
			TAP_FAIL_("%s: expected %s, got %lld (%s)", #expr,     \
				  strerror(err), r_,                           \
				  r_ < 0 ? strerror((int)-r_) : "success");    \
	} while (0)

static inline void tap_run_(void (*fn)(void), const char *name)
{
	tap_cur_failed = false;
	fn();
	tap_count++;
	if (tap_cur_failed)
		tap_failed_total++;
	printf("%s %d - %s\n", tap_cur_failed ? "not ok" : "ok", tap_count,
	       name);
	fflush(stdout);
}

#define TAP_TEST(fn) tap_run_(fn, #fn)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed_total ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* STRATA_TAP_H */
