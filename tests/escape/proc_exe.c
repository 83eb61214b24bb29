/* 4: overwrite the binary of the init (hutch itself) or of the command through /proc/PID/exe, the
 * runc CVE-2019-5736 way. */
#include "escape.h"

#include <fcntl.h>

int main(void)
{
	EXPECT(open("/proc/1/exe", O_WRONLY), EACCES, EPERM, ETXTBSY, EROFS);
	EXPECT(open("/proc/1/exe", O_RDONLY), EACCES, EPERM);
	EXPECT(open("/proc/self/exe", O_WRONLY), EACCES, ETXTBSY, EROFS);
	EXPECT(open("/proc/1/root/usr/bin/sh", O_WRONLY), EACCES, EPERM, EROFS);
	return escape_done();
}
