#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

int lt_atomic_open(lt_atomic_file *af, const char *path, mode_t mode, lt_error **err)
{
	af->path = lt_xstrdup(path);
	af->tmp_path = lt_strdup_printf("%s.tmp.XXXXXX", path);
	af->mode = mode;
	af->cleanup_slot = -1;
	/* Register before the file exists so that no signal can leave it behind; the handler's
	 * unlink of a name that does not exist yet is harmless. mkstemp fills in the name, so
	 * it is registered right after, with signals blocked in between. */
	sigset_t saved;
	lt_signals_block(&saved);
	af->fd = mkostemp(af->tmp_path, O_CLOEXEC);
	int e = errno;
	if (af->fd >= 0)
		af->cleanup_slot = lt_cleanup_register(af->tmp_path);
	lt_signals_restore(&saved);
	if (af->fd < 0) {
		lt_error_set(err, e, "creating a temporary file beside %s", path);
		free(af->path);
		free(af->tmp_path);
		af->path = af->tmp_path = NULL;
		return -1;
	}
	return 0;
}

static int fsync_parent(const char *path)
{
	char *dir = lt_path_dirname(path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

int lt_atomic_commit(lt_atomic_file *af, lt_error **err)
{
	if (fchmod(af->fd, af->mode & ~lt_umask()) < 0) {
		lt_error_set(err, errno, "setting the mode of %s", af->tmp_path);
		lt_atomic_abort(af);
		return -1;
	}
	if (fsync(af->fd) < 0) {
		lt_error_set(err, errno, "writing %s", af->path);
		lt_atomic_abort(af);
		return -1;
	}
	if (close(af->fd) < 0) {
		af->fd = -1;
		lt_error_set(err, errno, "writing %s", af->path);
		lt_atomic_abort(af);
		return -1;
	}
	af->fd = -1;
	if (rename(af->tmp_path, af->path) < 0) {
		lt_error_set(err, errno, "renaming %s to %s", af->tmp_path, af->path);
		lt_atomic_abort(af);
		return -1;
	}
	lt_cleanup_unregister(af->cleanup_slot);
	/* The rename is durable only once the directory is on disk; a failure here does not
	 * change what the user sees, so it is not an error. */
	fsync_parent(af->path);
	free(af->path);
	free(af->tmp_path);
	af->path = af->tmp_path = NULL;
	return 0;
}

void lt_atomic_abort(lt_atomic_file *af)
{
	if (af->tmp_path == NULL)
		return;
	if (af->fd >= 0)
		close(af->fd);
	af->fd = -1;
	unlink(af->tmp_path);
	lt_cleanup_unregister(af->cleanup_slot);
	free(af->path);
	free(af->tmp_path);
	af->path = af->tmp_path = NULL;
}
