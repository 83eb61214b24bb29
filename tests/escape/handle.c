/* 8: open_by_handle_at with a handle to the host's root (the "shocker" attack). */
#include "escape.h"

#include <fcntl.h>
#include <sys/syscall.h>

int main(void)
{
	struct {
		struct file_handle fh;
		unsigned char data[8];
	} h = {.fh = {.handle_bytes = 8, .handle_type = 1}};
	int mount_id, fd = open("/", O_RDONLY | O_DIRECTORY);

	/* ext4's handle of inode 2, generation 0: the root of the filesystem */
	h.data[0] = 2;
	EXPECT(syscall(SYS_open_by_handle_at, fd, &h.fh, O_RDONLY), EPERM);
	EXPECT(syscall(SYS_open_by_handle_at, -1, NULL, O_RDONLY), EPERM);
	h.fh.handle_bytes = 8;
	if (name_to_handle_at(AT_FDCWD, "/usr", &h.fh, &mount_id, 0) == 0)
		EXPECT(syscall(SYS_open_by_handle_at, fd, &h.fh, O_RDONLY), EPERM);
	return escape_done();
}
