/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dirmerge.h - merge per-layer directory listings into one (pure logic).
 */
#ifndef SFS_DIRMERGE_H
#define SFS_DIRMERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Flags of one per-layer entry passed to sfs_dirmerge_add(). */
#define SFS_DE_WHITEOUT (1u << 0) /* hides the name in layers below */

struct sfs_dirmerge;

/* One entry of the merged listing. */
struct sfs_dirent {
	char *name;
	uint64_t ino;       /* d_ino in the top layer holding the entry */
	unsigned layer;     /* top-most layer holding the entry */
	unsigned bottom;    /* bottom-most layer merged into it */
	unsigned n_layers;  /* how many layers hold the name (1: single) */
	unsigned char type; /* DT_* of the top entry */
};

struct sfs_dirmerge *sfs_dirmerge_new(void);
void sfs_dirmerge_free(struct sfs_dirmerge *m);
static inline void sfs_dirmerge_freep(struct sfs_dirmerge **m)
{
	sfs_dirmerge_free(*m);
}

/*
 * Add one entry of one layer.  Layers must be added top-most first (layer
 * numbers increasing); entries of one layer in that layer's listing order.
 * A whiteout hides the name in later (lower) layers; a name already present
 * from a higher layer hides the lower one, except that directories merge
 * while every layer so far holds a directory.  -ENOMEM on failure.
 */
int sfs_dirmerge_add(struct sfs_dirmerge *m, unsigned layer, const char *name,
		     unsigned char type, uint64_t ino, unsigned flags);

/*
 * Finish the merge: drop whiteouts and order the entries deterministically,
 * bottom-most layer first (each layer in its own listing order), so that
 * entries of unchanged lower layers keep their position when the upper layer
 * changes.  Returns the number of entries.
 */
size_t sfs_dirmerge_finish(struct sfs_dirmerge *m);

/* Index a finished merge by name, for sfs_dirmerge_find().  -ENOMEM. */
int sfs_dirmerge_index(struct sfs_dirmerge *m);
/* The entry called name in an indexed merge, or NULL. */
const struct sfs_dirent *sfs_dirmerge_find(const struct sfs_dirmerge *m, const char *name);

size_t sfs_dirmerge_count(const struct sfs_dirmerge *m);
const struct sfs_dirent *sfs_dirmerge_get(const struct sfs_dirmerge *m, size_t i);
static inline const char *sfs_dirmerge_name(const struct sfs_dirmerge *m, size_t i)
{
	return sfs_dirmerge_get(m, i)->name;
}

#endif /* SFS_DIRMERGE_H */
