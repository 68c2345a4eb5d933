/* Static payloads of bench/start, built with gcc -static -O2:
 *   true     exits 0 at once (the start-up payload; -DPAYLOAD_TRUE: a C program with glibc,
 *            about 700 KB; -DPAYLOAD_TINY with -nostdlib: an exit system call, about 9 KB)
 *   readall  [-p N] FILE...: reads the files to the end and throws the data away (128 KiB reads,
 *            like cat); with -p N, N processes read them in parallel, file i going to process
 *            i mod N. Prints nothing; exits 1 on any error. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(PAYLOAD_TINY)
void _start(void)
{
	__asm__ volatile("mov $60, %eax\n\txor %edi, %edi\n\tsyscall");
}
#elif defined(PAYLOAD_TRUE)
int main(void)
{
	return 0;
}
#else
static char buf[128 * 1024];

static int read_file(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0)
			break;
		if (n < 0) {
			perror(path);
			close(fd);
			return 1;
		}
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	int procs = 1, first = 1, rc = 0;
	if (argc > 2 && strcmp(argv[1], "-p") == 0) {
		procs = atoi(argv[2]);
		first = 3;
	}
	if (procs < 1 || first >= argc) {
		fprintf(stderr, "usage: readall [-p N] FILE...\n");
		return 2;
	}
	for (int p = 0; p < procs; p++) {
		pid_t pid = procs == 1 ? 0 : fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			int r = 0;
			for (int i = first + p; i < argc; i += procs)
				r |= read_file(argv[i]);
			if (procs == 1)
				return r;
			_exit(r);
		}
	}
	for (int status; wait(&status) > 0;)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			rc = 1;
	return rc;
}
#endif
