/* 11: the kernel keyring is not namespaced: keyctl, add_key, request_key. */
#include "escape.h"

#include <sys/syscall.h>

int main(void)
{
	EXPECT(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0), EPERM);
	EXPECT(syscall(SYS_add_key, "user", "hutch", "x", 1, -3), EPERM);
	EXPECT(syscall(SYS_request_key, "user", "hutch", NULL, 0), EPERM);
	return escape_done();
}
