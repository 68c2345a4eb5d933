/* build: turning a source into a SIF image. A source is a layered image on disk (oci:,
 * oci-archive:, docker-archive:) or a directory (sandbox). The layers are merged into an
 * in-memory tree (pass 1), the Apptainer metadata is added, and the surviving file bytes are
 * compressed straight into the SquashFS partition of the SIF (pass 2); the output is written
 * under a temporary name and renamed at the end.
 */
#ifndef LITHO_BUILD_H
#define LITHO_BUILD_H

#include <stdbool.h>
#include <stdint.h>

#include "image/image.h"
#include "squash/squash.h"
#include "util/util.h"

typedef struct build_opts {
	const char *output;	    /* the SIF to write */
	const char *source;	    /* image reference, directory, SIF or definition file */
	img_platform platform;	    /* for indexes and manifest lists */
	sq_options squash;	    /* compression, level, block size, jobs */
	bool force;		    /* overwrite an existing output */
	bool deterministic;	    /* all-zero SIF ID and times (SOURCE_DATE_EPOCH) */
	bool sandbox;		    /* output is a directory (--sandbox), not a SIF */
	int64_t build_time;	    /* labels, file times of the metadata, SquashFS time */
	img_registry_opts registry; /* credentials, TLS, cache for docker:// and oras:// */

	/* Definition files (a SOURCE that is a file but not a SIF) */
	const char *const *build_args; /* --build-arg K=V */
	size_t n_build_args;
	const char *build_arg_file;  /* --build-arg-file */
	bool warn_unused_build_args; /* --warn-unused-build-args */
	bool notest;		     /* -T/--notest: skip %test */
	bool writable_tmpfs;	     /* --writable-tmpfs: %test on a tmpfs overlay */
	const char *sections;	     /* --section a,b: run only these; NULL = all */
	bool update;		     /* -u/--update: build into the existing sandbox */
	bool fix_perms;		     /* --fix-perms: owner rwX everywhere in the output */
	const char *const *binds;    /* -B/--bind for %post and %test */
	size_t n_binds;
} build_opts;

typedef struct build_report {
	size_t layers;
	uint64_t stored_bytes; /* layer bytes as stored (compressed) */
	uint64_t tar_bytes;    /* uncompressed layer bytes */
	uint64_t file_bytes;   /* bytes of the files in the image */
	uint64_t image_bytes;  /* SquashFS partition */
	uint64_t inodes;
	uint64_t dedup_files;
	size_t clamped_names; /* entries whose names left the root and were confined */
	bool from_cache;      /* definition files: the build cache had the image */
	size_t stages;	      /* definition files: stages built */
	size_t dropped_xattrs;
} build_report;

/* Builds opts->output from opts->source (an oras:// source is pulled as it is). With
 * opts->sandbox the output is a directory: from an image reference or a directory through the
 * same tree as a SIF, from a SIF by extracting its SquashFS. It is made under a temporary name
 * beside the output and renamed at the end; --force replaces an existing one. */
int build_sif(const build_opts *opts, build_report *report, lt_error **err);

/* The converted SIF of an image reference in the cache (keyed by the image's manifest digest
 * and the options that change the result), built there when it is missing. *path is the cached
 * file (new string, to be used read-only); *built says whether it was made now. opts->output is
 * ignored. */
int build_cached(const build_opts *opts, char **path, bool *built, build_report *report,
		 lt_error **err);

/* `litho pull`: opts->output from an image reference. docker:// and the local transports go
 * through the converted-image cache (build_cached, then a copy, a reflink where the filesystem
 * can); oras:// downloads the SIF as it is; with opts->registry.disable_cache the image is built
 * straight into the output. *from_cache says whether the cache already had it. */
int build_pull(const build_opts *opts, build_report *report, bool *from_cache, lt_error **err);

/* A SIF to run for an image reference: the cached conversion (*temporary false; use it
 * read-only), or, for oras:// and with disable_cache, a new file in $TMPDIR that the caller
 * removes (*temporary true). */
int build_image_for_run(const build_opts *opts, char **path, bool *temporary, lt_error **err);

/* Apptainer's default `pull` file name: "<last path part>_<tag>.sif", tag "latest" when the
 * reference has none; "<name>_sha256.<hex>.sif" for digests. */
char *build_default_pull_name(const char *ref);

#endif
