/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * notify.c - kernel cache invalidations, sent from a thread of their own.
 *
 * An invalidation of an inode's pages waits for the page locks, and a page
 * may be locked by a request that a daemon thread has yet to answer: sent
 * from inside an operation handler, an invalidation can deadlock (libfuse's
 * documentation warns of it).  Handlers therefore only queue inode numbers
 * here; one thread sends them, outside any request.
 */
#include <stdlib.h>

#include "stratafs.h"

struct sfs_notifier {
	pthread_t thread;
	pthread_mutex_t lock;   /* protects everything below */
	pthread_cond_t cond;
	fuse_ino_t *queue;
	size_t n, cap;
	bool stop;
	struct fuse_session *se;
};

static void *notifier_main(void *arg)
{
	struct sfs_notifier *nt = arg;

	pthread_mutex_lock(&nt->lock);
	for (;;) {
		fuse_ino_t *batch;
		size_t n;

		while (nt->n == 0 && !nt->stop)
			pthread_cond_wait(&nt->cond, &nt->lock);
		if (nt->n == 0 && nt->stop)
			break;
		batch = nt->queue;
		n = nt->n;
		nt->queue = NULL;
		nt->n = nt->cap = 0;
		pthread_mutex_unlock(&nt->lock);
		for (size_t i = 0; i < n; i++)
			fuse_lowlevel_notify_inval_inode(nt->se, batch[i], 0, 0);
		free(batch);
		pthread_mutex_lock(&nt->lock);
	}
	pthread_mutex_unlock(&nt->lock);
	return NULL;
}

int sfs_notifier_start(struct sfs_fs *fs)
{
	struct sfs_notifier *nt = calloc(1, sizeof(*nt));
	int r;

	if (!nt)
		return -ENOMEM;
	nt->se = fs->se;
	pthread_mutex_init(&nt->lock, NULL);
	pthread_cond_init(&nt->cond, NULL);
	r = -pthread_create(&nt->thread, NULL, notifier_main, nt);
	if (r < 0) {
		free(nt);
		return r;
	}
	fs->notifier = nt;
	return 0;
}

void sfs_notifier_stop(struct sfs_fs *fs)
{
	struct sfs_notifier *nt = fs->notifier;

	if (!nt)
		return;
	pthread_mutex_lock(&nt->lock);
	nt->stop = true;
	pthread_cond_signal(&nt->cond);
	pthread_mutex_unlock(&nt->lock);
	pthread_join(nt->thread, NULL);
	free(nt->queue);
	free(nt);
	fs->notifier = NULL;
}

void sfs_invalidate_inos(struct sfs_fs *fs, fuse_ino_t *inos, size_t n)
{
	struct sfs_notifier *nt = fs->notifier;

	if (!nt || n == 0) {
		free(inos);
		return;
	}
	pthread_mutex_lock(&nt->lock);
	if (nt->n + n > nt->cap) {
		size_t cap = (nt->n + n) * 2;
		fuse_ino_t *q = realloc(nt->queue, cap * sizeof(*q));

		if (!q) {
			pthread_mutex_unlock(&nt->lock);
			free(inos);
			return; /* the kernel's cache times out eventually */
		}
		nt->queue = q;
		nt->cap = cap;
	}
	for (size_t i = 0; i < n; i++)
		nt->queue[nt->n++] = inos[i];
	pthread_cond_signal(&nt->cond);
	pthread_mutex_unlock(&nt->lock);
	free(inos);
}
