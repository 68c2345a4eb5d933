/* The machine's process table as the launcher needs it (orphans to end, the command an
 * environment script waits for): pid, parent and start time of each process in /proc. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime_internal.h"

size_t rt_procs_list(rt_proc **out)
{
	size_t n = 0, cap = 0;
	*out = NULL;
	DIR *d = opendir("/proc");
	if (d == NULL)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char *end = NULL;
		long pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0)
			continue;
		char path[64], buf[1024];
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		/* the name may hold anything: the fields start after its last ')'. Then: state
		 * ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
		 * cutime cstime priority nice threads itrealvalue starttime */
		char *rp = strrchr(buf, ')');
		if (rp == NULL)
			continue;
		char state;
		long ppid;
		unsigned long long start = 0;
		if (sscanf(rp + 2,
			   "%c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
			   "%*d %*d %llu",
			   &state, &ppid, &start) < 2)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			*out = lt_xrealloc(*out, cap * sizeof(**out));
		}
		(*out)[n++] = (rt_proc){(pid_t)pid, (pid_t)ppid, start};
	}
	closedir(d);
	return n;
}
