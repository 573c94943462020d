/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dirmerge.c - merge per-layer name lists into one ordered, deduplicated,
 * whiteout-filtered listing.  Pure: it sees names and types, never files.
 *
 * Rules (as kernel overlayfs):
 *   - the top-most layer holding a name decides its type;
 *   - a whiteout in layer k hides the name in every layer below k;
 *   - a directory merges with directories of the same name below it; a
 *     non-directory anywhere stops the merge of that name;
 *   - a whiteout and a real entry of the same name in the same layer: the
 *     real entry wins (OCI: a whiteout only applies to lower layers).
 * Opaque directories are handled by the caller, which simply does not add
 * the layers below an opaque one.
 *
 * Order: the output is sorted by the bottom-most layer holding each entry,
 * lowest layer first, then by arrival order.  Lower layers never change while
 * mounted, so offsets of their entries stay stable when the upper changes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

#include "dirmerge.h"

struct merge_ent {
	struct sfs_dirent d;
	uint64_t seq;   /* arrival order in the bottom layer */
	bool whiteout;  /* a tombstone: hides lower entries, not listed */
	bool closed;    /* a non-directory reached: lower entries ignored */
	bool stopped;   /* a whiteout below: lower entries ignored */
	bool counted_below; /* an entry below a closed one was counted */
	unsigned wh_layer;
};

struct sfs_dirmerge {
	struct merge_ent *ents;
	size_t n, cap;
	/* open addressing over ents indices + 1 (0: empty slot) */
	size_t *slots;
	size_t nslots;
	uint64_t seq;
	bool finished;
};

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

struct sfs_dirmerge *sfs_dirmerge_new(void)
{
	return calloc(1, sizeof(struct sfs_dirmerge));
}

void sfs_dirmerge_free(struct sfs_dirmerge *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free(m->ents[i].d.name);
	free(m->ents);
	free(m->slots);
	free(m);
}

/* Rebuild the name index with nslots (a power of two) slots. */
static int rehash(struct sfs_dirmerge *m, size_t nslots)
{
	size_t *slots = calloc(nslots, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		size_t s = hash_name(m->ents[i].d.name) & (nslots - 1);

		while (slots[s])
			s = (s + 1) & (nslots - 1);
		slots[s] = i + 1;
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = nslots;
	return 0;
}

static int grow_slots(struct sfs_dirmerge *m)
{
	return rehash(m, m->nslots ? m->nslots * 2 : 64);
}

/* Index slot of name: either holding it or the empty slot to fill. */
static size_t find_slot(const struct sfs_dirmerge *m, const char *name)
{
	size_t s = hash_name(name) & (m->nslots - 1);

	while (m->slots[s] && strcmp(m->ents[m->slots[s] - 1].d.name, name) != 0)
		s = (s + 1) & (m->nslots - 1);
	return s;
}

static int append(struct sfs_dirmerge *m, size_t slot, unsigned layer,
		  const char *name, unsigned char type, uint64_t ino,
		  bool whiteout)
{
	struct merge_ent *e;

	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct merge_ent *ents = realloc(m->ents, cap * sizeof(*ents));

		if (!ents)
			return -ENOMEM;
		m->ents = ents;
		m->cap = cap;
	}
	e = &m->ents[m->n];
	*e = (struct merge_ent){
		.d = { .ino = ino, .layer = layer, .bottom = layer,
		       .n_layers = whiteout ? 0 : 1, .type = type },
		.seq = m->seq++,
		.whiteout = whiteout,
		.closed = !whiteout && type != DT_DIR,
		.wh_layer = layer,
	};
	e->d.name = strdup(name);
	if (!e->d.name)
		return -ENOMEM;
	m->slots[slot] = ++m->n;
	return 0;
}

int sfs_dirmerge_add(struct sfs_dirmerge *m, unsigned layer, const char *name,
		     unsigned char type, uint64_t ino, unsigned flags)
{
	bool whiteout = flags & SFS_DE_WHITEOUT;
	struct merge_ent *e;
	size_t slot;
	int r;

	if ((m->n + 1) * 2 > m->nslots) {
		r = grow_slots(m);
		if (r < 0)
			return r;
	}
	slot = find_slot(m, name);
	if (!m->slots[slot])
		return append(m, slot, layer, name, type, ino, whiteout);

	e = &m->ents[m->slots[slot] - 1];
	if (e->whiteout) {
		/* Same layer: the real entry wins over its whiteout. */
		if (!whiteout && e->wh_layer == layer) {
			e->whiteout = false;
			e->d = (struct sfs_dirent){ .name = e->d.name, .ino = ino,
				.layer = layer, .bottom = layer, .n_layers = 1,
				.type = type };
			e->closed = type != DT_DIR;
		}
		return 0;
	}
	if (whiteout) {
		/* A whiteout below a live entry stops further merging. */
		if (layer != e->d.layer)
			e->stopped = true;
		return 0;
	}
	if (e->stopped || layer == e->d.layer)
		return 0;
	/* n_layers counts one entry below a non-directory: the caller needs
	 * to know that the name also exists lower (copy-up origin). */
	if (e->closed) {
		if (!e->counted_below)
			e->d.n_layers++;
		e->counted_below = true;
		return 0;
	}
	e->d.n_layers++;
	if (type != DT_DIR) {
		e->closed = true;
		e->counted_below = true;
		return 0;
	}
	e->d.bottom = layer;
	e->seq = m->seq++;
	return 0;
}

static int cmp_ent(const void *a, const void *b)
{
	const struct merge_ent *x = a, *y = b;

	if (x->d.bottom != y->d.bottom)
		return x->d.bottom > y->d.bottom ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

size_t sfs_dirmerge_finish(struct sfs_dirmerge *m)
{
	size_t j = 0;

	for (size_t i = 0; i < m->n; i++) {
		if (m->ents[i].whiteout) {
			free(m->ents[i].d.name);
			continue;
		}
		m->ents[j++] = m->ents[i];
	}
	m->n = j;
	if (m->n > 1)
		qsort(m->ents, m->n, sizeof(*m->ents), cmp_ent);
	free(m->slots);
	m->slots = NULL;
	m->nslots = 0;
	m->finished = true;
	return m->n;
}

int sfs_dirmerge_index(struct sfs_dirmerge *m)
{
	size_t nslots = 64;

	while (nslots < (m->n + 1) * 2)
		nslots *= 2;
	return rehash(m, nslots);
}

const struct sfs_dirent *sfs_dirmerge_find(const struct sfs_dirmerge *m, const char *name)
{
	size_t s;

	if (!m->nslots)
		return NULL;
	s = find_slot(m, name);
	return m->slots[s] ? &m->ents[m->slots[s] - 1].d : NULL;
}

size_t sfs_dirmerge_count(const struct sfs_dirmerge *m)
{
	return m->n;
}

const struct sfs_dirent *sfs_dirmerge_get(const struct sfs_dirmerge *m, size_t i)
{
	return &m->ents[i].d;
}
