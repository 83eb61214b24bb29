/* 12: bpf(2), even with a bad pointer (EFAULT would mean the call was reached). */
#include "escape.h"

#include <linux/bpf.h>
#include <sys/syscall.h>

int main(void)
{
	EXPECT(syscall(SYS_bpf, BPF_MAP_CREATE, NULL, 0), EPERM);
	EXPECT(syscall(SYS_bpf, BPF_PROG_LOAD, (void *)1, 128), EPERM);
	return escape_done();
}
