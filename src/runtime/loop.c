/* As root: the SquashFS partition through a loop device and the kernel's SquashFS, which is
 * faster than any FUSE server. */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "runtime_internal.h"

static int attach(int loop_fd, int image_fd, uint64_t offset, uint64_t size)
{
	struct loop_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (uint32_t)image_fd;
	cfg.info.lo_offset = offset;
	cfg.info.lo_sizelimit = size;
	cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	if (ioctl(loop_fd, LOOP_CONFIGURE, &cfg) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOTTY)
		return -1;
	/* kernels before 5.8 */
	if (ioctl(loop_fd, LOOP_SET_FD, image_fd) < 0)
		return -1;
	if (ioctl(loop_fd, LOOP_SET_STATUS64, &cfg.info) < 0) {
		int e = errno;
		ioctl(loop_fd, LOOP_CLR_FD, 0);
		errno = e;
		return -1;
	}
	return 0;
}

int rt_loop_mount(int image_fd, uint64_t offset, uint64_t size, const char *target, bool nosuid,
		  lt_error **err)
{
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return lt_error_set(err, errno, "opening /dev/loop-control");
	int rc = -1;
	for (int attempt = 0; attempt < 16 && rc < 0; attempt++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			lt_error_set(err, errno, "finding a free loop device");
			break;
		}
		char dev[64];
		snprintf(dev, sizeof(dev), "/dev/loop%d", n);
		int fd = open(dev, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			lt_error_set(err, errno, "opening %s", dev);
			break;
		}
		if (attach(fd, image_fd, offset, size) < 0) {
			int e = errno;
			close(fd);
			if (e == EBUSY)
				continue; /* another process took it first */
			lt_error_set(err, e, "attaching %s", dev);
			break;
		}
		unsigned long flags = MS_RDONLY | MS_NODEV | (nosuid ? MS_NOSUID : 0);
		if (mount(dev, target, "squashfs", flags, NULL) < 0) {
			lt_error_set(err, errno, "mounting %s (SquashFS) on %s", dev, target);
			ioctl(fd, LOOP_CLR_FD, 0);
			close(fd);
			break;
		}
		close(fd); /* autoclear: the device goes away with the mount */
		rc = 0;
	}
	close(ctl);
	return rc;
}
