/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of whiteout.c: marker names and predicates. */
#include <errno.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "tap.h"
#include "whiteout.h"

static void test_whiteout_target(void)
{
	TAP_ASSERT_STR(sfs_whiteout_target(".wh.foo"), ==, "foo");
	TAP_ASSERT_STR(sfs_whiteout_target(".wh..hidden"), ==, ".hidden");
	TAP_ASSERT(sfs_whiteout_target("foo") == NULL);
	TAP_ASSERT(sfs_whiteout_target(".wh.") == NULL);
	TAP_ASSERT(sfs_whiteout_target(".wh") == NULL);
}

static void test_opaque_marker_is_not_a_whiteout(void)
{
	TAP_ASSERT(sfs_is_opaque_marker(".wh..wh..opq"));
	TAP_ASSERT(sfs_whiteout_target(".wh..wh..opq") == NULL);
	TAP_ASSERT(!sfs_is_opaque_marker(".wh.opq"));
}

static void test_whiteout_name_roundtrip(void)
{
	char buf[300];

	TAP_ASSERT_OK(sfs_whiteout_name("bar", buf, sizeof(buf)));
	TAP_ASSERT_STR(buf, ==, ".wh.bar");
	TAP_ASSERT_STR(sfs_whiteout_target(buf), ==, "bar");
}

static void test_whiteout_name_too_long(void)
{
	char buf[8];

	TAP_ASSERT_ERR(sfs_whiteout_name("toolong", buf, sizeof(buf)), ENAMETOOLONG);
}

static void test_chardev_whiteout(void)
{
	struct stat st = { .st_mode = S_IFCHR | 0, .st_rdev = makedev(0, 0) };

	TAP_ASSERT(sfs_is_whiteout_stat(&st));
	st.st_rdev = makedev(1, 3);
	TAP_ASSERT(!sfs_is_whiteout_stat(&st));
	st.st_mode = S_IFREG;
	st.st_rdev = 0;
	TAP_ASSERT(!sfs_is_whiteout_stat(&st));
}

static void test_private_xattrs(void)
{
	TAP_ASSERT(sfs_xattr_is_private("trusted.overlay.opaque"));
	TAP_ASSERT(sfs_xattr_is_private("user.overlay.redirect"));
	TAP_ASSERT(sfs_xattr_is_private("user.fuseoverlayfs.opaque"));
	TAP_ASSERT(sfs_xattr_is_private("trusted.stratafs.origin"));
	TAP_ASSERT(!sfs_xattr_is_private("user.mime_type"));
	TAP_ASSERT(!sfs_xattr_is_private("security.capability"));
	TAP_ASSERT(!sfs_xattr_is_private("trusted.overlayfoo"));
}

static void test_opaque_values(void)
{
	TAP_ASSERT(sfs_opaque_value_is_set("y", 1));
	TAP_ASSERT(!sfs_opaque_value_is_set("n", 1));
	TAP_ASSERT(!sfs_opaque_value_is_set("", 0));
}

int main(void)
{
	TAP_TEST(test_whiteout_target);
	TAP_TEST(test_opaque_marker_is_not_a_whiteout);
	TAP_TEST(test_whiteout_name_roundtrip);
	TAP_TEST(test_whiteout_name_too_long);
	TAP_TEST(test_chardev_whiteout);
	TAP_TEST(test_private_xattrs);
	TAP_TEST(test_opaque_values);
	return tap_done();
}
