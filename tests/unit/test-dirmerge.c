/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of dirmerge.c: merging per-layer listings. */
#include <dirent.h>

#include "dirmerge.h"
#include "macro.h"
#include "tap.h"

static bool has(const struct sfs_dirmerge *m, const char *name)
{
	for (size_t i = 0; i < sfs_dirmerge_count(m); i++)
		if (strcmp(sfs_dirmerge_name(m, i), name) == 0)
			return true;
	return false;
}

static void test_whiteout_hides_lower_entry(void)
{
	_cleanup_(sfs_dirmerge_freep) struct sfs_dirmerge *m = sfs_dirmerge_new();

	TAP_ASSERT_OK(sfs_dirmerge_add(m, 0, "a", DT_CHR, 0, SFS_DE_WHITEOUT));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 1, "a", DT_REG, 5, 0));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 1, "b", DT_REG, 6, 0));
	sfs_dirmerge_finish(m);
	TAP_ASSERT_INT(sfs_dirmerge_count(m), ==, 1);
	TAP_ASSERT_STR(sfs_dirmerge_name(m, 0), ==, "b");
}

static void test_upper_wins(void)
{
	_cleanup_(sfs_dirmerge_freep) struct sfs_dirmerge *m = sfs_dirmerge_new();
	const struct sfs_dirent *d;

	TAP_ASSERT_OK(sfs_dirmerge_add(m, 0, "f", DT_LNK, 10, 0));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 1, "f", DT_REG, 20, 0));
	sfs_dirmerge_finish(m);
	TAP_ASSERT_INT(sfs_dirmerge_count(m), ==, 1);
	d = sfs_dirmerge_get(m, 0);
	TAP_ASSERT_INT(d->type, ==, DT_LNK);
	TAP_ASSERT_INT(d->ino, ==, 10);
	TAP_ASSERT_INT(d->layer, ==, 0);
	TAP_ASSERT_INT(d->n_layers, ==, 2);
}

static void test_dedup_dirs_merge(void)
{
	_cleanup_(sfs_dirmerge_freep) struct sfs_dirmerge *m = sfs_dirmerge_new();
	const struct sfs_dirent *d;

	TAP_ASSERT_OK(sfs_dirmerge_add(m, 0, "d", DT_DIR, 1, 0));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 1, "d", DT_DIR, 2, 0));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 2, "d", DT_DIR, 3, 0));
	sfs_dirmerge_finish(m);
	TAP_ASSERT_INT(sfs_dirmerge_count(m), ==, 1);
	d = sfs_dirmerge_get(m, 0);
	TAP_ASSERT_INT(d->n_layers, ==, 3);
	TAP_ASSERT_INT(d->bottom, ==, 2);
}

static void test_nondir_stops_dir_merge(void)
{
	_cleanup_(sfs_dirmerge_freep) struct sfs_dirmerge *m = sfs_dirmerge_new();
	const struct sfs_dirent *d;

	TAP_ASSERT_OK(sfs_dirmerge_add(m, 0, "d", DT_DIR, 1, 0));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 1, "d", DT_REG, 2, 0));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 2, "d", DT_DIR, 3, 0));
	sfs_dirmerge_finish(m);
	d = sfs_dirmerge_get(m, 0);
	TAP_ASSERT_INT(d->type, ==, DT_DIR);
	TAP_ASSERT_INT(d->bottom, ==, 0);
}

static void test_whiteout_in_middle_layer(void)
{
	_cleanup_(sfs_dirmerge_freep) struct sfs_dirmerge *m = sfs_dirmerge_new();

	/* recreated in the upper layer after a whiteout in layer 1 */
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 0, "x", DT_DIR, 1, 0));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 1, "x", DT_CHR, 0, SFS_DE_WHITEOUT));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 2, "x", DT_DIR, 3, 0));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 1, "y", DT_CHR, 0, SFS_DE_WHITEOUT));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 2, "y", DT_REG, 4, 0));
	sfs_dirmerge_finish(m);
	TAP_ASSERT_INT(sfs_dirmerge_count(m), ==, 1);
	TAP_ASSERT_INT(sfs_dirmerge_get(m, 0)->n_layers, ==, 1);
}

static void test_whiteout_same_layer_as_entry(void)
{
	_cleanup_(sfs_dirmerge_freep) struct sfs_dirmerge *m = sfs_dirmerge_new();

	/* OCI: a whiteout applies to lower layers only */
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 1, "z", DT_REG, 0, SFS_DE_WHITEOUT));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 1, "z", DT_REG, 7, 0));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 2, "z", DT_REG, 8, 0));
	sfs_dirmerge_finish(m);
	TAP_ASSERT_INT(sfs_dirmerge_count(m), ==, 1);
	TAP_ASSERT_INT(sfs_dirmerge_get(m, 0)->ino, ==, 7);
}

static void test_stable_order_lowest_layer_first(void)
{
	_cleanup_(sfs_dirmerge_freep) struct sfs_dirmerge *m = sfs_dirmerge_new();

	TAP_ASSERT_OK(sfs_dirmerge_add(m, 0, "new", DT_REG, 1, 0));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 0, "both", DT_DIR, 2, 0));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 1, "low2", DT_REG, 3, 0));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 1, "both", DT_DIR, 4, 0));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 1, "low1", DT_REG, 5, 0));
	sfs_dirmerge_finish(m);
	TAP_ASSERT_INT(sfs_dirmerge_count(m), ==, 4);
	TAP_ASSERT_STR(sfs_dirmerge_name(m, 0), ==, "low2");
	TAP_ASSERT_STR(sfs_dirmerge_name(m, 1), ==, "both");
	TAP_ASSERT_STR(sfs_dirmerge_name(m, 2), ==, "low1");
	TAP_ASSERT_STR(sfs_dirmerge_name(m, 3), ==, "new");
}

static void test_many_entries(void)
{
	_cleanup_(sfs_dirmerge_freep) struct sfs_dirmerge *m = sfs_dirmerge_new();
	char name[32];

	for (int l = 0; l < 3; l++)
		for (int i = 0; i < 50000; i++) {
			snprintf(name, sizeof(name), "f%d", i);
			TAP_ASSERT_OK(sfs_dirmerge_add(m, l, name, DT_REG, i + 1,
						       l == 0 && i % 2 ? SFS_DE_WHITEOUT : 0));
		}
	sfs_dirmerge_finish(m);
	TAP_ASSERT_INT(sfs_dirmerge_count(m), ==, 25000);
	TAP_ASSERT(has(m, "f0"));
	TAP_ASSERT(!has(m, "f1"));
}

static void test_empty(void)
{
	_cleanup_(sfs_dirmerge_freep) struct sfs_dirmerge *m = sfs_dirmerge_new();

	TAP_ASSERT_OK(sfs_dirmerge_add(m, 0, "a", DT_CHR, 0, SFS_DE_WHITEOUT));
	TAP_ASSERT_INT(sfs_dirmerge_finish(m), ==, 0);
}

static void test_find_by_name(void)
{
	_cleanup_(sfs_dirmerge_freep) struct sfs_dirmerge *m = sfs_dirmerge_new();
	const struct sfs_dirent *d;
	char name[16];

	TAP_ASSERT_OK(sfs_dirmerge_add(m, 1, "gone", DT_CHR, 0, SFS_DE_WHITEOUT));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 1, "top", DT_REG, 1, 0));
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		TAP_ASSERT_OK(sfs_dirmerge_add(m, 2, name, DT_REG, 100 + i, 0));
	}
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 2, "gone", DT_REG, 2, 0));
	TAP_ASSERT_OK(sfs_dirmerge_add(m, 2, "top", DT_REG, 3, 0));
	sfs_dirmerge_finish(m);
	TAP_ASSERT(sfs_dirmerge_find(m, "top") == NULL); /* not indexed yet */
	TAP_ASSERT_OK(sfs_dirmerge_index(m));
	d = sfs_dirmerge_find(m, "top");
	TAP_ASSERT(d != NULL);
	TAP_ASSERT_INT(d->layer, ==, 1);
	TAP_ASSERT_INT(d->n_layers, ==, 2);
	d = sfs_dirmerge_find(m, "n999");
	TAP_ASSERT(d != NULL);
	TAP_ASSERT_INT(d->ino, ==, 1099);
	TAP_ASSERT_INT(d->n_layers, ==, 1);
	TAP_ASSERT(sfs_dirmerge_find(m, "gone") == NULL); /* whited out */
	TAP_ASSERT(sfs_dirmerge_find(m, "n1000") == NULL);
}

int main(void)
{
	TAP_TEST(test_whiteout_hides_lower_entry);
	TAP_TEST(test_upper_wins);
	TAP_TEST(test_dedup_dirs_merge);
	TAP_TEST(test_nondir_stops_dir_merge);
	TAP_TEST(test_whiteout_in_middle_layer);
	TAP_TEST(test_whiteout_same_layer_as_entry);
	TAP_TEST(test_stable_order_lowest_layer_first);
	TAP_TEST(test_many_entries);
	TAP_TEST(test_empty);
	TAP_TEST(test_find_by_name);
	return tap_done();
}
