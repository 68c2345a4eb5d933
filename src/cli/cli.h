/* cli: argument parsing and one file per command. Commands parse their arguments, call the
 * modules and turn the result into an exit status; nothing else lives here. */
#ifndef LITHO_CLI_H
#define LITHO_CLI_H

#include <getopt.h>
#include <stdint.h>

#include "build/build.h"
#include "util/util.h"

/* What a command returns (a container's own status is passed through unchanged). main turns
 * the two failures into Apptainer's exit statuses: a failure with *err set is fatal (255, the
 * status of Apptainer's sylog.Fatalf; 1 for the few commands whose errors Apptainer hands to
 * cobra instead), a usage error exits 1 like a cobra argument error. */
enum {
	CLI_OK = 0,
	CLI_FAILED = 1, /* *err says why */
	CLI_USAGE = 2,	/* bad arguments; *err says why */
};

/* The exit statuses main gives them. */
enum {
	CLI_EXIT_USAGE = 1,
	CLI_EXIT_FATAL = 255,
};

typedef struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv, lt_error **err);
	const char *summary;
} cli_command;

/* Restarts getopt for a command's own arguments. optind = 0 (not 1) makes glibc forget the
 * '+' (stop at the first operand) of main's option string, so that commands may take options
 * after their operands, like Apptainer's. */
static inline void cli_getopt_reset(void)
{
	optind = 0;
}

/* Prints the usage text of a command family and returns CLI_USAGE with err set. */
int cli_usage_error(lt_error **err, const char *usage, const char *fmt, ...) LT_PRINTF(3, 4);
/* Parses an unsigned 32-bit number named `what`. */
int cli_parse_u32(const char *s, const char *what, uint32_t *out, lt_error **err);
int cli_parse_i32(const char *s, const char *what, int32_t min, int32_t max, int32_t *out,
		  lt_error **err);
/* The time to stamp new SIF metadata with: the Go zero time when SOURCE_DATE_EPOCH is set
 * (reproducible output), otherwise now. */
int64_t cli_sif_time(void);
bool cli_reproducible(void);
/* SOURCE_DATE_EPOCH when set (and valid), otherwise now. */
int64_t cli_build_time(void);
/* The build time of an image conversion (build, pull): cli_build_time(), but -1 with
 * --reproducible and no SOURCE_DATE_EPOCH, for the build to derive it from the image. */
int64_t cli_convert_time(const build_opts *o);

/* Long options shared by the commands that convert images (build, pull) and those that read
 * registries (build, pull, push, run ...). Their codes are above any short option. */
enum {
	CLI_OPT_COMPRESSION = 0x100,
	CLI_OPT_COMPRESSION_LEVEL,
	CLI_OPT_BLOCK_SIZE,
	CLI_OPT_JOBS,
	CLI_OPT_ARCH,
	CLI_OPT_PLATFORM,
	CLI_OPT_REPRODUCIBLE,
	CLI_OPT_USERNAME,
	CLI_OPT_PASSWORD,
	CLI_OPT_NO_HTTPS,
	CLI_OPT_INSECURE,
	CLI_OPT_CA_FILE,
	CLI_OPT_DISABLE_CACHE,
};

#define CLI_CONVERT_OPTIONS                                                                        \
	{"compression", required_argument, NULL, CLI_OPT_COMPRESSION},                             \
	    {"compression-level", required_argument, NULL, CLI_OPT_COMPRESSION_LEVEL},             \
	    {"block-size", required_argument, NULL, CLI_OPT_BLOCK_SIZE},                           \
	    {"jobs", required_argument, NULL, CLI_OPT_JOBS},                                       \
	    {"arch", required_argument, NULL, CLI_OPT_ARCH},                                       \
	    {"platform", required_argument, NULL, CLI_OPT_PLATFORM},                               \
	{                                                                                          \
		"reproducible", no_argument, NULL, CLI_OPT_REPRODUCIBLE                            \
	}

#define CLI_REGISTRY_OPTIONS                                                                       \
	{"docker-username", required_argument, NULL, CLI_OPT_USERNAME},                            \
	    {"docker-password", required_argument, NULL, CLI_OPT_PASSWORD},                        \
	    {"no-https", no_argument, NULL, CLI_OPT_NO_HTTPS},                                     \
	    {"nohttps", no_argument, NULL, CLI_OPT_NO_HTTPS},                                      \
	    {"insecure", no_argument, NULL, CLI_OPT_INSECURE},                                     \
	    {"ca-file", required_argument, NULL, CLI_OPT_CA_FILE},                                 \
	{                                                                                          \
		"disable-cache", no_argument, NULL, CLI_OPT_DISABLE_CACHE                          \
	}

#define CLI_CONVERT_USAGE                                                                          \
	"      --compression NAME     zstd (default), gzip (most portable), xz, lz4, lzo\n"        \
	"      --compression-level N  compressor level (zstd default 3, gzip 9, xz 6)\n"           \
	"      --block-size N         SquashFS block size in bytes (default 131072; K/M "          \
	"allowed)\n"                                                                               \
	"  -j, --jobs N               compression threads (default: all CPUs)\n"                   \
	"      --arch ARCH            platform for multi-arch images (default: this machine's)\n"  \
	"      --platform OS/ARCH[/VARIANT]\n"                                                     \
	"      --reproducible         all-zero image ID and fixed times (also when\n"              \
	"                             SOURCE_DATE_EPOCH is set, which also dates the files)\n"

#define CLI_REGISTRY_USAGE                                                                         \
	"      --docker-username U    registry user (also APPTAINER_DOCKER_USERNAME)\n"            \
	"      --docker-password P    registry password (also APPTAINER_DOCKER_PASSWORD)\n"        \
	"      --no-https             plain HTTP to the registry (also APPTAINER_NOHTTPS)\n"       \
	"      --insecure             HTTPS without checking the registry's certificate\n"         \
	"      --ca-file FILE         trust these CA certificates instead of the system's\n"       \
	"      --disable-cache        neither read nor write the cache (also\n"                    \
	"                             APPTAINER_DISABLE_CACHE)\n"

/* Defaults of the registry options from the environment (LITHO_, APPTAINER_, SINGULARITY_). */
void cli_registry_defaults(img_registry_opts *o);
/* Handles one option of CLI_REGISTRY_OPTIONS (returns 1), of CLI_CONVERT_OPTIONS with `b` not
 * NULL (1), or says it is not one of them (0); -1 with *err on a bad value. Strings point into
 * argv. */
int cli_common_option(int c, char *arg, build_opts *b, img_registry_opts *r, lt_error **err);
/* A yes/no environment variable, Apptainer style: set, not empty, not "0" or "false". */
bool cli_env_flag(const char *apptainer_name, const char *litho_name);
/* One line from stdin (prompt on stderr when it is a terminal; secret: without echo there). */
char *cli_read_line(const char *prompt, bool secret, lt_error **err);
/* Appends a repeatable option's argument to a growing list (free the list, not the strings). */
void cli_push_arg(const char ***list, size_t *n, const char *arg);

/* Monotonic seconds, and the one-line summary of a build or pull started at t0. */
double cli_now(void);
void cli_report_build(const build_opts *o, const build_report *rep, bool from_cache, double t0);

int cli_cmd_sif(int argc, char **argv, lt_error **err);
int cli_cmd_build(int argc, char **argv, lt_error **err);
int cli_cmd_action(int argc, char **argv, lt_error **err);
int cli_cmd_inspect(int argc, char **argv, lt_error **err);
int cli_cmd_run_help(int argc, char **argv, lt_error **err);
int cli_cmd_pull(int argc, char **argv, lt_error **err);
int cli_cmd_push(int argc, char **argv, lt_error **err);
int cli_cmd_registry(int argc, char **argv, lt_error **err);
int cli_cmd_cache(int argc, char **argv, lt_error **err);
int cli_cmd_capability(int argc, char **argv, lt_error **err);
int cli_cmd_oci(int argc, char **argv, lt_error **err);
int cli_cmd_plugin(int argc, char **argv, lt_error **err);
int cli_cmd_remote(int argc, char **argv, lt_error **err);
int cli_cmd_search(int argc, char **argv, lt_error **err);

#endif
