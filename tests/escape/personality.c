/* 20: personality(READ_IMPLIES_EXEC), which makes every readable mapping executable. */
#include "escape.h"

#include <sys/personality.h>
#include <sys/syscall.h>

int main(void)
{
	EXPECT(syscall(SYS_personality, READ_IMPLIES_EXEC), EPERM);
	EXPECT(syscall(SYS_personality, PER_LINUX | READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE), EPERM);
	EXPECT(syscall(SYS_personality, PER_BSD), EPERM);
	CHECK(syscall(SYS_personality, 0xffffffff) == 0, "personality query still works");
	return escape_done();
}
