/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * db.c - opening a store, SQLite pragmas, schema migrations, transactions and
 * the one place where SQLite result codes become negative errnos.
 *
 * Schema history (PRAGMA user_version):
 *   0  empty database
 *   1  layers, images (chain nodes: layer + parent image), tags, containers,
 *      files (one row per entry of each layer, content digest for files)
 *   2  pending (write-ahead intents of multi-step operations, for `check`),
 *      layers.diff_id (sha256 of the OCI tar stream, set by OCI import/export)
 *   3  image_configs (the OCI image config JSON of an imported image, oci.c)
 * A database whose user_version is newer than ldb__schema_latest() is refused.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "ldb-internal.h"

static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE layers ("
	"  id BLOB PRIMARY KEY NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  files INTEGER NOT NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE images ("
	"  id BLOB PRIMARY KEY NOT NULL,"
	"  layer_id BLOB NOT NULL REFERENCES layers(id),"
	"  parent_id BLOB REFERENCES images(id),"
	"  created INTEGER NOT NULL,"
	"  comment TEXT, author TEXT, created_by TEXT);"
	"CREATE INDEX images_parent ON images(parent_id);"
	"CREATE INDEX images_layer ON images(layer_id);"
	"CREATE TABLE tags ("
	"  name TEXT NOT NULL, tag TEXT NOT NULL,"
	"  image_id BLOB NOT NULL REFERENCES images(id),"
	"  PRIMARY KEY (name, tag));"
	"CREATE INDEX tags_image ON tags(image_id);"
	"CREATE TABLE containers ("
	"  id BLOB PRIMARY KEY NOT NULL,"
	"  name TEXT NOT NULL UNIQUE,"
	"  image_id BLOB NOT NULL REFERENCES images(id),"
	"  created INTEGER NOT NULL,"
	"  mountpoint TEXT);"
	"CREATE INDEX containers_image ON containers(image_id);"
	"CREATE TABLE files ("
	"  layer_id BLOB NOT NULL REFERENCES layers(id) ON DELETE CASCADE,"
	"  path TEXT NOT NULL, type TEXT NOT NULL,"
	"  size INTEGER NOT NULL, digest BLOB,"
	"  PRIMARY KEY (layer_id, path)) WITHOUT ROWID;"
	"CREATE INDEX files_digest ON files(digest) WHERE digest IS NOT NULL;"
	"CREATE INDEX files_path ON files(path);",
	/* 1 -> 2 */
	"CREATE TABLE pending ("
	"  id INTEGER PRIMARY KEY,"
	"  op TEXT NOT NULL,"
	"  container_id BLOB, layer_id BLOB, parent_id BLOB,"
	"  name TEXT, comment TEXT, author TEXT, created_by TEXT,"
	"  created INTEGER NOT NULL);"
	"ALTER TABLE layers ADD COLUMN diff_id TEXT;",
	/* 2 -> 3 */
	"CREATE TABLE image_configs ("
	"  image_id BLOB PRIMARY KEY NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
	"  config TEXT NOT NULL);",
};

int ldb__schema_latest(void)
{
	return (int)ELEMENTSOF(migrations);
}

int ldb__err(struct ldb *db, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(db->errmsg, sizeof(db->errmsg), fmt, ap);
	va_end(ap);
	return r;
}

int ldb__sql_err(struct ldb *db, int rc)
{
	int r;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		r = -EBUSY;
		break;
	case SQLITE_CONSTRAINT:
		r = -EEXIST;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		r = -EUCLEAN;
		break;
	case SQLITE_NOMEM:
		r = -ENOMEM;
		break;
	case SQLITE_FULL:
		r = -ENOSPC;
		break;
	case SQLITE_READONLY:
		r = -EROFS;
		break;
	case SQLITE_CANTOPEN:
		r = -ENOENT;
		break;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		r = -EACCES;
		break;
	default:
		r = -EIO;
		break;
	}
	return ldb__err(db, r, "database: %s", db->sql ? sqlite3_errmsg(db->sql) : sqlite3_errstr(rc));
}

int ldb__prepare(struct ldb *db, const char *sql, sqlite3_stmt **ret)
{
	int rc;

	rc = sqlite3_prepare_v2(db->sql, sql, -1, ret, NULL);
	if (rc != SQLITE_OK)
		return ldb__sql_err(db, rc);
	return 0;
}

int ldb__step(struct ldb *db, sqlite3_stmt *s)
{
	int rc;

	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return ldb__sql_err(db, rc);
}

int ldb__exec(struct ldb *db, const char *sql)
{
	int rc;

	rc = sqlite3_exec(db->sql, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return ldb__sql_err(db, rc);
	return 0;
}

int ldb__tx_begin(struct ldb *db)
{
	return ldb__exec(db, "BEGIN IMMEDIATE");
}

int ldb__tx_commit(struct ldb *db)
{
	if (db->fault & LDB_FAULT_COMMIT) {
		db->fault &= ~LDB_FAULT_COMMIT;
		ldb__tx_rollback(db);
		return ldb__err(db, -EIO, "database: injected commit failure");
	}
	return ldb__exec(db, "COMMIT");
}

void ldb__tx_rollback(struct ldb *db)
{
	if (!sqlite3_get_autocommit(db->sql))
		(void)sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
}

void ldb__tx_cleanup(struct ldb **db)
{
	if (*db)
		ldb__tx_rollback(*db);
}

void ldb__set_fault(struct ldb *db, unsigned fault)
{
	db->fault = fault;
}

void ldb__fault_point(struct ldb *db, unsigned fault)
{
	if (db->fault & fault & LDB_FAULT_KILL_AFTER_PUBLISH)
		raise(SIGKILL);
}

int ldb__bind_digest(sqlite3_stmt *s, int idx, const struct ldb_digest *d)
{
	if (!d)
		return sqlite3_bind_null(s, idx) == SQLITE_OK ? 0 : -ENOMEM;
	return sqlite3_bind_blob(s, idx, d->bytes, sizeof(d->bytes), SQLITE_TRANSIENT) ==
			       SQLITE_OK ? 0 : -ENOMEM;
}

int ldb__column_digest(sqlite3_stmt *s, int col, struct ldb_digest *ret)
{
	const void *p = sqlite3_column_blob(s, col);

	if (!p || sqlite3_column_bytes(s, col) != (int)sizeof(ret->bytes))
		return -ENOENT;
	memcpy(ret->bytes, p, sizeof(ret->bytes));
	return 0;
}

char *ldb__column_strdup(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t ? strdup((const char *)t) : NULL;
}

static int get_user_version(struct ldb *db)
{
	_cleanup_stmt_ sqlite3_stmt *s = NULL;
	int r;

	r = ldb__prepare(db, "PRAGMA user_version", &s);
	if (r < 0)
		return r;
	r = ldb__step(db, s);
	if (r < 0)
		return r;
	return r ? sqlite3_column_int(s, 0) : 0;
}

int ldb_schema_version(struct ldb *db)
{
	return get_user_version(db);
}

/* Apply migrations up to @target, each in its own transaction. */
int ldb__migrate(struct ldb *db, int target)
{
	int v, r;

	if (target > ldb__schema_latest())
		return -EINVAL;
	for (;;) {
		_cleanup_(ldb__tx_cleanup) struct ldb *tx = NULL;
		char sql[64];

		r = ldb__tx_begin(db);
		if (r < 0)
			return r;
		tx = db;
		r = v = get_user_version(db);
		if (r < 0)
			return r;
		if (v > ldb__schema_latest())
			return ldb__err(db, -EPROTONOSUPPORT,
					"database schema version %d is newer than this "
					"strata (%d)", v, ldb__schema_latest());
		if (v >= target)
			return 0; /* tx cleanup rolls back the empty transaction */
		r = ldb__exec(db, migrations[v]);
		if (r < 0)
			return r;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		r = ldb__exec(db, sql);
		if (r < 0)
			return r;
		r = ldb__tx_commit(db);
		if (r < 0)
			return r;
		tx = NULL;
	}
}

static int probe_privileged(struct ldb *db)
{
	_cleanup_close_ int tmpfd = -EBADF, fd = -EBADF;
	char name[64];

	snprintf(name, sizeof(name), ".probe-%d", (int)getpid());
	tmpfd = openat(db->root_fd, "tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (tmpfd < 0)
		return -errno;
	if (mknodat(tmpfd, name, S_IFCHR | 0600, makedev(0, 0)) == 0) {
		db->chardev_whiteouts = true;
		(void)unlinkat(tmpfd, name, 0);
	}
	if (mknodat(tmpfd, name, S_IFCHR | 0600, makedev(1, 3)) == 0) {
		db->privileged = true;
		(void)unlinkat(tmpfd, name, 0);
	}
	fd = openat(tmpfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		db->trusted_xattrs = fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) == 0;
		(void)unlinkat(tmpfd, name, 0);
	}
	return 0;
}

static int open_root(struct ldb *db, const char *root)
{
	static const char *const subdirs[] = { "layers", "containers", "tmp" };
	int r;

	r = ldb__mkdir_p(root, 0700);
	if (r < 0)
		return ldb__err(db, r, "cannot create store '%s': %s", root, strerror(-r));
	db->root = realpath(root, NULL);
	if (!db->root)
		return ldb__err(db, -errno, "cannot resolve '%s': %m", root);
	r = db->root_fd = neg_errno(open(db->root, O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (r < 0)
		return ldb__err(db, r, "cannot open store '%s': %m", db->root);
	for (size_t i = 0; i < ELEMENTSOF(subdirs); i++) {
		r = neg_errno(mkdirat(db->root_fd, subdirs[i], 0700));
		if (r < 0 && r != -EEXIST)
			return ldb__err(db, r, "cannot create '%s/%s': %s", db->root,
					subdirs[i], strerror(-r));
	}
	r = db->lock_fd = neg_errno(openat(db->root_fd, "lock",
					   O_RDWR | O_CREAT | O_CLOEXEC, 0600));
	if (r < 0)
		return ldb__err(db, r, "cannot open store lock: %m");
	return probe_privileged(db);
}

/*
 * Setting the journal mode and migrating the schema upgrade a read lock
 * to a write lock, which SQLite refuses at once (SQLITE_BUSY, without
 * waiting) when another connection does the same: two first commands on a
 * new store would fail.  Openers take turns here instead, on a lock file of
 * their own (the store lock is held for whole operations).
 */
static int open_turn(struct ldb *db)
{
	int fd, r;

	fd = openat(db->root_fd, "lock.open", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return ldb__err(db, -errno, "cannot open store lock: %m");
	do {
		r = neg_errno(flock(fd, LOCK_EX));
	} while (r == -EINTR);
	if (r < 0) {
		close(fd);
		return ldb__err(db, r, "cannot lock the store: %s", strerror(-r));
	}
	return fd;
}

static int open_sql(struct ldb *db, unsigned flags)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int turn = -EBADF;
	int rc, r;

	if (flags & LDB_OPEN_MEMORY) {
		path = strdup(":memory:");
	} else if (asprintf(&path, "%s/strata.db", db->root) < 0) {
		path = NULL;
	}
	if (!path)
		return -ENOMEM;
	if (!(flags & LDB_OPEN_MEMORY)) {
		turn = open_turn(db);
		if (turn < 0)
			return turn;
	}
	rc = sqlite3_open_v2(path, &db->sql,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK)
		return ldb__sql_err(db, rc);
	sqlite3_extended_result_codes(db->sql, 1);
	sqlite3_busy_timeout(db->sql, LDB_BUSY_TIMEOUT_MS);
	r = ldb__exec(db, "PRAGMA foreign_keys = ON");
	if (r < 0)
		return r;
	if (!(flags & LDB_OPEN_MEMORY)) {
		r = ldb__exec(db, "PRAGMA journal_mode = WAL");
		if (r < 0)
			return r;
		/* WAL + NORMAL: a commit is durable once the WAL is synced at checkpoint;
		 * FULL keeps the "nothing committed is lost" promise across power loss. */
		r = ldb__exec(db, "PRAGMA synchronous = FULL");
		if (r < 0)
			return r;
	}
	if (flags & LDB__OPEN_NO_MIGRATE)
		return 0;
	return ldb__migrate(db, ldb__schema_latest());
}

int ldb_open(const char *root, unsigned flags, struct ldb **ret_db)
{
	struct ldb *db;
	int r;

	db = calloc(1, sizeof(*db));
	if (!db)
		return -ENOMEM;
	db->root_fd = db->lock_fd = -EBADF;
	{
		const char *f = secure_getenv("STRATA_FAULT");

		if (f && strcmp(f, "kill-after-publish") == 0)
			db->fault |= LDB_FAULT_KILL_AFTER_PUBLISH;
	}
	r = open_root(db, root);
	if (r >= 0)
		r = open_sql(db, flags);
	if (r < 0) {
		/* No handle, no message: callers report strerror(-r) and the root. */
		ldb_close(db);
		return r;
	}
	*ret_db = db;
	return 0;
}

void ldb_close(struct ldb *db)
{
	if (!db)
		return;
	if (db->sql)
		sqlite3_close_v2(db->sql);
	if (db->root_fd >= 0)
		close(db->root_fd);
	if (db->lock_fd >= 0)
		close(db->lock_fd);
	free(db->root);
	free(db);
}

const char *ldb_errmsg(const struct ldb *db)
{
	return db ? db->errmsg : "";
}

const char *ldb_root(const struct ldb *db)
{
	return db->root;
}
