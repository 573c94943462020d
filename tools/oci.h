/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * oci.h - the OCI image subcommands (cmd-oci.c): import, export of images
 * (and the layer form of cmd-store.c's export), pull and push.
 */
#ifndef STRATA_TOOLS_OCI_H
#define STRATA_TOOLS_OCI_H

int cmd_import(int argc, char **argv);
/* `export IMAGE DEST`, `export --flatten`; hands the layer form to cmd_export(). */
int cmd_oci_export(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_push(int argc, char **argv);

struct ldb;
struct ldb_digest;
/*
 * For `strata inspect IMAGE`: print `,\n  "Config": {...}` (docker's Env,
 * Cmd, Entrypoint, WorkingDir, User, Labels...), "Architecture" and "Os" from
 * the OCI config recorded for the image or its nearest ancestor (nothing if
 * none), to be called inside the image's JSON object.
 */
void oci_inspect_config(struct ldb *db, const struct ldb_digest *id);

#endif /* STRATA_TOOLS_OCI_H */
