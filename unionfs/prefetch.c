/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prefetch.c - directory read-ahead: a walk finds its next directories read.
 *
 * A walk (find, du, tar, rm -r, a container runtime's chown) lists one
 * directory after another.  On a cold cache each listing waits for the disk
 * to read a directory block and then the inodes of its entries, one request
 * at a time, and the disk idles between them; it would serve many at once.
 * So when a listing had to read from the disk, a few threads read its
 * subdirectories in the background, in every layer the directory has: each
 * one's entries and their inodes, which is what listing them and looking
 * their entries up will ask for.  When the walk then lists one of those,
 * its own subdirectories are read ahead in turn, so the read-ahead stays a
 * level in front of the walk.  A find over unionbench's 58k-entry tree,
 * cold: 1.05 s instead of 1.25 s (kernel overlayfs 0.90 s).
 *
 * It only reads the layers: the merged view never depends on it.  The work
 * is bounded (a fixed queue; a job that does not fit is dropped, and one
 * listing queues only its own subdirectories) and never repeated for a
 * directory read recently (a table of path hashes).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirmerge.h"
#include "stratafs.h"

#define PREFETCH_THREADS 8     /* they mostly wait for the disk */
#define PREFETCH_STACK (256 * 1024)
#define PREFETCH_QUEUE 1024    /* jobs waiting, power of two */
#define PREFETCH_SEEN 16384    /* table of directories read, power of two */

struct prefetch_job {
	unsigned layer;
	char *path;         /* in the layer */
};

struct sfs_prefetch {
	struct sfs_fs *fs;
	pthread_t threads[PREFETCH_THREADS];
	unsigned n_threads;
	pthread_mutex_t lock;       /* protects everything below */
	pthread_cond_t cond;
	struct prefetch_job queue[PREFETCH_QUEUE];
	unsigned head, count;
	/* Directories read or queued: hashes of (layer, path), 0 is a free
	 * slot.  Emptied when three quarters full. */
	uint64_t seen[PREFETCH_SEEN];
	unsigned n_seen;
	bool stop;
};

static uint64_t path_hash(unsigned layer, const char *path)
{
	uint64_t h = 0xcbf29ce484222325ull ^ layer;

	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	return h ? h : 1;
}

/* The slot of h in the table: where it is, or the free one it would take.
 * pf->lock held. */
static unsigned seen_slot(struct sfs_prefetch *pf, uint64_t h)
{
	unsigned i = (unsigned)h & (PREFETCH_SEEN - 1);

	while (pf->seen[i] && pf->seen[i] != h)
		i = (i + 1) & (PREFETCH_SEEN - 1);
	return i;
}

/* Record that h is being read; false when it was already.  pf->lock held. */
static bool seen_mark(struct sfs_prefetch *pf, uint64_t h)
{
	unsigned i;

	if (pf->n_seen >= PREFETCH_SEEN / 4 * 3) {
		memset(pf->seen, 0, sizeof(pf->seen));
		pf->n_seen = 0;
	}
	i = seen_slot(pf, h);
	if (pf->seen[i])
		return false;
	pf->seen[i] = h;
	pf->n_seen++;
	return true;
}

/* Queue the subdirectory name of path in layer.  pf->lock held. */
static void enqueue(struct sfs_prefetch *pf, unsigned layer, const char *path,
		    const char *name)
{
	struct prefetch_job *job;
	char *child;

	if (pf->stop || pf->count == PREFETCH_QUEUE)
		return;
	if (sfs_path_join(path, name, &child) < 0)
		return;
	if (!seen_mark(pf, path_hash(layer, child))) {
		free(child);
		return;
	}
	job = &pf->queue[(pf->head + pf->count) & (PREFETCH_QUEUE - 1)];
	job->layer = layer;
	job->path = child;
	pf->count++;
	pthread_cond_signal(&pf->cond);
}

/* Read one directory and the inodes of its entries. */
static void prefetch_dir(struct sfs_prefetch *pf, const struct prefetch_job *job)
{
	int lfd = pf->fs->layers[job->layer].fd;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	struct stat st;
	int fd;

	/* O_NOATIME: read-ahead leaves no trace, where the daemon may */
	fd = openat(lfd, job->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(lfd, job->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		(void)fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW);
	}
}

static void *prefetch_main(void *arg)
{
	struct sfs_prefetch *pf = arg;

	pthread_mutex_lock(&pf->lock);
	for (;;) {
		struct prefetch_job job;

		while (pf->count == 0 && !pf->stop)
			pthread_cond_wait(&pf->cond, &pf->lock);
		if (pf->stop)
			break;
		job = pf->queue[pf->head];
		pf->head = (pf->head + 1) & (PREFETCH_QUEUE - 1);
		pf->count--;
		pthread_mutex_unlock(&pf->lock);
		prefetch_dir(pf, &job);
		free(job.path);
		pthread_mutex_lock(&pf->lock);
	}
	pthread_mutex_unlock(&pf->lock);
	return NULL;
}

int sfs_prefetch_start(struct sfs_fs *fs)
{
	struct sfs_prefetch *pf;
	pthread_attr_t attr;

	if (!fs->cfg->dir_readahead)
		return 0;
	pf = calloc(1, sizeof(*pf));
	if (!pf)
		return -ENOMEM;
	pf->fs = fs;
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->cond, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, PREFETCH_STACK);
	/* fewer threads than asked for only make the read-ahead slower */
	for (unsigned i = 0; i < PREFETCH_THREADS; i++) {
		if (pthread_create(&pf->threads[i], &attr, prefetch_main, pf) != 0)
			break;
		pf->n_threads++;
	}
	pthread_attr_destroy(&attr);
	fs->prefetch = pf;
	return 0;
}

void sfs_prefetch_stop(struct sfs_fs *fs)
{
	struct sfs_prefetch *pf = fs->prefetch;

	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	pf->stop = true;
	pthread_cond_broadcast(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
	for (unsigned i = 0; i < pf->n_threads; i++)
		pthread_join(pf->threads[i], NULL);
	for (; pf->count; pf->count--) {
		free(pf->queue[pf->head].path);
		pf->head = (pf->head + 1) & (PREFETCH_QUEUE - 1);
	}
	pthread_cond_destroy(&pf->cond);
	pthread_mutex_destroy(&pf->lock);
	free(pf);
	fs->prefetch = NULL;
}

uint64_t sfs_prefetch_disk_reads(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		return 0;
	return (uint64_t)ru.ru_inblock;
}

/*
 * Directory n was just listed as m; it_read_disk: its listing had to wait
 * for the disk.  Read ahead its subdirectories when it did, or when n was
 * itself read ahead (the walk is here: stay a level in front of it).
 * tree_lock held.
 */
void sfs_prefetch_listed(struct sfs_fs *fs, struct sfs_node *n,
			 const struct sfs_dirmerge *m, bool it_read_disk)
{
	struct sfs_prefetch *pf = fs->prefetch;
	_cleanup_free_ char *upath = NULL;
	size_t count = sfs_dirmerge_count(m);
	bool any = false;

	if (!pf)
		return;
	for (size_t i = 0; i < count && !any; i++)
		any = sfs_dirmerge_get(m, i)->type == DT_DIR;
	if (!any)
		return;
	if (n->in_upper && sfs_node_upper_path(n, &upath) < 0)
		return;

	pthread_mutex_lock(&pf->lock);
	if (!it_read_disk) {
		/* read ahead before?  then its first layer is in the table */
		const char *p = upath ? upath : n->n_lower ? n->lower[0].path : NULL;
		unsigned layer = upath ? 0 : n->n_lower ? n->lower[0].layer : 0;
		unsigned i;

		if (!p || n == fs->root) {
			pthread_mutex_unlock(&pf->lock);
			return;
		}
		i = seen_slot(pf, path_hash(layer, p));
		if (!pf->seen[i]) {
			pthread_mutex_unlock(&pf->lock);
			return;
		}
	}
	for (size_t i = 0; i < count; i++) {
		const struct sfs_dirent *d = sfs_dirmerge_get(m, i);

		if (d->type != DT_DIR)
			continue;
		if (upath)
			enqueue(pf, 0, upath, d->name);
		for (unsigned j = 0; j < n->n_lower && !n->opaque; j++)
			enqueue(pf, n->lower[j].layer, n->lower[j].path, d->name);
	}
	pthread_mutex_unlock(&pf->lock);
}
