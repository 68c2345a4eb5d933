/* libFuzzer target for the SIF reader: any byte string must either open cleanly or give an
 * error, and everything `litho sif list/info/header/dump` does on an opened image must stay
 * inside the file. */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sif/sif.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null_out;
	static int null_fd = -1;
	if (null_out == NULL) {
		null_out = fopen("/dev/null", "w");
		null_fd = fileno(null_out);
	}
	int fd = memfd_create("fuzz.sif", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	sif_image *img = NULL;
	lt_error *err = NULL;
	if (sif_open_fd(fd, "fuzz.sif", false, &img, &err) == 0) {
		sif_print_header(null_out, img);
		sif_print_list(null_out, img);
		for (int64_t i = 0; i < sif_slot_count(img); i++) {
			const sif_descriptor *d = sif_slot(img, i);
			if (!d->used)
				continue;
			if (sif_print_info(null_out, img, d->id, &err) < 0)
				lt_error_free(&err);
			if (sif_dump_object(img, d, null_fd, &err) < 0)
				lt_error_free(&err);
		}
		sif_find_primary(img);
		sif_close(img);
	}
	lt_error_free(&err);
	close(fd);
	return 0;
}
