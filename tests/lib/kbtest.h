/* A minimal unit-test harness printing TAP.
 *
 *   static void test_x(void) { KBT_CHECK(1 + 1 == 2); }
 *   int main(void) { KBT_RUN(test_x); return kbt_done(); }
 *
 * Each KBT_RUN is one TAP test point; a point fails when any check in it
 * fails.  Register the executable with protocol: 'tap'. */
#ifndef KBTEST_H
#define KBTEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int kbt_point_failed;
static int kbt_points;
static int kbt_failed_points;

#define KBT_CHECK(cond)                                                               \
	do {                                                                          \
		if (!(cond)) {                                                        \
			printf("#   %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			kbt_point_failed = 1;                                         \
		}                                                                     \
	} while (0)

#define KBT_CHECK_INT(a, b)                                                                     \
	do {                                                                                    \
		long long kbt_a = (long long)(a), kbt_b = (long long)(b);                       \
		if (kbt_a != kbt_b) {                                                           \
			printf("#   %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, \
			       #a, kbt_a, #b, kbt_b);                                           \
			kbt_point_failed = 1;                                                   \
		}                                                                               \
	} while (0)

#define KBT_CHECK_STR(a, b)                                                                    \
	do {                                                                                   \
		const char *kbt_sa = (a), *kbt_sb = (b);                                       \
		if (kbt_sa == NULL || kbt_sb == NULL || strcmp(kbt_sa, kbt_sb) != 0) {         \
			printf("#   %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, \
			       kbt_sa ? kbt_sa : "(null)", kbt_sb ? kbt_sb : "(null)");         \
			kbt_point_failed = 1;                                                  \
		}                                                                              \
	} while (0)

#define KBT_RUN(fn)                                                              \
	do {                                                                     \
		kbt_point_failed = 0;                                            \
		fn();                                                            \
		kbt_points++;                                                    \
		if (kbt_point_failed)                                            \
			kbt_failed_points++;                                     \
		printf("%s %d - %s\n", kbt_point_failed ? "not ok" : "ok", kbt_points, #fn); \
		fflush(stdout);                                                  \
	} while (0)

static inline int kbt_done(void)
{
	printf("1..%d\n", kbt_points);
	return kbt_failed_points ? 1 : 0;
}

#endif
