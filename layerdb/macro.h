/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * macro.h - small header-only helpers shared by every Strata component.
 *
 * Cleanup attributes (systemd style): a local declared with _cleanup_free_ or
 * _cleanup_close_ is released when it goes out of scope; steal_pointer() and
 * take_fd() hand ownership to the caller.  neg_errno() turns the usual libc
 * "-1 and errno" convention into our "-errno" convention right after the call.
 */
#ifndef STRATA_MACRO_H
#define STRATA_MACRO_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

static inline int neg_errno(int r)
{
	return r < 0 ? -errno : r;
}

/* Like neg_errno() for calls returning ssize_t. */
static inline ssize_t neg_errno_ssize(ssize_t r)
{
	return r < 0 ? -errno : r;
}

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

#define steal_pointer(pp)                                                      \
	({                                                                     \
		__typeof__(*(pp)) _ptr_ = *(pp);                               \
		*(pp) = NULL;                                                  \
		_ptr_;                                                         \
	})

#define take_fd(fd)                                                            \
	({                                                                     \
		int _fd_ = (fd);                                               \
		(fd) = -EBADF;                                                 \
		_fd_;                                                          \
	})

#endif /* STRATA_MACRO_H */
