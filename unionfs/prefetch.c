/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * prefetch.c - walk read-ahead: a walk finds its next directories and files read.
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
 * A walk that reads files (tar, grep -r, cp -r) opens the files of each
 * directory in turn.  When a second file of a directory such a walk listed
 * is opened, the head of every file there is asked of the disk (as the
 * first open of a file does for itself, file.c); for two seconds after,
 * each directory read ahead brings its files' heads too.  tar -c of the
 * same tree, cold: 5.3 s instead of 6.2 s (kernel 3.8 s).
 *
 * It only reads the layers: the merged view never depends on it.  The work
 * is bounded (a fixed queue; a job that does not fit is dropped; one
 * listing queues only its own subdirectories; 256 files per directory) and
 * never repeated for a directory read recently (a table of path hashes).
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
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
#define PREFETCH_SEEN 32768    /* table of directories read, power of two */
#define PREFETCH_FILES 256     /* files of one directory read ahead */
#define PREFETCH_READING_NS 2000000000ull /* a walk reads files: how long to believe it */

enum job_kind {
	JOB_DIR,            /* a directory and the inodes of its entries */
	JOB_FILES,          /* the head of each file of a directory */
};

struct prefetch_job {
	enum job_kind kind;
	unsigned layer;
	char *path;         /* of the directory in the layer */
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
	/* Until when a walk is taken to read files (sfs_now_ns) */
	uint64_t reading_until;
	bool stop;
};

static uint64_t path_hash(enum job_kind kind, unsigned layer, const char *path)
{
	uint64_t h = (0xcbf29ce484222325ull ^ layer) * 0x100000001b3ull ^ kind;

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

/* Queue a job on path/name (name NULL: path) in layer.  pf->lock held. */
static void enqueue(struct sfs_prefetch *pf, enum job_kind kind, unsigned layer,
		    const char *path, const char *name)
{
	struct prefetch_job *job;
	char *dir;

	if (pf->stop || pf->count == PREFETCH_QUEUE)
		return;
	if (name ? sfs_path_join(path, name, &dir) < 0 : !(dir = strdup(path)))
		return;
	if (!seen_mark(pf, path_hash(kind, layer, dir))) {
		free(dir);
		return;
	}
	job = &pf->queue[(pf->head + pf->count) & (PREFETCH_QUEUE - 1)];
	job->kind = kind;
	job->layer = layer;
	job->path = dir;
	pf->count++;
	pthread_cond_signal(&pf->cond);
}

/* Open for reading, leaving atimes alone where the daemon may. */
static int open_noatime(int dirfd, const char *path, int flags)
{
	int fd = sfs_openat(dirfd, path, flags | O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);

	if (fd < 0 && errno == EPERM)
		fd = sfs_openat(dirfd, path, flags | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

/* Start reading the head of a file; the disk does the rest alone. */
static void read_ahead_file(int dirfd, const char *name)
{
	int fd = open_noatime(dirfd, name, O_NONBLOCK);

	if (fd < 0)
		return;
	(void)readahead(fd, 0, SFS_OPEN_READAHEAD);
	close(fd);
}

static void run_job(struct sfs_prefetch *pf, const struct prefetch_job *job)
{
	_cleanup_closedir_ DIR *d = NULL;
	bool read_files = job->kind == JOB_FILES;
	unsigned files = 0;
	struct dirent *de;
	struct stat st;
	int fd;

	/* in a walk that reads files, a directory's files come with it */
	if (!read_files) {
		pthread_mutex_lock(&pf->lock);
		read_files = sfs_now_ns() < pf->reading_until &&
			     seen_mark(pf, path_hash(JOB_FILES, job->layer, job->path));
		pthread_mutex_unlock(&pf->lock);
	}

	fd = open_noatime(pf->fs->layers[job->layer].fd, job->path, O_DIRECTORY);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	/* the unmount does not wait for a job */
	while (!__atomic_load_n(&pf->stop, __ATOMIC_RELAXED) && (de = readdir(d))) {
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		if (read_files && de->d_type == DT_REG && files++ < PREFETCH_FILES)
			read_ahead_file(dirfd(d), de->d_name);
		else if (job->kind == JOB_DIR)
			(void)sfs_fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW);
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
		run_job(pf, &job);
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
	__atomic_store_n(&pf->stop, true, __ATOMIC_RELAXED);
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

/* Was (layer, path) read ahead lately?  pf->lock held. */
static bool seen(struct sfs_prefetch *pf, unsigned layer, const char *path)
{
	return pf->seen[seen_slot(pf, path_hash(JOB_DIR, layer, path))] != 0;
}

/*
 * Directory n was just listed as m; it_read_disk: its listing or lookup had
 * to wait for the disk.  When it did, or when n was itself read ahead (the
 * walk is here: stay a level in front of it), read ahead its
 * subdirectories, and its files once the walk opens them (below).
 * tree_lock held.
 */
void sfs_prefetch_listed(struct sfs_fs *fs, struct sfs_node *n,
			 const struct sfs_dirmerge *m, bool it_read_disk)
{
	struct sfs_prefetch *pf = fs->prefetch;
	_cleanup_free_ char *upath = NULL;
	size_t count = sfs_dirmerge_count(m);

	if (!pf)
		return;
	if (n->in_upper && sfs_node_upper_path(n, &upath) < 0)
		return;
	pthread_mutex_lock(&pf->lock);
	if (!it_read_disk && (n == fs->root ||
			      !(upath ? seen(pf, 0, upath) :
				n->n_lower && seen(pf, n->lower[0].layer, n->lower[0].path)))) {
		pthread_mutex_unlock(&pf->lock);
		return;
	}
	atomic_store_explicit(&n->walk_cold, true, memory_order_relaxed);
	for (size_t i = 0; i < count; i++) {
		const struct sfs_dirent *d = sfs_dirmerge_get(m, i);

		if (d->type != DT_DIR)
			continue;
		if (upath)
			enqueue(pf, JOB_DIR, 0, upath, d->name);
		for (unsigned j = 0; j < n->n_lower && !n->opaque; j++)
			enqueue(pf, JOB_DIR, n->lower[j].layer, n->lower[j].path, d->name);
	}
	pthread_mutex_unlock(&pf->lock);
}

/*
 * A file of directory dir is opened for reading for the first time.  In a
 * directory a cold walk listed, the second such file means the walk reads
 * files (tar, grep -r, cp -r): read ahead the head of every file there, and
 * for a while, of every directory the walk lists or reads ahead.
 * tree_lock held.
 */
void sfs_prefetch_opened(struct sfs_fs *fs, struct sfs_node *dir)
{
	struct sfs_prefetch *pf = fs->prefetch;
	_cleanup_free_ char *upath = NULL;
	unsigned opened;
	uint64_t now;

	if (!pf || !dir || !atomic_load_explicit(&dir->walk_cold, memory_order_relaxed))
		return;
	opened = atomic_fetch_add_explicit(&dir->files_opened, 1, memory_order_relaxed);
	now = sfs_now_ns();
	pthread_mutex_lock(&pf->lock);
	if (opened == 1)
		pf->reading_until = now + PREFETCH_READING_NS;
	else if (opened > 1 || now >= pf->reading_until)
		opened = UINT_MAX;
	pthread_mutex_unlock(&pf->lock);
	if (opened == UINT_MAX)
		return;
	if (dir->in_upper && sfs_node_upper_path(dir, &upath) < 0)
		return;
	pthread_mutex_lock(&pf->lock);
	if (upath)
		enqueue(pf, JOB_FILES, 0, upath, NULL);
	for (unsigned j = 0; j < dir->n_lower && !dir->opaque; j++)
		enqueue(pf, JOB_FILES, dir->lower[j].layer, dir->lower[j].path, NULL);
	pthread_mutex_unlock(&pf->lock);
}
